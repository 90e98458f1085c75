"""The loss registry: one entry per loss, with the tasks it fits and how.

Every loss is a ``TaskLoss`` subclass registered with :func:`register` in ``LOSSES``, a
``trainer.registry.Registry`` like every other registry of losslab. It is the single source of truth
for ``losses.build``/``losses.available``, for the Hydra schemas under ``conf/loss`` and for the
losses x tasks table in the docs. The task names come from ``trainer.tasks``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import Tensor, nn

from trainer.registry import Registry, did_you_mean
from trainer.tasks import TASK_NAMES

from . import class_weights
from .info import CLASS_COUNTS, LossDoesNotFitTaskError, LossError, LossInfo, UnknownLossError

TASKS: tuple[str, ...] = TASK_NAMES

NATIVE = "native"


LOSSES: Registry[LossInfo] = Registry("loss", plural="losses")

LossT = TypeVar("LossT", bound=type[nn.Module])


def register(
    name: str,
    *,
    natural_task: str,
    fits: dict[str, str],
    why_not: dict[str, str] | None = None,
    needs_output: str = "logits",
    needs_target: str = "",
) -> Callable[[LossT], LossT]:
    """Class decorator that adds a loss to the registry under ``name``."""

    def decorator(cls: LossT) -> LossT:
        unknown = set(fits) - set(TASKS)
        if unknown or natural_task not in fits:
            raise RuntimeError(f"loss {name!r}: bad task names {sorted(unknown)} / {natural_task!r}")
        doc = inspect.getdoc(cls) or ""
        LOSSES.register(
            name,
            LossInfo(
                name=name,
                cls=cls,
                natural_task=natural_task,
                fits=dict(fits),
                why_not=dict(why_not or {}),
                needs_output=needs_output,
                needs_target=needs_target,
                summary=doc.splitlines()[0] if doc else "",
            ),
        )
        cls.loss_name = name
        return cls

    return decorator


def _unknown_task(task: str) -> str:
    return f"unknown task {task!r}{did_you_mean(task, TASKS)}. Tasks: {', '.join(TASKS)}"


def info(name: str) -> LossInfo:
    if name not in LOSSES:
        raise UnknownLossError(LOSSES.unknown(name))
    return LOSSES.get(name)


def all_infos() -> list[LossInfo]:
    return [LOSSES.get(n) for n in LOSSES]


def available(task: str | None = None) -> list[str]:
    """Names of the registered losses, or of those that fit ``task``."""
    if task is not None and task not in TASKS:
        raise LossError(_unknown_task(task))
    return LOSSES.names(lambda name, _: task is None or task in LOSSES.get(name).fits)


def check_fits(name: str, task: str) -> LossInfo:
    """Raise a clear ``LossDoesNotFitTaskError`` when ``name`` cannot train on ``task``."""
    loss = info(name)
    if task not in TASKS:
        raise LossError(_unknown_task(task))
    if task not in loss.fits:
        reason = loss.why_not.get(task) or (
            f"it is made for {', '.join(loss.fits)} tasks (it needs {loss.needs_target or 'a different target'})"
        )
        raise LossDoesNotFitTaskError(
            f"loss {name!r} does not fit task {task!r}: {reason}. "
            f"Losses that fit {task!r}: {', '.join(available(task))}"
        )
    return loss


def build(
    name: str, task: str | None = None, *, labels: Any = None, num_classes: int | None = None, **params: Any
) -> nn.Module:
    """Build loss ``name`` for ``task`` (None: the loss's natural task).

    The returned module's forward takes the model's raw output and the task's native target
    (class indices for multiclass, multi-hot floats for multilabel, 0/1 floats for binary,
    floats for regression) and returns the loss.

    ``labels`` (the training targets) and ``num_classes`` are only used to compute ``weight`` or
    ``pos_weight`` given as a method (``auto``, ``inv_freq``, ...; see ``losses.class_weights``), and
    the ``class_counts`` of a loss whose constructor takes them (:func:`class_counts`).
    """
    loss = info(name)
    task = task or loss.natural_task
    check_fits(name, task)
    accepted = loss.params()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise LossError(
            f"loss {name!r} has no parameter(s) {', '.join(unknown)}. Its parameters: {', '.join(accepted) or '(none)'}"
        )
    # weight='auto' & co. are resolved from the labels.
    params = class_weights.resolve(loss, task, params, labels, num_classes)
    if loss.needs_class_counts:
        params = {**params, CLASS_COUNTS: class_counts(loss, task, labels, num_classes)}
    return loss.cls(task=task, **params)


def class_counts(loss: LossInfo, task: str, labels: Any, num_classes: int | None) -> Tensor:
    """The per-class counts n_c of the training ``labels`` (float64, one per model output), for a loss
    whose constructor takes ``class_counts`` (logit_adjust, ldam, ...); never a user's parameter.

    A class absent from the training labels is counted once, as for ``weight=auto``, so that log n_c
    and n_c ** -1/4 stay finite.
    """
    if labels is None:
        raise LossError(
            f"loss {loss.name!r} needs the per-class counts of the training labels, and none were given. "
            "python -m trainer passes them for you; in Python call "
            f"losses.build({loss.name!r}, task=..., labels=<training targets>, num_classes=<C>)."
        )
    if task not in class_weights.LABELLED_TASKS:
        raise LossError(f"loss {loss.name!r} needs class counts from class labels; task {task!r} has none")
    natural = num_classes or class_weights._natural_size(labels, task)
    counts, _ = class_weights.label_counts(labels, task, loss.cls.head_size(task, natural))
    return counts.clamp_min(1)
