"""``focal``: focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection").

Sigmoid form, per label (binary, multilabel), with p = sigmoid(x) and p_t the probability of the
true 0/1 label:

    focal(x, y) = -alpha_t * (1 - p_t) ** gamma * log(p_t)
    alpha_t = alpha if y = 1 else 1 - alpha          (alpha = null: no weighting)

Defaults alpha = 0.25, gamma = 2 as in the paper (and torchvision.ops.sigmoid_focal_loss).

Softmax form (multiclass), with p_t the softmax probability of the true class:

    focal(x, y) = -alpha * (1 - p_t) ** gamma * log(p_t)

Here alpha is a plain scale (there is no positive/negative split to balance; kornia's convention),
null meaning 1. gamma = 0 and alpha = null give ``ce`` / ``bce_logits``.

Numerically stable: log(p_t) is log_softmax / log-sigmoid of the logit, and (1 - p_t) ** gamma is
exp(gamma * logsigmoid(-z)) with z = x for positives and -x for negatives (sigmoid form), or
computed from -expm1(log p_t) (softmax form); never log(sigmoid(x)). Targets are 0/1 labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction, match_binary, reduce
from .registry import LossError, register
from .targets import pow_zero_safe


def sigmoid_focal(logits: Tensor, target: Tensor, alpha: float | None, gamma: float) -> Tensor:
    """Element-wise sigmoid focal loss for 0/1 targets, in log-sigmoid form."""
    z = logits * (2 * target - 1)  # the logit of the true label: log p_t = logsigmoid(z)
    loss = -F.logsigmoid(z) * torch.exp(gamma * F.logsigmoid(-z))
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss


def softmax_focal(logits: Tensor, target: Tensor, alpha: float | None, gamma: float) -> Tensor:
    """Per-sample softmax focal loss for class indices, in log-softmax form."""
    log_pt = F.log_softmax(logits, dim=-1).gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
    # 1 - p_t = -expm1(log p_t): accurate near p_t = 1; zero-safe power keeps gamma < 1 finite.
    loss = -log_pt * pow_zero_safe(-torch.expm1(log_pt), gamma)
    return loss if alpha is None else alpha * loss


@register(
    "focal",
    natural_task="binary",
    fits={"binary": "native", "multilabel": "native", "multiclass": "softmax form"},
    why_not={"regression": "it needs class labels, not real values; use mse, l1 or huber"},
    needs_output="logits",
    needs_target="0/1 or multi-hot (sigmoid form); class indices (softmax form)",
)
class Focal(TaskLoss):
    """Focal loss: cross entropy down-weighted by (1 - p_t)^gamma on easy examples (Lin et al. 2017)."""

    def __init__(self, task: str, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: str = "mean") -> None:
        super().__init__(task)
        if gamma < 0:
            raise LossError(f"focal gamma must be >= 0, got {gamma}")
        if alpha is not None and self.task != "multiclass" and not 0 <= alpha <= 1:
            raise LossError(f"focal alpha must be in [0, 1] (or null for no weighting), got {alpha}")
        self.alpha = alpha
        self.gamma = gamma
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "multiclass":
            return reduce(softmax_focal(output, target, self.alpha, self.gamma), self.reduction)
        output = match_binary(output, target)
        return reduce(sigmoid_focal(output, target.to(output.dtype), self.alpha, self.gamma), self.reduction)
