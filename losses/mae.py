"""``mae``: mean absolute error between the softmax and the one-hot target, a noise-robust loss.

Ghosh et al. 2017, "Robust Loss Functions under Label Noise for Deep Neural Networks" (AAAI), and
Ma et al. 2020, "Normalized Loss Functions for Deep Learning with Noisy Labels" (ICML):

    mae(z, y) = sum_c |p_c - onehot(y)_c| = (1 - p_y) + sum_{c != y} p_c = 2 (1 - p_y),   p = softmax(z)

Bounded (in [0, 2]) and symmetric (sum over the labels of mae is a constant, 2 (C - 1)), hence
tolerant of symmetric label noise, but slow to fit: its gradient vanishes where p_y is small. Ma et
al.'s public code trains the halved form 1 - p_y (times a scale); that is ``gce`` with q = 1 and
gives the same optimum. For real-valued targets the mean absolute error is ``l1``.
1 - p_y is computed as -expm1(log_softmax(z)_y): exact near p_y = 1, never log(softmax).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import check_reduction, reduce
from .registry import register
from .targets import SOFTMAX_WHY_NOT, SoftmaxClassLoss


@register(
    "mae",
    natural_task="multiclass",
    fits={"multiclass": "native"},
    why_not={
        **SOFTMAX_WHY_NOT,
        "binary": "it is registered for the multiclass task; gce with q=1 is the same loss halved, and fits binary",
        "regression": "it compares class probabilities with a one-hot target; for real values use l1",
    },
    needs_output="logits (N, C)",
    needs_target="class indices (N,)",
)
class SoftmaxMAE(SoftmaxClassLoss):
    """Mean absolute error sum_c |p_c - onehot_c| = 2 (1 - p_y) of the softmax (Ghosh et al. 2017); noise-robust."""

    def __init__(self, task: str, *, reduction: str = "mean") -> None:
        super().__init__(task)
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        log_p_y = F.log_softmax(output, dim=-1).gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
        return reduce(-2 * torch.expm1(log_p_y), self.reduction)
