"""``balanced_softmax``: balanced softmax cross entropy, an alias of ``logit_adjust`` at tau = 1.

Ren et al. 2020, "Balanced Meta-Softmax for Long-Tailed Visual Recognition" (NeurIPS), with n_c the
training samples of class c:

    p_y = n_y exp(z_y) / sum_j n_j exp(z_j)
    balanced_softmax(z, y) = -log p_y = CE(z + log n, y)

Since log n_c = log pi_c + log N (N = sum_k n_k) and a constant added to every logit cancels in the
softmax, CE(z + log n, y) = CE(z + log pi, y) = logit_adjust(z, y) with tau = 1 (Menon et al. 2021):
the two papers' losses are the same function. It is registered under its own name for the
comparisons and the papers' readers; its only parameter is ``reduction`` (tau is fixed at 1; for
another tau use ``logit_adjust``). Predictions use the unadjusted logits, softmax(z).
"""

from __future__ import annotations

from torch import Tensor

from .logit_adjust import LONG_TAIL_FITS, LONG_TAIL_WHY_NOT, LogitAdjusted
from .registry import register


@register(
    "balanced_softmax",
    natural_task="multiclass",
    fits=LONG_TAIL_FITS,
    why_not=LONG_TAIL_WHY_NOT,
    needs_output="logits (N, C)",
    needs_target="class indices (N,)",
)
class BalancedSoftmax(LogitAdjusted):
    """Balanced softmax CE(z + log n, y), n the training class counts (Ren et al. 2020): logit_adjust at tau = 1."""

    def __init__(self, task: str, *, class_counts: Tensor, reduction: str = "mean") -> None:
        super().__init__(task, class_counts=class_counts, tau=1.0, reduction=reduction)
