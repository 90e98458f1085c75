"""Task types, one module each, registered in ``trainer.registry.TASKS`` here.

    >>> from trainer.tasks import get_task
    >>> get_task("multiclass").main_metric
    'acc'

Adding a task: a module defining a ``Task`` subclass and ``TASK = <instance>``, its name in the
tuple below, and ``conf/task/<name>.yaml`` choosing its default loss, model and data
(CONTRIBUTING.md).
"""

from __future__ import annotations

from ..registry import TASKS
from . import binary, count, embedding, multiclass, multilabel, regression, sequence
from .base import Task

_MODULES = (multiclass, multilabel, binary, regression, count, embedding, sequence)
for _module in _MODULES:
    TASKS.register(_module.TASK.name, _module.TASK)

# The task names in their documented order, for the losses' "fits" tables and error messages.
TASK_NAMES: tuple[str, ...] = tuple(module.TASK.name for module in _MODULES)


def get_task(name: str) -> Task:
    """The task named ``name``; an unknown name is a UserError naming the nearest ones."""
    return TASKS.get(name)


__all__ = ["TASKS", "TASK_NAMES", "Task", "get_task"]
