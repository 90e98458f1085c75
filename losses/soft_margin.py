"""``soft_margin``: the two-class logistic loss on +-1 targets (torch.nn.SoftMarginLoss).

    soft_margin(x, y) = log(1 + exp(-y * x)),   y in {-1, +1}

averaged over every element (for 0/1 labels this is the same value as ``bce_logits``; the loss
states the margin form). The harness's 0/1 labels become -1/+1: on binary, on each label column
of multilabel, and on one-hot columns (one-vs-rest) of multiclass.

Computed as softplus(-y * x): torch's SoftMarginLoss evaluates log(1 + exp(-y x)) literally and
overflows to inf once -y x > ~88 in float32.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction, match_binary, one_hot, reduce, to_plus_minus_one
from .binary_cross_entropy import one_vs_rest_probs
from .registry import register


@register(
    "soft_margin",
    natural_task="binary",
    fits={"binary": "0/1 -> -1/+1 targets", "multilabel": "-1/+1 targets per label", "multiclass": "one-hot -> -1/+1"},
    why_not={"regression": "it needs -1/+1 class targets, not real values; use mse, l1 or huber"},
    needs_output="scores (logits)",
    needs_target="-1/+1 per label",
)
class SoftMargin(TaskLoss):
    """Two-class logistic loss log(1 + exp(-y x)) on -1/+1 targets (torch.nn.SoftMarginLoss)."""

    def __init__(self, task: str, *, reduction: str = "mean") -> None:
        super().__init__(task)
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "multiclass":
            target = one_hot(target, output.shape[-1], output.dtype)
        else:
            output = match_binary(output, target)
        return reduce(F.softplus(-to_plus_minus_one(target.to(output.dtype)) * output), self.reduction)

    def predict(self, output: Tensor) -> Tensor:
        # P(y = +1 | x) = sigmoid(x) under the logistic model the loss fits.
        return one_vs_rest_probs(output) if self.task == "multiclass" else super().predict(output)
