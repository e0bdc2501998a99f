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
    """Import every task module so that its decorator runs."""
    from wattcut.tasks import sequence_classification  # noqa: F401


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
    return tasks
