"""Task metrics, computed with torchmetrics so that every run and every loss is scored the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:  # torchmetrics takes ~2 s to import (it pulls in torchvision): only when first evaluating
    from torchmetrics import Metric, MetricCollection

MetricFactory = Callable[[int], "dict[str, Metric]"]


def _multiclass(num_classes: int) -> dict[str, Metric]:
    from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError, MulticlassF1Score

    return {
        "acc": MulticlassAccuracy(num_classes=num_classes, average="micro"),
        "f1_macro": MulticlassF1Score(num_classes=num_classes, average="macro"),
        "ece": MulticlassCalibrationError(num_classes=num_classes, n_bins=15),
    }


def _multilabel(num_labels: int) -> dict[str, Metric]:
    from torchmetrics.classification import MultilabelAveragePrecision, MultilabelF1Score

    return {
        "f1_micro": MultilabelF1Score(num_labels=num_labels, average="micro"),
        "f1_macro": MultilabelF1Score(num_labels=num_labels, average="macro"),
        "map": MultilabelAveragePrecision(num_labels=num_labels, average="macro"),
    }


def _binary(_: int) -> dict[str, Metric]:
    from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryCalibrationError, BinaryF1Score

    return {
        "acc": BinaryAccuracy(),
        "auroc": BinaryAUROC(),
        "f1": BinaryF1Score(),
        "ece": BinaryCalibrationError(n_bins=15),
    }


def _regression(_: int) -> dict[str, Metric]:
    from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

    return {"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False), "r2": R2Score()}


def _embedding(_: int) -> dict[str, Metric]:
    from .metrics_extra import RecallAtOne

    return {"recall_at_1": RecallAtOne()}


def _sequence(_: int) -> dict[str, Metric]:
    from .metrics_extra import CharErrorRate, SequenceAccuracy

    return {"seq_acc": SequenceAccuracy(), "cer": CharErrorRate()}


def _count(_: int) -> dict[str, Metric]:
    from torchmetrics.regression import MeanAbsoluteError

    from .metrics_extra import PoissonDeviance

    return {"deviance": PoissonDeviance(), "mae": MeanAbsoluteError()}


TASK_METRICS: dict[str, MetricFactory] = {
    "multiclass": _multiclass,
    "multilabel": _multilabel,
    "binary": _binary,
    "regression": _regression,
    "embedding": _embedding,
    "sequence": _sequence,
    "count": _count,
}


def build_metrics(task: str, num_outputs: int, device: torch.device) -> MetricCollection:
    from torchmetrics import MetricCollection

    return MetricCollection(TASK_METRICS[task](num_outputs)).to(device)


def metric_target(task: str, target: Tensor) -> Tensor:
    """torchmetrics wants integer targets for classification."""
    return target.long() if task in ("multilabel", "binary") else target
