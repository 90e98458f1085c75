"""``asl``: asymmetric loss for multi-label classification.

Ridnik et al. 2021, "Asymmetric Loss For Multi-Label Classification".

With p = sigmoid(x) and the probability shifted down by ``clip`` m for negatives, p_m = max(p - m, 0):

    asl(x, y) = -y * (1 - p) ** gamma_pos * log(p) - (1 - y) * p_m ** gamma_neg * log(1 - p_m)

Defaults gamma_neg = 4, gamma_pos = 1, clip = 0.05 (the issue's; the paper's best on MS-COCO used
gamma_pos = 0). Easy negatives are down-weighted harder than positives, and negatives with p < m
are discarded entirely. The reference implementation returns the sum over labels and samples;
here ``reduction`` chooses (``mean`` by default, like the other losses).

Numerically stable forms: log(p) = logsigmoid(x), (1 - p) ** g = exp(g * logsigmoid(-x)), and
log(1 - p_m) = log(min(sigmoid(-x) + m, 1)) = min(logaddexp(logsigmoid(-x), log m), 0). The reference
clamps p at 1e-8 instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction, match_binary, one_hot, reduce
from .binary_cross_entropy import one_vs_rest_probs
from .registry import LossError, register
from .targets import pow_zero_safe


def asymmetric_loss(logits: Tensor, target: Tensor, gamma_neg: float, gamma_pos: float, clip: float) -> Tensor:
    """Element-wise ASL for 0/1 targets."""
    positive = -F.logsigmoid(logits) * torch.exp(gamma_pos * F.logsigmoid(-logits))
    if clip > 0:
        p_m = (logits.sigmoid() - clip).clamp_min(0)
        log_one_minus_p_m = torch.logaddexp(F.logsigmoid(-logits), torch.full_like(logits, math.log(clip)))
        negative = -log_one_minus_p_m.clamp_max(0) * pow_zero_safe(p_m, gamma_neg)
    else:
        negative = -F.logsigmoid(-logits) * torch.exp(gamma_neg * F.logsigmoid(logits))
    return target * positive + (1 - target) * negative


@register(
    "asl",
    natural_task="multilabel",
    fits={"multilabel": "native", "binary": "one label column", "multiclass": "one-hot targets"},
    why_not={"regression": "it needs 0/1 labels, not real values; use mse, l1 or huber"},
    needs_output="logits",
    needs_target="multi-hot or 0/1 floats",
)
class AsymmetricLoss(TaskLoss):
    """Asymmetric loss: stronger focusing on negatives and a probability margin for them (Ridnik et al. 2021)."""

    def __init__(
        self,
        task: str,
        *,
        gamma_neg: float = 4.0,
        gamma_pos: float = 1.0,
        clip: float = 0.05,
        reduction: str = "mean",
    ) -> None:
        super().__init__(task)
        if gamma_neg < 0 or gamma_pos < 0:
            raise LossError(f"asl gamma_neg and gamma_pos must be >= 0, got {gamma_neg} and {gamma_pos}")
        if not 0 <= clip < 1:
            raise LossError(f"asl clip must be in [0, 1), got {clip}")
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "multiclass":
            target = one_hot(target, output.shape[-1], output.dtype)
        else:
            output, target = match_binary(output, target), target.to(output.dtype)
        loss = asymmetric_loss(output, target, self.gamma_neg, self.gamma_pos, self.clip)
        return reduce(loss, self.reduction)

    def predict(self, output: Tensor) -> Tensor:
        return one_vs_rest_probs(output) if self.task == "multiclass" else super().predict(output)
