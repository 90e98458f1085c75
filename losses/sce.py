"""``sce``: symmetric cross entropy (Wang et al. 2019), one of the robust losses studied by Ma et al. 2020.

    sce(x, y) = alpha * CE(y, p) + beta * RCE(y, p),   p = softmax(x)
    RCE(y, p) = -sum_c p_c * log y_c,  with log 0 := A

For a one-hot y, RCE = -A * (1 - p_y): a bounded, noise-tolerant term. A = -4 as in the papers;
their public code clamps y at 1e-4 instead, i.e. A = log(1e-4) ~= -9.21 (the same loss with beta
scaled by 2.3). Defaults alpha = 0.1, beta = 1.0: Ma et al.'s setting for CIFAR-10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import check_reduction, reduce
from .registry import LossError, register
from .targets import SOFTMAX_FITS, SOFTMAX_WHY_NOT, SoftmaxClassLoss, class_distribution


def reverse_cross_entropy(logits: Tensor, target: Tensor, log_zero: float) -> Tensor:
    """Per-sample RCE(y, p) = -sum_c p_c * log y_c with log 0 replaced by ``log_zero`` (A)."""
    y = class_distribution(target, logits.shape[-1], logits.dtype)
    log_y = y.clamp_min(torch.finfo(y.dtype).tiny).log().clamp_min(log_zero)
    return -(logits.softmax(dim=-1) * log_y).sum(dim=-1)


def check_log_zero(log_zero: float) -> float:
    if log_zero >= 0:
        raise LossError(f"log_zero (A, the value standing in for log 0) must be negative, got {log_zero}")
    return log_zero


@register(
    "sce",
    natural_task="multiclass",
    fits=SOFTMAX_FITS,
    why_not=SOFTMAX_WHY_NOT,
    needs_output="logits (N, C)",
    needs_target="class indices (N,)",
)
class SymmetricCrossEntropy(SoftmaxClassLoss):
    """Symmetric cross entropy alpha * CE + beta * reverse CE (Wang et al. 2019); robust to label noise."""

    def __init__(
        self, task: str, *, alpha: float = 0.1, beta: float = 1.0, log_zero: float = -4.0, reduction: str = "mean"
    ) -> None:
        super().__init__(task)
        self.alpha = alpha
        self.beta = beta
        self.log_zero = check_log_zero(log_zero)
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        ce = F.cross_entropy(output, target.long(), reduction="none")
        rce = reverse_cross_entropy(output, target, self.log_zero)
        return reduce(self.alpha * ce + self.beta * rce, self.reduction)
