"""Runner: expand a study into trials and run them, phase by phase.

- ``plan.plan_trials``: the trial list (trial index, seed, variants).
- ``loops``: the explicit fine-tuning, evaluation and inference loops.
- ``execute.run_study``: the whole study, committing each trial to the store as it ends.
- ``provenance.collect``: versions, hardware and git facts stored with the results.
"""
