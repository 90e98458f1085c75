"""Margin losses on per-label scores: ``multilabel_soft_margin``.

    multilabel_soft_margin(x, y) = -1/C * sum_c w_c [y_c log s(x_c) + (1 - y_c) log(1 - s(x_c))]

(the per-sample mean over labels of the logistic loss; torch.nn.MultiLabelSoftMarginLoss).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, as_tensor, check_reduction, one_hot
from .binary_cross_entropy import one_vs_rest_probs
from .registry import register


@register(
    "multilabel_soft_margin",
    natural_task="multilabel",
    fits={"multilabel": "native", "binary": "one label column", "multiclass": "one-hot targets"},
    why_not={"regression": "it needs 0/1 label targets, not real values"},
    needs_output="logits (N, C)",
    needs_target="multi-hot floats (N, C)",
)
class MultiLabelSoftMargin(TaskLoss):
    """Per-sample mean over labels of the logistic loss (torch.nn.MultiLabelSoftMarginLoss)."""

    def __init__(self, task: str, *, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(task)
        self.register_buffer("weight", as_tensor(weight))
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "multiclass":
            target = one_hot(target, output.shape[-1], output.dtype)
        elif self.task == "binary":
            output, target = output.reshape(-1, 1), target.reshape(-1, 1)
        weight = None if self.weight is None else self.weight.to(output.dtype)
        return F.multilabel_soft_margin_loss(output, target.to(output.dtype), weight=weight, reduction=self.reduction)

    def predict(self, output: Tensor) -> Tensor:
        if self.task == "multiclass":
            return one_vs_rest_probs(output)
        return super().predict(output)
