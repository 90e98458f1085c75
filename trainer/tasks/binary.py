"""``binary``: two classes, target 0/1 (floats), one logit per sample.

Scored by accuracy at 0.5 (the main metric), AUROC, F1 and the expected calibration error. Label
noise: round(eta * n_c) labels of each class flipped (symmetric) or round(eta * n_1) positives
flipped to 0 (asymmetric: missed positives).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from .base import Task, check_zero_one, pick


class Binary(Task):
    name = "binary"
    summary = "two classes, target 0/1"
    main_metric, mode = "acc", "max"
    metric_names = ("acc", "auroc", "f1", "ece")
    target = "0/1 floats (N,)"
    noise_modes = ("symmetric", "asymmetric")

    def metrics(self, num_outputs: int) -> dict:
        from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryCalibrationError, BinaryF1Score

        return {
            "acc": BinaryAccuracy(),
            "auroc": BinaryAUROC(),
            "f1": BinaryF1Score(),
            "ece": BinaryCalibrationError(n_bins=15),
        }

    def predict(self, output: Tensor) -> Tensor:
        return output.reshape(output.shape[0], -1)[:, 0].sigmoid()

    def metric_target(self, target: Tensor) -> Tensor:
        return target.long()

    def check_targets(self, y: Tensor, num_outputs: int, where: str) -> None:
        fix = "a binary task needs two classes coded 0 and 1; for more classes use task=multiclass"
        check_zero_one(y, where, self.name, fix)

    def corrupt(
        self, y: np.ndarray, fraction: float, mode: str, num_classes: int, rng: np.random.Generator
    ) -> np.ndarray:
        noisy = y.copy()
        for c in (0, 1) if mode == "symmetric" else (1,):
            noisy[pick(np.flatnonzero(y == c), fraction, rng)] = 1 - c
        return noisy


TASK = Binary()
