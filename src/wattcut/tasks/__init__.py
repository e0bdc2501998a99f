"""Tasks: how a variant's quality is scored.

``classification.score`` turns logits and gold labels into the metrics stored with
every trial (accuracy, precision/recall/F1 macro and weighted, ROC AUC, confusion matrix).
"""
