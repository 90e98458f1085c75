"""``count``: non-negative integer counts (Poisson-like targets).

Scored by the mean Poisson deviance (the main metric, lower is better) and the MAE of the predicted
rates; targets stay raw counts (no standardisation).
"""

from __future__ import annotations

from torch import Tensor

from ..errors import UserError
from .base import Task, squeeze_values, values


class Count(Task):
    name = "count"
    summary = "non-negative integer counts"
    main_metric, mode = "deviance", "min"
    metric_names = ("deviance", "mae")
    target = "counts >= 0 as floats (N,)"

    def metrics(self, num_outputs: int) -> dict:
        from torchmetrics.regression import MeanAbsoluteError

        from .metrics import PoissonDeviance

        return {"deviance": PoissonDeviance(), "mae": MeanAbsoluteError()}

    def predict(self, output: Tensor) -> Tensor:
        return squeeze_values(output)

    def check_targets(self, y: Tensor, num_outputs: int, where: str) -> None:
        negative = y < 0
        if bool(negative.any()):
            raise UserError(
                f"{where} must be counts (>= 0) for task=count, but {int(negative.sum())} are negative: "
                f"{values(y[negative])}; use task=regression for targets that can be negative"
            )


TASK = Count()
