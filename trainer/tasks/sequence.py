"""``sequence``: a label sequence per sample (e.g. the digits of a strip, read left to right).

Targets are class indices padded with -1 to a fixed length; the model outputs per-time-step scores
(N, T, C + 1) and the loss (CTC) decodes them. Scored by exact-sequence accuracy (the main metric)
and the character error rate.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UserError
from .base import Task, values

PAD = -1


class Sequence(Task):
    name = "sequence"
    summary = "a label sequence per sample, padded with -1"
    main_metric, mode = "seq_acc", "max"
    metric_names = ("seq_acc", "cer")
    target = "class indices (N, L) padded with -1"
    target_dtype = torch.long

    def metrics(self, num_outputs: int) -> dict:
        from .metrics import CharErrorRate, SequenceAccuracy

        return {"seq_acc": SequenceAccuracy(), "cer": CharErrorRate()}

    def check_targets(self, y: Tensor, num_outputs: int, where: str) -> None:
        outside = (y != PAD) & ((y < 0) | (y >= num_outputs))
        if bool(outside.any()):
            raise UserError(
                f"{where} must be class indices in [0, {num_outputs}) or the padding value {PAD} "
                f"for task=sequence, but {int(outside.sum())} are not: {values(y[outside])}"
            )


TASK = Sequence()
