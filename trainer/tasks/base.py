"""The ``Task`` base class: everything losslab knows about one task type, in one object.

A task says what its targets are and how they are checked, which metrics score it (and which one
picks the best epoch), how a model's raw outputs become predictions, how predictions return to the
data's own units, and how its labels are corrupted for label-noise studies. Each task type is one
module of this package; ``trainer.tasks`` registers them in ``trainer.registry.TASKS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError

if TYPE_CHECKING:  # torchmetrics is slow to import: only when a run first evaluates
    from torchmetrics import Metric


class Task:
    """One task type. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    summary: ClassVar[str]
    # The validation metric that picks the best checkpoint and sorts comparisons, and its direction.
    main_metric: ClassVar[str]
    mode: ClassVar[str] = "max"
    metric_names: ClassVar[tuple[str, ...]]
    # The native target, in words, and its dtype (what a dataset hands the loss).
    target: ClassVar[str]
    target_dtype: ClassVar[torch.dtype] = torch.float32
    # data.label_noise modes this task supports; empty: its targets are not class labels.
    noise_modes: ClassVar[tuple[str, ...]] = ()

    def metrics(self, num_outputs: int) -> dict[str, Metric]:
        """Fresh torchmetrics metrics, one per name of ``metric_names``."""
        raise NotImplementedError

    def predict(self, output: Tensor) -> Tensor:
        """The task's scores from a model's raw output, for losses that do not define their own."""
        return output

    def to_units(self, preds: Tensor, target: Tensor, data: Any) -> tuple[Tensor, Tensor]:
        """Predictions and targets in the data's own units, as the metrics report them."""
        return preds, target

    def metric_target(self, target: Tensor) -> Tensor:
        """The target as torchmetrics takes it."""
        return target

    def check_targets(self, y: Tensor, num_outputs: int, where: str) -> None:
        """Raise a UserError saying what is wrong and how to fix it when ``y`` cannot train this task."""

    def corrupt(
        self, y: np.ndarray, fraction: float, mode: str, num_classes: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``y`` with a ``fraction`` of its labels corrupted as ``mode`` says (see trainer.tasks.label_noise)."""
        raise UserError(f"task {self.name!r} has no class labels to corrupt; set data.label_noise=0")

    def __repr__(self) -> str:
        return f"<task {self.name}>"


def values(t: Tensor, limit: int = 5) -> str:
    """'0, 3, 7 (and 2 more distinct values)': the distinct values of ``t``, for error messages."""
    unique = torch.unique(t)
    shown = ", ".join(f"{v:g}" if t.is_floating_point() else str(int(v)) for v in unique[:limit].tolist())
    return shown + (f" (and {len(unique) - limit} more distinct values)" if len(unique) > limit else "")


def check_class_indices(y: Tensor, num_classes: int, where: str, task: str) -> None:
    """Targets that are one class index in [0, num_classes) per sample (multiclass, embedding)."""
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise UserError(f"{where} must be class indices for task={task}, but some are fractions ({values(y)})")
    outside = (y < 0) | (y >= num_classes)
    if bool(outside.any()):
        raise UserError(
            f"{where} must be class indices in [0, {num_classes}) for task={task} with {num_classes} "
            f"classes, but {int(outside.sum())} are outside: {values(y[outside])}. Class indices start "
            "at 0; relabel the data (e.g. 1..C -> 0..C-1) or check the target column."
        )


def check_zero_one(y: Tensor, where: str, task: str, fix: str) -> None:
    """Targets that are 0 or 1 (binary, multilabel)."""
    not01 = (y != 0) & (y != 1)
    if bool(not01.any()):
        raise UserError(
            f"{where} must be 0 or 1 for task={task}, but {int(not01.sum())} are not: {values(y[not01])}; {fix}"
        )


def pick(indices: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """round(fraction * len(indices)) of ``indices``, drawn at random: the labels that label noise changes."""
    return rng.permutation(indices)[: int(round(fraction * len(indices)))]


def squeeze_values(output: Tensor) -> Tensor:
    """(N, 1) -> (N,): one predicted value per sample (regression, count)."""
    return output.squeeze(-1) if output.dim() > 1 and output.shape[-1] == 1 else output
