"""``multi_margin``: the multi-class hinge loss, summed over the wrong classes (torch.nn.MultiMarginLoss).

    multi_margin(x, y) = 1/C * sum_{i != y} max(0, w_y * (margin - x_y + x_i)) ** p,   p in {1, 2}

The class's score must beat every other score by ``margin``. Scores are not probabilities; for
metrics (accuracy, ECE) the harness reads them through a softmax, which keeps the ranking, but
the calibration of those probabilities is not something the loss optimises.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .base import as_tensor, check_reduction
from .registry import LossError, register
from .targets import SOFTMAX_FITS, SoftmaxClassLoss


@register(
    "multi_margin",
    natural_task="multiclass",
    fits=SOFTMAX_FITS,
    why_not={
        "multilabel": "it wants the one true class to beat every other; for label sets use multilabel_margin",
        "regression": "it needs class labels, not real-valued targets",
    },
    needs_output="class scores (N, C)",
    needs_target="class indices (N,)",
)
class MultiMargin(SoftmaxClassLoss):
    """Multi-class hinge loss: the true class beats each other class by a margin (torch.nn.MultiMarginLoss)."""

    def __init__(
        self, task: str, *, p: int = 1, margin: float = 1.0, weight: Any = None, reduction: str = "mean"
    ) -> None:
        super().__init__(task)
        if p not in (1, 2):
            raise LossError(f"multi_margin p must be 1 or 2 (torch supports only these), got {p}")
        self.p = p
        self.margin = margin
        self.register_buffer("weight", as_tensor(weight))
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        weight = None if self.weight is None else self.weight.to(output.dtype)
        return F.multi_margin_loss(
            output, target.long(), p=self.p, margin=self.margin, weight=weight, reduction=self.reduction
        )
