"""losslab's loss library.

    >>> import losses
    >>> loss = losses.build("bce_logits", task="multiclass")   # one-hot targets, built in
    >>> losses.available("multilabel")

Every loss takes the model's raw output and the task's native target; see ``losses.registry``.
A user's own loss registers the same way, from their own module:

    @losses.register("entropy_ce", natural_task="multiclass", fits={"multiclass": "native"})
    class EntropyCE(losses.TaskLoss): ...

``losses.from_config`` builds a loss from any config form (a name, a user's ``target``, ``combo``).
"""

from . import (  # noqa: F401  (importing a loss module registers its losses)
    asl,
    balanced_softmax,
    binary_cross_entropy,
    cross_entropy,
    ctc,
    embedding,
    focal,
    from_config,
    gce,
    kl_div,
    ldam,
    likelihood,
    logit_adjust,
    mae,
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
from .combo import Combo
from .custom import CustomLoss
from .registry import (
    LOSSES,
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
    register,
)

__all__ = [
    "LOSSES",
    "TASKS",
    "Combo",
    "CustomLoss",
    "LossDoesNotFitTaskError",
    "LossError",
    "LossInfo",
    "TaskLoss",
    "UnknownLossError",
    "all_infos",
    "available",
    "build",
    "check_fits",
    "from_config",
    "info",
    "register",
]
