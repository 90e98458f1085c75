"""``soft_ce``: cross entropy against a soft or one-hot target distribution.

    soft_ce(x, y) = -sum_c y_c * log_softmax(x)_c

The seeds' hand-written ``cross_entropy(input, target)``: targets may be class indices (made
one-hot) or any (N, C) distribution (label smoothing, mixup, distillation). ``label_smoothing`` e
uses torch's convention, y' = (1 - e) * y + e / C, so ``soft_ce`` with e equals ``ce`` with e.
``reduction='none'`` returns one value per sample, (N,) (the seed's version returned the (N, C)
element-wise products).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import check_reduction, reduce
from .registry import register
from .targets import SOFTMAX_FITS, SOFTMAX_WHY_NOT, SoftmaxClassLoss, check_label_smoothing, class_distribution


@register(
    "soft_ce",
    natural_task="multiclass",
    fits=SOFTMAX_FITS,
    why_not=SOFTMAX_WHY_NOT,
    needs_output="logits (N, C)",
    needs_target="class indices (N,) or a distribution (N, C)",
)
class SoftCrossEntropy(SoftmaxClassLoss):
    """Cross entropy against soft or one-hot targets, -sum_c y_c log_softmax(x)_c."""

    def __init__(self, task: str, *, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(task)
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        target = class_distribution(target, output.shape[-1], output.dtype, self.label_smoothing)
        return reduce(-(target * F.log_softmax(output, dim=-1)).sum(dim=-1), self.reduction)
