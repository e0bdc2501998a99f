"""Models: locate pretrained weights and load them (runtimes wrap them, see ``wattcut.runtimes``).

- ``loading.resolve_model_source``: hub id, local folder, installed weights package or
  split-zip packages → what ``from_pretrained`` takes; ``load_tokenizer``,
  ``load_classifier_module`` (a fresh head for the labels).
- ``folders.load``: any folder wattcut writes (plain, structure-aware, sparse).
- ``gguf``: GGUF checkpoints de-quantized once into an HF folder in the cache.

This ``__init__`` stays empty of imports so that ``import wattcut.models`` is cheap.
"""
