"""Shared pieces of every loss: the ``TaskLoss`` base class and the target/output adapters."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainer.registry import TASKS

from .registry import LossError

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        # A LossError (a ValueError) so that python -m trainer reports it without a traceback.
        raise LossError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce(loss: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction`` ('mean' | 'sum' | 'none') to an element-wise loss."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor | None:
    """Turn a list from a config (or a tensor) into a float tensor on ``like``'s device."""
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=torch.float32)
    if like is not None:
        t = t.to(device=like.device, dtype=like.dtype)
    return t


def match_binary(output: Tensor, target: Tensor) -> Tensor:
    """A binary head outputs (N, 1); binary targets are (N,). Drop the trailing 1."""
    if output.dim() == target.dim() + 1 and output.shape[-1] == 1:
        return output.squeeze(-1)
    return output


def one_hot(target: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    """Class indices (N,) -> one-hot (N, C) floats."""
    return F.one_hot(target.long(), num_classes).to(dtype)


def to_plus_minus_one(target: Tensor) -> Tensor:
    """0/1 targets -> -1/+1 targets, as margin losses expect."""
    return target * 2 - 1


def pass_epoch(module: nn.Module, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on the nearest submodules that have one, looking through containers
    (combo keeps its terms in an nn.ModuleList, which has none)."""
    for child in module.children():
        own = getattr(child, "set_epoch", None)
        if callable(own):
            own(epoch)
        else:
            pass_epoch(child, epoch)


class TaskLoss(nn.Module):
    """Base class: a loss bound to a task, taking the model's raw output and the task's native target.

    Subclasses implement ``forward``; they may override ``head_size`` (how many outputs the model
    needs), ``predict`` (turn raw outputs into the task's scores for metrics) and ``set_epoch``.

    The epoch contract: the trainer calls ``set_epoch(epoch)`` at the start of every training epoch,
    with the 0-based epoch index (also the first epoch of a resumed run, so a loss must derive its
    state from the epoch alone, never count calls). A loss that changes with the epoch (``ldam``'s
    deferred re-weighting) overrides it; a loss never told the epoch behaves as at epoch 0.
    """

    loss_name: str = ""

    def __init__(self, task: str) -> None:
        super().__init__()
        self.task = task
        self._task = TASKS.get(task)

    @classmethod
    def head_size(cls, task: str, natural_size: int) -> int:
        """Number of model outputs this loss needs, given the task's natural output size."""
        return natural_size

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at the start of every epoch (0-based). The default does nothing but
        pass the epoch on to the sub-losses that take it (``combo``'s terms, a wrapped user loss)."""
        pass_epoch(self, epoch)

    def predict(self, output: Tensor) -> Tensor:
        """Task-native scores for metrics: the task's own (``trainer.tasks``) unless the loss knows better.

        multiclass: (N, C) class probabilities; multilabel: (N, C) probabilities;
        binary: (N,) probability of class 1; regression/count: the predicted values.
        """
        return self._task.predict(output)

    def extra_repr(self) -> str:
        return f"task={self.task!r}"
