"""wattcut: make transformer models cheaper to run, and prove it.

Importing this package is deliberately cheap: no torch, transformers or runtimes are
imported until a study actually runs. Public entry points:

- ``wattcut.experiment.load_experiment``: read and validate an experiment file.
- ``wattcut.runner.execute.run_study``: run a study into an output folder.
- ``wattcut.report.build.write_reports``: rebuild results files from a store.
"""

import logging

__version__ = "0.1.0"

# Libraries should not configure logging; a NullHandler keeps "no handler" warnings away.
logging.getLogger(__name__).addHandler(logging.NullHandler())
