"""Every task module, imported so that it registers, and the study's task instances.

Kept apart from :mod:`wattcut.tasks.base` so that task modules import the contract and
this module imports them: no cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wattcut.tasks.base import DEFAULT_TASK, TASKS, Task

if TYPE_CHECKING:
    from wattcut.settings import StudyConfig


def load_registry() -> None:
    """Import every module of the package, so that each task's decorator runs (a new task is one module)."""
    import importlib
    import pkgutil

    import wattcut.tasks as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def build_tasks(study: StudyConfig) -> list[Task]:
    """One task instance per ``[[tasks]]`` entry, the primary task first."""
    load_registry()
    steps = list(study.tasks) or []
    if not steps:
        from wattcut.tasks.sequence_classification import SequenceClassificationConfig

        return [TASKS.get(DEFAULT_TASK)(study, SequenceClassificationConfig())]
    tasks = [TASKS.get(s.name)(study, s.config, s.key) for s in steps]
    primary = study.primary_task or steps[0].name
    tasks.sort(key=lambda t: t.key != primary)  # stable: the others keep file order
    if tasks[0].metric_spec is None:
        from wattcut.errors import UserInputError

        scored = [t.key for t in tasks if t.metric_spec is not None]
        raise UserInputError(
            f'The primary task "{tasks[0].key}" ({tasks[0].name}) measures serving cost only and has no quality '
            "metric to decide non-inferiority on.",
            f"List a task with a quality metric first, or set [study] primary_task to one of: {', '.join(scored)}."
            if scored
            else "Add a task with a quality metric (perplexity, prompted_classification, lm_eval) before it.",
        )
    return tasks
