"""Per-label binary cross entropy: ``bce`` (sigmoid then BCELoss) and ``bce_logits`` (BCEWithLogitsLoss).

    bce(x, y) = -w * [y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x))]

``bce_logits`` computes the same quantity in the numerically stable log-sum-exp form and supports
``pos_weight`` p_c, which scales the positive term: -w * [p_c * y * log s(x) + (1 - y) * log(1 - s(x))].
``bce`` follows torch.nn.BCELoss, which clamps each log at -100, so it stays finite when the sigmoid
saturates but its gradient vanishes there; prefer ``bce_logits``.

``bce_logits`` takes ``label_smoothing`` e, which moves each 0/1 label toward 0.5:
y' = (1 - e) * y + e / 2 (not torch CrossEntropyLoss's e / C: every label is its own two-class problem).
``weight`` and ``pos_weight`` also accept ``auto`` or a method name (``inv_freq``, ``effective_num``,
``neg_pos``), computed once from the training labels (see ``losses.class_weights``).

On a multiclass task both use one-hot targets (one-vs-rest).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, as_tensor, check_reduction, match_binary, one_hot
from .registry import register
from .targets import check_label_smoothing, smooth_toward_half

_FITS = {"binary": "native", "multilabel": "native", "multiclass": "one-hot targets"}
_WHY_NOT = {"regression": "it needs targets in [0, 1], not real values; use mse, l1 or huber"}


def one_vs_rest_probs(output: Tensor) -> Tensor:
    """Per-class sigmoids normalised to sum to one: class probabilities from one-vs-rest logits."""
    scores = output.sigmoid()
    return scores / scores.sum(dim=-1, keepdim=True).clamp_min(1e-12)


class _PerLabelLoss(TaskLoss):
    def _adapt(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        if self.task == "multiclass":
            return output, one_hot(target, output.shape[-1], output.dtype)
        return match_binary(output, target), target.to(output.dtype)

    def predict(self, output: Tensor) -> Tensor:
        if self.task == "multiclass":
            return one_vs_rest_probs(output)
        return super().predict(output)


@register(
    "bce",
    natural_task="binary",
    fits=_FITS,
    why_not=_WHY_NOT,
    needs_output="probabilities (sigmoid applied by the loss)",
    needs_target="0/1 or multi-hot floats",
)
class BinaryCrossEntropy(_PerLabelLoss):
    """Sigmoid followed by BCELoss (torch.nn.BCELoss on probabilities)."""

    def __init__(self, task: str, *, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(task)
        self.register_buffer("weight", as_tensor(weight))
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        output, target = self._adapt(output, target)
        weight = None if self.weight is None else self.weight.to(output.dtype).expand_as(output)
        return F.binary_cross_entropy(output.sigmoid(), target, weight=weight, reduction=self.reduction)


@register(
    "bce_logits",
    natural_task="binary",
    fits=_FITS,
    why_not=_WHY_NOT,
    needs_output="logits",
    needs_target="0/1 or multi-hot floats",
)
class BinaryCrossEntropyWithLogits(_PerLabelLoss):
    """Binary cross entropy on logits, numerically stable (torch.nn.BCEWithLogitsLoss)."""

    def __init__(
        self,
        task: str,
        *,
        weight: Any = None,
        pos_weight: Any = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(task)
        self.register_buffer("weight", as_tensor(weight))
        self.register_buffer("pos_weight", as_tensor(pos_weight))
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.reduction = check_reduction(reduction)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        output, target = self._adapt(output, target)
        target = smooth_toward_half(target, self.label_smoothing)  # toward 0.5, not e / C
        weight = None if self.weight is None else self.weight.to(output.dtype).expand_as(output)
        pos_weight = None if self.pos_weight is None else self.pos_weight.to(output.dtype)
        return F.binary_cross_entropy_with_logits(
            output, target, weight=weight, pos_weight=pos_weight, reduction=self.reduction
        )
