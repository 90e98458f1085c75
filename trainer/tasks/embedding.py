"""``embedding``: map each sample to a vector so that samples of a class lie close together.

Targets are class indices; pairs or triplets are mined from them within each batch by the losses.
Scored by leave-one-out nearest-neighbour accuracy within the split (``recall_at_1``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Task, check_class_indices


class Embedding(Task):
    name = "embedding"
    summary = "vectors where samples of a class lie close together"
    main_metric, mode = "recall_at_1", "max"
    metric_names = ("recall_at_1",)
    target = "class indices (N,) in [0, C)"
    target_dtype = torch.long

    def metrics(self, num_outputs: int) -> dict:
        from .metrics import RecallAtOne

        return {"recall_at_1": RecallAtOne()}

    def check_targets(self, y: Tensor, num_outputs: int, where: str) -> None:
        check_class_indices(y, num_outputs, where, self.name)


TASK = Embedding()
