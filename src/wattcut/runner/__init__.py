"""Runner: expand a study into trials and run them, phase by phase.

- ``plan.plan_trials``: the trial list (trial index, seed, variants).
- ``execute.run_study``: the whole study, committing each trial to the store as it ends;
  what each phase does comes from the study's tasks (``wattcut.tasks``) and techniques.
- ``provenance.collect``: versions, hardware and git facts stored with the results.
"""
