"""Softmax cross entropy on class indices: ``ce`` (CrossEntropyLoss) and ``nll`` (LogSoftmax + NLLLoss).

    ce(x, y) = w_y * (-x_y + log sum_j exp(x_j))

With ``label_smoothing`` e, torch's convention is used: the target becomes (1 - e) * one_hot(y) + e / C.
On a binary task both losses get a 2-way head and the 0/1 target is used as the class index.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .base import as_tensor, check_reduction
from .registry import register
from .targets import SoftmaxClassLoss

_FITS = {"multiclass": "native", "binary": "2-way head, 0/1 target as class index"}
_WHY_NOT = {
    "multilabel": "softmax cross entropy assumes exactly one label per sample; use a per-label loss such as bce_logits",
    "regression": "it needs class indices, not real-valued targets",
}


class _IndexTargetLoss(SoftmaxClassLoss):
    def _weight(self, output: Tensor) -> Tensor | None:
        return None if self.weight is None else self.weight.to(output.dtype)


@register(
    "ce",
    natural_task="multiclass",
    fits=_FITS,
    why_not=_WHY_NOT,
    needs_output="logits (N, C)",
    needs_target="class indices (N,)",
)
class CrossEntropy(_IndexTargetLoss):
    """Softmax cross entropy on class indices (torch.nn.CrossEntropyLoss)."""

    def __init__(
        self,
        task: str,
        *,
        weight: Any = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(task)
        self.register_buffer("weight", as_tensor(weight))
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            output,
            target.long(),
            weight=self._weight(output),
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
        )


@register(
    "nll",
    natural_task="multiclass",
    fits=_FITS,
    why_not=_WHY_NOT,
    needs_output="log-probabilities (log_softmax applied by the loss)",
    needs_target="class indices (N,)",
)
class NegativeLogLikelihood(_IndexTargetLoss):
    """LogSoftmax followed by NLLLoss: the same value as ``ce``, in two explicit steps."""

    def __init__(
        self,
        task: str,
        *,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(task)
        self.register_buffer("weight", as_tensor(weight))
        self.ignore_index = ignore_index
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(
            F.log_softmax(output, dim=-1),
            target.long(),
            weight=self._weight(output),
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )
