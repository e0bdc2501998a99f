"""Runtimes: one module per runtime behind the handle protocol in :mod:`.base`.

``pytorch`` (eager, fp32 or torch-quantized), ``ort`` (ONNX Runtime CPU) and ``ov``
(OpenVINO CPU). Modules import their runtime at module level, so import them lazily.
"""
