"""losslab's loss library.

    >>> import losses
    >>> loss = losses.build("bce_logits", task="multiclass")   # one-hot targets, built in
    >>> losses.available("multilabel")

Every loss takes the model's raw output and the task's native target; see ``losses.registry``.
"""

from . import binary_cross_entropy, cross_entropy, margin, regression  # noqa: F401  (registers)
from . import (  # noqa: F401  (classification losses beyond torch.nn's basics; registers)
    asl,
    focal,
    gce,
    kl_div,
    multi_margin,
    multilabel_margin,
    nce_rce,
    poly1,
    sce,
    soft_ce,
    soft_margin,
)
from .base import TaskLoss
from .registry import (
    TASKS,
    LossDoesNotFitTaskError,
    LossError,
    LossInfo,
    UnknownLossError,
    all_infos,
    available,
    build,
    check_fits,
    info,
)

__all__ = [
    "TASKS",
    "LossDoesNotFitTaskError",
    "LossError",
    "LossInfo",
    "TaskLoss",
    "UnknownLossError",
    "all_infos",
    "available",
    "build",
    "check_fits",
    "info",
]
