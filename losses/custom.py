"""A user's own loss, trusted on the task it is given: ``loss=custom loss.target=my_losses.EntropyCE``.

Any ``nn.Module`` (class or instance) or plain function ``(output, target) -> Tensor`` gets the model's
raw output and the task's native target, as built-in losses do. Metrics read the output through the
loss's own ``predict`` if it has one, else through the task's default (softmax for multiclass,
sigmoid for binary and multilabel, the values for regression and counts); ``head_size`` likewise.
A loss registered with ``@losses.register`` is not wrapped: it is built like a built-in one.

What the loss returns is checked on every call (two attribute reads): a tensor, 0-dim or one value
per sample (averaged for training), so a mistake names the user's loss and the shape it returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from .base import TaskLoss
from .info import LossError


class CustomLoss(TaskLoss):
    """A user's loss ``fn(output, target)``, with the task's ``predict`` unless it defines its own."""

    def __init__(self, task: str, fn: Callable[[Tensor, Tensor], Any], label: str) -> None:
        super().__init__(task)
        self.fn = fn  # an nn.Module is registered as a submodule: it moves to the device with the loss
        self.label = label

    def head_size(self, task: str, natural_size: int) -> int:  # type: ignore[override]
        own = getattr(self.fn, "head_size", None)
        return int(own(task, natural_size)) if callable(own) else natural_size

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        value = self.fn(output, target)
        if not isinstance(value, Tensor):
            raise LossError(
                f"your loss {self.label} returned {type(value).__name__}, not a torch.Tensor; return the loss as a "
                "tensor computed from the output (so that it has a gradient)"
            )
        if value.dim() > 0 and value.shape[0] != len(output):
            raise LossError(
                f"your loss {self.label} returned a tensor of shape {tuple(value.shape)} for a batch of {len(output)}; "
                "return a 0-dim tensor (the batch's loss) or one value per sample"
            )
        if not value.requires_grad and output.requires_grad:
            raise LossError(
                f"your loss {self.label} returned a tensor without a gradient (shape {tuple(value.shape)}): it was "
                "detached from the output, e.g. by .item(), .detach(), numpy or torch.no_grad; compute it with "
                "torch operations on the output"
            )
        return value

    def predict(self, output: Tensor) -> Tensor:
        own = getattr(self.fn, "predict", None)
        return own(output) if callable(own) else super().predict(output)

    def extra_repr(self) -> str:
        return f"task={self.task!r}, loss={self.label}"


def wrap(task: str, fn: Any, label: str) -> nn.Module:
    """``fn`` as a loss of ``task``: a TaskLoss as it is, anything else in a :class:`CustomLoss`."""
    return fn if isinstance(fn, TaskLoss) else CustomLoss(task, fn, label)
