"""``poly1``: Poly-1 cross entropy.

Leng et al. 2022, "PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions".

Softmax form (multiclass), with p_t = sum_c y_c * softmax(x)_c the probability of the (smoothed) target:

    poly1(x, y) = ce(x, y) + epsilon * (1 - p_t)

``epsilon`` = 1 by default (the paper's recommendation for ImageNet); epsilon = 0 gives ``ce``.
``label_smoothing`` follows torch's convention, y' = (1 - e) * one_hot + e / C, and enters both
terms, as in the paper's reference code.

Sigmoid form (binary, multilabel): the same expansion of per-label binary cross entropy,

    poly1(x, y) = bce_logits(x, y) + epsilon * (1 - p_t),   p_t = y * sigmoid(x) + (1 - y) * sigmoid(-x)

element-wise, with smoothing toward 0.5 (y' = (1 - e) * y + e / 2) like ``bce_logits``.
Both forms are computed from log_softmax / the stable BCE-with-logits and plain softmax /
sigmoid probabilities; nothing takes the log of a probability.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction, match_binary, reduce
from .registry import register
from .targets import check_label_smoothing, class_distribution, smooth_toward_half


@register(
    "poly1",
    natural_task="multiclass",
    fits={"multiclass": "native", "binary": "sigmoid form (Poly-1 BCE)", "multilabel": "sigmoid form (Poly-1 BCE)"},
    why_not={"regression": "it needs class labels, not real values; use mse, l1 or huber"},
    needs_output="logits",
    needs_target="class indices (softmax form); 0/1 or multi-hot (sigmoid form)",
)
class Poly1(TaskLoss):
    """Poly-1 loss: cross entropy plus epsilon * (1 - p_t) (Leng et al. 2022)."""

    def __init__(
        self, task: str, *, epsilon: float = 1.0, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> None:
        super().__init__(task)
        self.epsilon = epsilon
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "multiclass":
            target = class_distribution(target, output.shape[-1], output.dtype, self.label_smoothing)
            ce = -(target * F.log_softmax(output, dim=-1)).sum(dim=-1)
            p_t = (target * output.softmax(dim=-1)).sum(dim=-1)
        else:
            output = match_binary(output, target)
            target = smooth_toward_half(target.to(output.dtype), self.label_smoothing)
            ce = F.binary_cross_entropy_with_logits(output, target, reduction="none")
            p_t = target * output.sigmoid() + (1 - target) * (-output).sigmoid()
        return reduce(ce + self.epsilon * (1 - p_t), self.reduction)
