"""``multilabel``: any number of labels per sample, given as a multi-hot (N, C) float vector.

Scored by micro F1 at 0.5 (the main metric), macro F1 and macro mean average precision. Label noise:
round(eta * N * C) label bits flipped (symmetric) or round(eta * P) of the P positive bits dropped
to 0 (asymmetric: missing labels).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from ..errors import UserError
from .base import Task, check_zero_one, pick


class Multilabel(Task):
    name = "multilabel"
    summary = "any number of labels per sample, multi-hot"
    main_metric, mode = "f1_micro", "max"
    metric_names = ("f1_micro", "f1_macro", "map")
    target = "multi-hot 0/1 floats (N, C)"
    noise_modes = ("symmetric", "asymmetric")

    def metrics(self, num_outputs: int) -> dict:
        from torchmetrics.classification import MultilabelAveragePrecision, MultilabelF1Score

        return {
            "f1_micro": MultilabelF1Score(num_labels=num_outputs, average="micro"),
            "f1_macro": MultilabelF1Score(num_labels=num_outputs, average="macro"),
            "map": MultilabelAveragePrecision(num_labels=num_outputs, average="macro"),
        }

    def predict(self, output: Tensor) -> Tensor:
        return output.sigmoid()

    def metric_target(self, target: Tensor) -> Tensor:
        return target.long()

    def check_targets(self, y: Tensor, num_outputs: int, where: str) -> None:
        check_zero_one(y, where, self.name, "a multilabel target is multi-hot: one 0/1 column per label")
        if y.dim() != 2 or y.shape[1] != num_outputs:
            raise UserError(f"{where} must have shape (N, {num_outputs}) for task=multilabel, got {tuple(y.shape)}")

    def corrupt(
        self, y: np.ndarray, fraction: float, mode: str, num_classes: int, rng: np.random.Generator
    ) -> np.ndarray:
        flat = y.reshape(-1).copy()
        candidates = np.arange(flat.size) if mode == "symmetric" else np.flatnonzero(flat > 0.5)
        chosen = pick(candidates, fraction, rng)
        flat[chosen] = 1 - flat[chosen]
        return flat.reshape(y.shape)


TASK = Multilabel()
