"""``multilabel_margin``: every positive label scores above every negative one by 1 (torch.nn.MultiLabelMarginLoss).

    multilabel_margin(x, y) = 1/C * sum_{j in Y} sum_{i not in Y} max(0, 1 - (x_j - x_i))

torch wants the target as a list of positive class indices padded with -1 ([3, 0, -1, -1] for
labels {0, 3}); the harness converts the task's multi-hot target to that form. On multiclass the
list is the single true class. The loss ranks labels and fixes no threshold; for the multilabel
metrics the scores are read through a sigmoid (threshold at score 0), so threshold-free ``map`` is
the fairest metric for it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction
from .registry import register
from .targets import multi_hot_to_index_list


@register(
    "multilabel_margin",
    natural_task="multilabel",
    fits={
        "multilabel": "multi-hot -> index list padded with -1",
        "multiclass": "the class as a one-entry index list",
        "binary": "2-way head, 0/1 target as class index",
    },
    why_not={"regression": "it needs label sets, not real-valued targets"},
    needs_output="label scores (N, C)",
    needs_target="multi-hot (N, C) -> positive indices padded with -1",
)
class MultiLabelMargin(TaskLoss):
    """Multi-label hinge loss: positives above negatives by a margin of 1 (torch.nn.MultiLabelMarginLoss)."""

    def __init__(self, task: str, *, reduction: str = "mean") -> None:
        super().__init__(task)
        self.reduction = check_reduction(reduction)

    @classmethod
    def head_size(cls, task: str, natural_size: int) -> int:
        return 2 if task == "binary" else natural_size

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "multilabel":
            index_list = multi_hot_to_index_list(target)
        else:  # one true class: [y, -1, -1, ...]
            index_list = target.new_full(output.shape, -1, dtype=torch.long)
            index_list[:, 0] = target.long()
        return F.multilabel_margin_loss(output, index_list, reduction=self.reduction)

    def predict(self, output: Tensor) -> Tensor:
        if self.task == "multilabel":
            return output.sigmoid()
        probs = output.softmax(dim=-1)
        return probs[:, 1] if self.task == "binary" else probs
