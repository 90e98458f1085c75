"""``logit_adjust``: logit-adjusted softmax cross entropy.

Menon et al. 2021, "Long-tail learning via logit adjustment" (ICLR), the logit-adjusted softmax cross entropy:

    logit_adjust(z, y) = CE(z + tau * log pi, y) = -log( exp(z_y + tau log pi_y) / sum_j exp(z_j + tau log pi_j) )
    pi_c = n_c / sum_k n_k          (the class priors of the training labels)

Adding tau * log pi to the logits in training only makes the unadjusted logits z estimate the
balanced (class-uniform) posterior, so predictions and metrics use softmax(z) as they are (the
default softmax ``predict``): the adjustment is a training device, like a margin that is larger for
the rare classes. tau = 1 (default, the paper's choice) is Fisher-consistent for the balanced
error; tau = 0 is plain ``ce``. ``balanced_softmax`` is this loss at tau = 1.

The counts n_c come from the training labels (``losses.build(..., labels=...)``; python -m trainer
passes them), a class absent from them counted once so that log pi stays finite. Numerically: the
log prior is computed once in float64, the loss is torch's cross_entropy (log_softmax) of z + tau log pi.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import check_reduction
from .registry import LossError, register
from .targets import SOFTMAX_WHY_NOT, SoftmaxClassLoss

LONG_TAIL_FITS = {"multiclass": "native"}
LONG_TAIL_WHY_NOT = {
    "binary": (
        "it is registered for the multiclass task; for an imbalanced binary task use bce_logits with "
        "pos_weight=auto, or ce with weight=auto"
    ),
    **SOFTMAX_WHY_NOT,
}


def log_priors(class_counts: Tensor) -> Tensor:
    """log pi_c = log(n_c / sum_k n_k) in float64, each count at least 1."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64).detach().cpu().clamp_min(1)
    if counts.dim() != 1 or len(counts) < 2:
        raise LossError(f"class_counts must hold one count per class (2 or more), got shape {tuple(counts.shape)}")
    return (counts / counts.sum()).log()


def check_classes(output: Tensor, per_class: Tensor, name: str) -> None:
    if output.shape[-1] != len(per_class):
        raise LossError(
            f"{name}: the output has {output.shape[-1]} classes but the training labels counted {len(per_class)}; "
            "pass num_classes=<C> to losses.build"
        )


@register(
    "logit_adjust",
    natural_task="multiclass",
    fits=LONG_TAIL_FITS,
    why_not=LONG_TAIL_WHY_NOT,
    needs_output="logits (N, C)",
    needs_target="class indices (N,)",
)
class LogitAdjusted(SoftmaxClassLoss):
    """Logit-adjusted cross entropy CE(z + tau log pi, y), pi the training class priors (Menon et al. 2021)."""

    def __init__(self, task: str, *, class_counts: Tensor, tau: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(task)
        if not tau >= 0:
            raise LossError(f"logit_adjust tau must be >= 0 (tau = 0 is plain ce), got {tau}")
        self.tau = float(tau)
        self.reduction = check_reduction(reduction)
        # Not persistent: derived from the training labels, recomputed on every build (and resume).
        self.register_buffer("log_prior", log_priors(class_counts), persistent=False)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_classes(output, self.log_prior, self.loss_name)
        adjusted = output + self.tau * self.log_prior.to(output.dtype)
        return F.cross_entropy(adjusted, target.long(), reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"task={self.task!r}, tau={self.tau:g}, classes={len(self.log_prior)}"
