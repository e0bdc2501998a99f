"""Statistics over trials: descriptive summaries, paired tests, non-inferiority, Pareto.

Every statistic is computed from the per-trial values stored in the store, with SciPy's
distributions, so it can be recomputed independently from ``results.json``.
"""
