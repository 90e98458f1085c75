"""``multiclass``: one label per sample, given as a class index in [0, C).

Scored by accuracy (the main metric), macro F1 and the expected calibration error (15 bins) of the
softmax probabilities. Label noise: in each class, round(eta * n_c) labels moved to a uniformly drawn
other class (symmetric) or to class (c + 1) mod C (asymmetric, Ma et al. 2020).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from .base import Task, check_class_indices, pick


class Multiclass(Task):
    name = "multiclass"
    summary = "one class index per sample"
    main_metric, mode = "acc", "max"
    metric_names = ("acc", "f1_macro", "ece")
    target = "class indices (N,) in [0, C)"
    target_dtype = torch.long
    noise_modes = ("symmetric", "asymmetric")

    def metrics(self, num_outputs: int) -> dict:
        from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError, MulticlassF1Score

        return {
            "acc": MulticlassAccuracy(num_classes=num_outputs, average="micro"),
            # The mean per-class recall: what a long tail (data.imbalance) or a rare class makes differ from acc.
            "balanced_acc": MulticlassAccuracy(num_classes=num_outputs, average="macro"),
            "f1_macro": MulticlassF1Score(num_classes=num_outputs, average="macro"),
            "ece": MulticlassCalibrationError(num_classes=num_outputs, n_bins=15),
        }

    def predict(self, output: Tensor) -> Tensor:
        return output.softmax(dim=-1)

    def check_targets(self, y: Tensor, num_outputs: int, where: str) -> None:
        check_class_indices(y, num_outputs, where, self.name)

    def corrupt(
        self, y: np.ndarray, fraction: float, mode: str, num_classes: int, rng: np.random.Generator
    ) -> np.ndarray:
        if num_classes < 2:
            raise UserError("data.label_noise needs at least 2 classes")
        noisy = y.copy()
        for c in range(num_classes):
            chosen = pick(np.flatnonzero(y == c), fraction, rng)
            if mode == "symmetric":  # a uniformly drawn *other* class
                noisy[chosen] = (c + rng.integers(1, num_classes, size=len(chosen))) % num_classes
            else:
                noisy[chosen] = (c + 1) % num_classes
        return noisy


TASK = Multiclass()
