"""``nce_rce``: the active-passive loss NCE + RCE.

Ma et al. 2020, "Normalized Loss Functions for Deep Learning with Noisy Labels".

    nce_rce(x, y) = alpha * NCE(y, p) + beta * RCE(y, p),   p = softmax(x)
    NCE(y, p) = log p_y / sum_c log p_c          (cross entropy normalised over all labels; in [0, 1])
    RCE(y, p) = -sum_c p_c * log y_c,  log 0 := A (= -A * (1 - p_y) for one-hot y)

NCE is the "active" term (it pushes p_y up), RCE the "passive" one (it pushes the other p_c down);
both are robust to symmetric label noise, and together they avoid NCE's underfitting. Defaults
alpha = beta = 1 (Ma et al.'s CIFAR-10 setting), A = -4 (see ``sce``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import check_reduction, reduce
from .registry import register
from .sce import check_log_zero, reverse_cross_entropy
from .targets import SOFTMAX_FITS, SOFTMAX_WHY_NOT, SoftmaxClassLoss


def normalized_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Per-sample NCE = -log p_y / -sum_c log p_c (the denominator is >= C log C > 0)."""
    log_p = F.log_softmax(logits, dim=-1)
    return log_p.gather(-1, target.long().unsqueeze(-1)).squeeze(-1) / log_p.sum(dim=-1)


@register(
    "nce_rce",
    natural_task="multiclass",
    fits=SOFTMAX_FITS,
    why_not=SOFTMAX_WHY_NOT,
    needs_output="logits (N, C)",
    needs_target="class indices (N,)",
)
class NormalizedCEAndReverseCE(SoftmaxClassLoss):
    """Active-passive loss: normalised CE plus reverse CE (Ma et al. 2020); robust to label noise."""

    def __init__(
        self, task: str, *, alpha: float = 1.0, beta: float = 1.0, log_zero: float = -4.0, reduction: str = "mean"
    ) -> None:
        super().__init__(task)
        self.alpha = alpha
        self.beta = beta
        self.log_zero = check_log_zero(log_zero)
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        nce = normalized_cross_entropy(output, target)
        rce = reverse_cross_entropy(output, target, self.log_zero)
        return reduce(self.alpha * nce + self.beta * rce, self.reduction)
