"""Connectionist temporal classification for label sequences: ``ctc`` (torch.nn.CTCLoss).

    ctc(x, y) = -log sum_{a in B^-1(y)} prod_t softmax(x_t)[a_t]

summed over every alignment a of length T that collapses to y under B (merge repeats, then drop
blanks). The model outputs per-time-step scores (N, T, C + 1): C classes and one blank. Targets are
label sequences (N, L) of class indices 0..C-1, padded at the end with -1; each sequence's length is
its number of entries >= 0. Classes are moved around the blank index: class k becomes k + 1 when
k >= blank (with the default blank = 0, every class shifts by one; with blank = C none moves).
Every sequence uses all T time steps. ``reduction='mean'`` is torch's: each sequence's loss divided
by its target length, then averaged over the batch.

``predict`` is greedy (best-path) decoding: the arg-max class at each step, repeats merged, blanks
dropped, returned as class indices (N, T) padded with -1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction
from .registry import LossError, register

PAD = -1


def ctc_targets(target: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """Padded label sequences (N, L) -> (targets with classes moved around ``blank``, target lengths)."""
    target = target.long()
    valid = target >= 0
    lengths = valid.sum(dim=1)
    shifted = torch.where(valid, target + (target >= blank).long(), torch.zeros_like(target))
    return shifted, lengths


def greedy_decode(output: Tensor, blank: int = 0) -> Tensor:
    """Best-path CTC decoding of scores (N, T, C + 1) into class sequences (N, T) padded with -1."""
    best = output.argmax(dim=-1)  # (N, T)
    previous = F.pad(best[:, :-1], (1, 0), value=-1)
    keep = (best != blank) & (best != previous)
    classes = best - (best > blank).long()
    # Left-pack the kept steps: a stable sort on "not kept" moves kept entries first in order.
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    packed = torch.gather(torch.where(keep, classes, torch.full_like(classes, PAD)), 1, order)
    return packed


@register(
    "ctc",
    natural_task="sequence",
    fits={"sequence": "native"},
    why_not={
        "multiclass": "it needs a sequence of labels per sample and per-time-step scores; use task=sequence",
        "multilabel": "it needs an ordered label sequence, not a set; use task=sequence",
    },
    needs_output="per-time-step scores (N, T, C + 1) incl. blank",
    needs_target="label sequences (N, L) padded with -1",
)
class CTC(TaskLoss):
    """CTC loss over per-time-step class scores; log_softmax applied by the loss (torch.nn.CTCLoss)."""

    def __init__(self, task: str, *, blank: int = 0, zero_infinity: bool = False, reduction: str = "mean") -> None:
        super().__init__(task)
        if blank < 0:
            raise LossError(f"ctc: blank must be a class index in 0..C (C = number of classes), got {blank}")
        self.blank = blank
        self.zero_infinity = zero_infinity
        self.reduction = check_reduction(reduction)

    @classmethod
    def head_size(cls, task: str, natural_size: int) -> int:
        return natural_size + 1  # one more score per step: the blank

    def _check(self, output: Tensor) -> None:
        if output.dim() != 3:
            raise LossError(f"ctc needs per-time-step scores (N, T, C + 1); the model gave shape {tuple(output.shape)}")
        if self.blank >= output.shape[-1]:
            raise LossError(f"ctc: blank={self.blank} is not an index of the {output.shape[-1]} scores per step")

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        self._check(output)
        n, t, _ = output.shape
        log_probs = F.log_softmax(output, dim=-1).transpose(0, 1)  # (T, N, C + 1), as torch wants
        targets, target_lengths = ctc_targets(target, self.blank)
        input_lengths = torch.full((n,), t, dtype=torch.long, device=output.device)
        return F.ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            blank=self.blank,
            reduction=self.reduction,
            zero_infinity=self.zero_infinity,
        )

    def predict(self, output: Tensor) -> Tensor:
        return greedy_decode(output, self.blank)

    def extra_repr(self) -> str:
        return f"task={self.task!r}, blank={self.blank}, reduction={self.reduction!r}"
