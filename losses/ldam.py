"""``ldam``: label-distribution-aware margin loss, with optional deferred re-weighting (LDAM-DRW).

Cao et al. 2019, "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss" (NeurIPS),
with n_c the training samples of class c:

    Delta_c = C_m / n_c ** (1/4),   C_m such that max_c Delta_c = max_m       (rare classes: larger margins)
    ldam(z, y) = w_y * CE(s * (z - Delta_y * onehot(y)), y)
               = -w_y * log( exp(s (z_y - Delta_y)) / (exp(s (z_y - Delta_y)) + sum_{j != y} exp(s z_j)) )

Deferred re-weighting (DRW, the paper's deferred re-balancing schedule): the class weights are
w = 1 before epoch ``drw_epoch`` (0-based: epochs 0 .. drw_epoch - 1) and the effective-number
weights of Cui et al. 2019 from it on,

    w_c = (1 - beta) / (1 - beta ** n_c),  scaled so that sum_c w_c = C,   beta = drw_beta = 0.9999

``drw_epoch = null`` (default): never re-weighted. The loss learns the epoch from ``set_epoch``,
which the trainer calls at the start of every epoch. With weights, ``reduction = mean`` is torch's
weighted mean sum_i w_{y_i} l_i / sum_i w_{y_i} (as the reference code's F.cross_entropy(weight=)).

This follows the authors' code (github.com/kaidic/LDAM-DRW: ``LDAMLoss`` in losses.py, the DRW
weights in cifar_train.py, where idx = epoch // 160 picks beta in [0, 0.9999]: beta = 0 gives w = 1).
Defaults: max_m = 0.5 as there. The scale differs: the reference multiplies by s = 30 because its
last layer is normalised (cosine logits in [-1, 1], where a margin of 0.5 is large); losslab's
models end in a plain Linear layer whose logits are unbounded, so s = 1 (default) keeps the margins
in logit units and the loss a plain margin-shifted cross entropy. With a normalised (cosine) head
set loss.s=30 as in the paper. The margin and the weights are training devices; predictions are
the probabilities the loss trains, softmax(s * z), without margin (for s = 1, softmax(z)).

The counts n_c come from the training labels (``losses.build(..., labels=...)``; python -m trainer
passes them), a class absent from them counted once. Margins and weights are computed once in
float64; the loss is torch's cross_entropy (log_softmax).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import check_reduction
from .class_weights import class_weights
from .logit_adjust import LONG_TAIL_FITS, LONG_TAIL_WHY_NOT, check_classes
from .registry import LossError, register
from .targets import SoftmaxClassLoss

DRW_BETA = 0.9999


def ldam_margins(class_counts: Tensor, max_m: float) -> Tensor:
    """Delta_c = C_m / n_c ** (1/4), the largest equal to ``max_m`` (float64)."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64).detach().cpu().clamp_min(1)
    if counts.dim() != 1 or len(counts) < 2:
        raise LossError(f"class_counts must hold one count per class (2 or more), got shape {tuple(counts.shape)}")
    margins = counts.pow(-0.25)
    return margins * (max_m / margins.max())


def drw_weights(class_counts: Tensor, beta: float) -> Tensor:
    """Effective-number class weights (1 - beta) / (1 - beta ** n_c), scaled to sum to C (float64)."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64).detach().cpu()
    return class_weights(counts, "effective_num", beta)


@register(
    "ldam",
    natural_task="multiclass",
    fits=LONG_TAIL_FITS,
    why_not=LONG_TAIL_WHY_NOT,
    needs_output="logits (N, C)",
    needs_target="class indices (N,)",
)
class LDAM(SoftmaxClassLoss):
    """LDAM: cross entropy with per-class margins C / n_c^(1/4), optional deferred re-weighting (Cao et al. 2019)."""

    def __init__(
        self,
        task: str,
        *,
        class_counts: Tensor,
        max_m: float = 0.5,
        s: float = 1.0,
        drw_epoch: int | None = None,
        drw_beta: float = DRW_BETA,
        reduction: str = "mean",
    ) -> None:
        super().__init__(task)
        if not max_m >= 0:
            raise LossError(f"ldam max_m (the largest margin) must be >= 0 (0 is plain ce), got {max_m}")
        if not s > 0:
            raise LossError(f"ldam s (the logit scale) must be > 0, got {s}")
        if drw_epoch is not None and (isinstance(drw_epoch, bool) or not isinstance(drw_epoch, int) or drw_epoch < 0):
            raise LossError(
                f"ldam drw_epoch must be a 0-based epoch index >= 0, or null for no re-weighting, got {drw_epoch!r}"
            )
        if not 0 <= drw_beta < 1:
            raise LossError(f"ldam drw_beta must be in [0, 1) (0.9999 in the paper), got {drw_beta}")
        self.max_m, self.s, self.drw_epoch, self.drw_beta = float(max_m), float(s), drw_epoch, float(drw_beta)
        self.reduction = check_reduction(reduction)
        # Not persistent: derived from the training labels (and the epoch), recomputed on build and resume.
        self.register_buffer("margins", ldam_margins(class_counts, self.max_m), persistent=False)
        self.register_buffer("drw_weights", drw_weights(class_counts, self.drw_beta), persistent=False)
        self.reweighted = self._reweighted_at(0)  # until the trainer says otherwise: epoch 0

    def _reweighted_at(self, epoch: int) -> bool:
        return self.drw_epoch is not None and epoch >= self.drw_epoch

    def set_epoch(self, epoch: int) -> None:
        """Deferred re-weighting: w = the effective-number weights from epoch ``drw_epoch`` on, else 1."""
        self.reweighted = self._reweighted_at(epoch)

    def class_weight(self) -> Tensor | None:
        """The class weights w in use at the current epoch (None: every w_c = 1)."""
        return self.drw_weights if self.reweighted else None

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_classes(output, self.margins, self.loss_name)
        target = target.long()
        margin = F.one_hot(target, output.shape[-1]).to(output.dtype) * self.margins.to(output.dtype)
        weight = self.class_weight()
        return F.cross_entropy(
            self.s * (output - margin),
            target,
            weight=None if weight is None else weight.to(output.dtype),
            reduction=self.reduction,
        )

    def predict(self, output: Tensor) -> Tensor:
        return super().predict(self.s * output)

    def extra_repr(self) -> str:
        return f"task={self.task!r}, max_m={self.max_m:g}, s={self.s:g}, drw_epoch={self.drw_epoch}"
