"""``kl_div``: Kullback-Leibler divergence from the target distribution to the softmax (torch.nn.KLDivLoss).

    kl_div(x, y) = sum_c y_c * (log y_c - log_softmax(x)_c)          (0 * log 0 = 0)

The model outputs logits; the loss applies ``log_softmax`` (torch's KLDivLoss wants log-probabilities
as input). The target distribution y is the one-hot class (or a given (N, C) distribution), smoothed
with torch's convention (1 - e) * y + e / C. With a one-hot target KL equals cross entropy; with
smoothing it differs from ``ce`` with the same ``label_smoothing`` only by the target's entropy, a
constant, so the gradients are the same.

``reduction``: ``batchmean`` (default: the sum over classes averaged over samples, the true KL per
sample), ``sum``, ``mean`` (torch's: averaged over samples *and* classes, i.e. batchmean / C), or
``none`` (per element, (N, C)). torch's ``log_target`` is not exposed: the target is built from the
labels here, never given in log space.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .registry import LossError, register
from .targets import SOFTMAX_FITS, SOFTMAX_WHY_NOT, SoftmaxClassLoss, check_label_smoothing, class_distribution

KL_REDUCTIONS = ("batchmean", "mean", "sum", "none")


@register(
    "kl_div",
    natural_task="multiclass",
    fits=SOFTMAX_FITS,
    why_not=SOFTMAX_WHY_NOT,
    needs_output="logits (N, C); log_softmax applied by the loss",
    needs_target="class indices (N,) -> one-hot or smoothed distribution (N, C)",
)
class KLDivergence(SoftmaxClassLoss):
    """KL divergence from the (smoothed) one-hot target to the softmax (torch.nn.KLDivLoss)."""

    def __init__(self, task: str, *, label_smoothing: float = 0.0, reduction: str = "batchmean") -> None:
        super().__init__(task)
        if reduction not in KL_REDUCTIONS:
            raise LossError(f"kl_div reduction must be one of {KL_REDUCTIONS}, got {reduction!r}")
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.reduction = reduction

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        log_probs = F.log_softmax(output, dim=-1)
        target = class_distribution(target, output.shape[-1], output.dtype, self.label_smoothing)
        # torch computes target * (log target - input) with 0 * log 0 = 0; reduce here so that
        # 'mean' keeps torch's meaning without its deprecation warning.
        loss = F.kl_div(log_probs, target, reduction="none")
        if self.reduction == "batchmean":
            return loss.sum() / output.shape[0]
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss
