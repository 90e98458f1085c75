"""``regression``: real-valued targets.

Datasets standardise the targets for training (``DataBundle.target_mean`` / ``target_std``); the
metrics (MAE, RMSE and R^2, the main metric) are reported in the target's own units.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .base import Task, squeeze_values


class Regression(Task):
    name = "regression"
    summary = "real-valued targets"
    main_metric, mode = "r2", "max"
    metric_names = ("mae", "rmse", "r2")
    target = "floats (N,) or (N, K)"

    def metrics(self, num_outputs: int) -> dict:
        from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

        return {"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False), "r2": R2Score()}

    def predict(self, output: Tensor) -> Tensor:
        return squeeze_values(output)

    def to_units(self, preds: Tensor, target: Tensor, data: Any) -> tuple[Tensor, Tensor]:
        mean, std = data.target_mean, data.target_std
        return preds * std + mean, target * std + mean


TASK = Regression()
