"""``gce``: generalized cross entropy (Zhang & Sabuncu 2018), a noise-robust baseline in Ma et al. 2020.

    gce(x, y) = (1 - p_y ** q) / q,   p = softmax(x),   0 < q <= 1

q -> 0 recovers cross entropy, q = 1 gives 1 - p_y, half the mean absolute error on the softmax
(MAE = sum_c |p_c - y_c| = 2 - 2 p_y); q = 0.7 (default) is the papers' choice.
p_y ** q is computed as exp(q * log_softmax(x)_y).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import check_reduction, reduce
from .registry import LossError, register
from .targets import SOFTMAX_FITS, SOFTMAX_WHY_NOT, SoftmaxClassLoss


@register(
    "gce",
    natural_task="multiclass",
    fits=SOFTMAX_FITS,
    why_not=SOFTMAX_WHY_NOT,
    needs_output="logits (N, C)",
    needs_target="class indices (N,)",
)
class GeneralizedCrossEntropy(SoftmaxClassLoss):
    """Generalized cross entropy (1 - p_y^q) / q, between CE and MAE; robust to label noise."""

    def __init__(self, task: str, *, q: float = 0.7, reduction: str = "mean") -> None:
        super().__init__(task)
        if not 0 < q <= 1:
            raise LossError(f"gce q must be in (0, 1] (q -> 0 is cross entropy: use ce), got {q}")
        self.q = q
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        log_p_y = F.log_softmax(output, dim=-1).gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
        return reduce((1 - torch.exp(self.q * log_p_y)) / self.q, self.reduction)
