"""losslab's loss library.

    >>> import losses
    >>> loss = losses.build("bce_logits", task="multiclass")   # one-hot targets, built in
    >>> losses.available("multilabel")

Every loss takes the model's raw output and the task's native target; see ``losses.registry``.
"""

from . import (  # noqa: F401  (importing a loss module registers its losses)
    asl,
    binary_cross_entropy,
    cross_entropy,
    ctc,
    embedding,
    focal,
    gce,
    kl_div,
    likelihood,
    margin,
    multi_margin,
    multilabel_margin,
    nce_rce,
    poly1,
    regression,
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
