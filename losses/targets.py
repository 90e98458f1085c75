"""Target adapters shared by the classification losses: class distributions, smoothing, index lists.

Two label-smoothing conventions are in use, and every loss says which one it follows:

    softmax losses (ce, soft_ce, kl_div, poly1 on multiclass):  y' = (1 - e) * one_hot(y) + e / C
    per-label sigmoid losses (bce_logits, poly1 on binary/multilabel):  y' = (1 - e) * y + e / 2

The first is torch.nn.CrossEntropyLoss's (mass spread over the C classes); the second moves each
0/1 label toward 0.5, i.e. it is the first with C = 2 applied to every label independently.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss
from .registry import LossError

# Tasks the softmax-over-classes losses fit, and why they do not fit the others.
SOFTMAX_FITS = {"multiclass": "native", "binary": "2-way head, 0/1 target as class index"}
SOFTMAX_WHY_NOT = {
    "multilabel": (
        "a softmax over classes assumes exactly one label per sample; "
        "use a per-label loss such as bce_logits, focal, asl or multilabel_margin"
    ),
    "regression": "it needs class labels, not real-valued targets",
}


def check_label_smoothing(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise LossError(f"label_smoothing must be in [0, 1], got {value}")
    return float(value)


def class_distribution(target: Tensor, num_classes: int, dtype: torch.dtype, label_smoothing: float = 0.0) -> Tensor:
    """Class indices (N,) or a distribution (N, C) -> a (N, C) target distribution.

    Smoothing follows torch's convention: (1 - e) * y + e / C.
    """
    if target.dim() == 1:
        target = F.one_hot(target.long(), num_classes)
    elif target.shape[-1] != num_classes:
        raise LossError(f"soft targets have {target.shape[-1]} classes but the output has {num_classes}")
    target = target.to(dtype)
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / num_classes
    return target


def smooth_toward_half(target: Tensor, label_smoothing: float) -> Tensor:
    """Per-label smoothing toward 0.5: (1 - e) * y + e / 2."""
    return target * (1 - label_smoothing) + label_smoothing / 2 if label_smoothing else target


def multi_hot_to_index_list(target: Tensor) -> Tensor:
    """Multi-hot (N, C) -> torch.nn.MultiLabelMarginLoss's target: the positive indices first, then -1.

    [[1, 0, 0, 1]] -> [[0, 3, -1, -1]]
    """
    n, c = target.shape
    columns = torch.arange(c, device=target.device).expand(n, c)
    # Positives keep their index, negatives are pushed past C; sorting puts the positives first.
    order = torch.where(target > 0.5, columns, columns + c).sort(dim=1).values
    return torch.where(order < c, order, torch.full_like(order, -1))


def pow_zero_safe(base: Tensor, exponent: float) -> Tensor:
    """base ** exponent for base >= 0 whose gradient stays finite at base = 0 (also for exponents < 1)."""
    positive = base > 0
    safe = torch.where(positive, base, torch.ones_like(base))
    zero_value = 1.0 if exponent == 0 else 0.0
    return torch.where(positive, safe.pow(exponent), torch.full_like(base, zero_value))


class SoftmaxClassLoss(TaskLoss):
    """Base of the losses that read the output as logits of a softmax over classes.

    multiclass: native; binary: a 2-way head, the 0/1 target used as the class index.
    """

    @classmethod
    def head_size(cls, task: str, natural_size: int) -> int:
        return 2 if task == "binary" else natural_size

    def predict(self, output: Tensor) -> Tensor:
        probs = output.softmax(dim=-1)
        return probs[:, 1] if self.task == "binary" else probs
