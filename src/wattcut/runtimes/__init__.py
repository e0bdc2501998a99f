"""Runtimes: one module per runtime behind the handle protocol in :mod:`.base`.

Each module registers itself in :data:`.registry.RUNTIMES` (``wattcut env`` lists them):
``pytorch`` (eager, fp32 or torch-quantized), ``pytorch-compile`` (TorchInductor),
``onnxruntime`` and ``openvino`` (classifiers on CPU), and for causal LMs ``llamacpp``
(GGUF), ``openvino-genai`` and ``onnxruntime-genai``. Modules import their runtime
library inside functions (torch aside), so importing them is cheap and safe without it.
"""
