"""Models: locate and load Hugging Face classifiers, and wrap them in runtime handles.

- ``loading.resolve_model_source`` / ``loading.load_classifier``: hub id, local folder or
  an installed weights package → a ``TorchClassifier`` and its tokenizer.
- ``handles.TorchClassifier`` / ``handles.OnnxClassifier``: one ``logits(batch)`` call
  for every runtime, plus the model facts recorded with each result.

This ``__init__`` stays empty of imports so that ``import wattcut.models`` is cheap.
"""
