"""Point-wise regression losses: ``mse``, ``l1``, ``smooth_l1`` and ``huber``.

    mse       = (x - y)^2
    l1        = |x - y|
    smooth_l1 = 0.5 (x - y)^2 / beta   if |x - y| < beta  else |x - y| - 0.5 beta
    huber     = 0.5 (x - y)^2          if |x - y| < delta else delta (|x - y| - 0.5 delta)

On classification tasks they regress the raw outputs onto one-hot (multiclass) or multi-hot / 0-1
(multilabel, binary) targets; the outputs, clamped to [0, 1], are then read as scores.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction, match_binary, one_hot
from .registry import register

_FITS = {
    "regression": "native",
    "count": "native",
    "multiclass": "one-hot targets",
    "multilabel": "multi-hot float targets",
    "binary": "0/1 float targets",
}
_NEEDS = dict(needs_output="real values", needs_target="real-valued targets")


class _PointwiseRegressionLoss(TaskLoss):
    def __init__(self, task: str, reduction: str) -> None:
        super().__init__(task)
        self.reduction = check_reduction(reduction)

    def _adapt(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        if self.task == "multiclass":
            return output, one_hot(target, output.shape[-1], output.dtype)
        return match_binary(output, target), target.to(output.dtype)

    def predict(self, output: Tensor) -> Tensor:
        if self.task == "multiclass":
            scores = output.clamp(0, 1) + 1e-6
            return scores / scores.sum(dim=-1, keepdim=True)
        if self.task == "multilabel":
            return output.clamp(0, 1)
        if self.task == "binary":
            return output.reshape(output.shape[0], -1)[:, 0].clamp(0, 1)
        return super().predict(output)


@register("mse", natural_task="regression", fits=_FITS, **_NEEDS)
class MeanSquaredError(_PointwiseRegressionLoss):
    """Squared error (torch.nn.MSELoss)."""

    def __init__(self, task: str, *, reduction: str = "mean") -> None:
        super().__init__(task, reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(*self._adapt(output, target), reduction=self.reduction)


@register("l1", natural_task="regression", fits=_FITS, **_NEEDS)
class AbsoluteError(_PointwiseRegressionLoss):
    """Absolute error (torch.nn.L1Loss)."""

    def __init__(self, task: str, *, reduction: str = "mean") -> None:
        super().__init__(task, reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(*self._adapt(output, target), reduction=self.reduction)


@register("smooth_l1", natural_task="regression", fits=_FITS, **_NEEDS)
class SmoothL1(_PointwiseRegressionLoss):
    """Squared below ``beta``, absolute above (torch.nn.SmoothL1Loss)."""

    def __init__(self, task: str, *, beta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(task, reduction)
        self.beta = beta

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(*self._adapt(output, target), beta=self.beta, reduction=self.reduction)


@register("huber", natural_task="regression", fits=_FITS, **_NEEDS)
class Huber(_PointwiseRegressionLoss):
    """Squared below ``delta``, linear with slope ``delta`` above (torch.nn.HuberLoss)."""

    def __init__(self, task: str, *, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(task, reduction)
        self.delta = delta

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(*self._adapt(output, target), delta=self.delta, reduction=self.reduction)
