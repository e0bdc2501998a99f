"""wattcut where practitioners already work: ``hf`` (a Hugging Face Trainer callback) and ``mlflow``."""
