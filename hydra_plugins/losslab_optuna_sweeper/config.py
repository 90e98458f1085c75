"""The sweeper's config, registered as ``hydra/sweeper=losslab_optuna``."""

# No "from __future__ import annotations": Hydra imports plugin modules outside sys.modules, where
# dataclasses cannot resolve string annotations.
from dataclasses import dataclass, field
from typing import Any, Dict, Optional  # noqa: UP035  (runtime types for OmegaConf)

from hydra.core.config_store import ConfigStore


@dataclass
class LosslabOptunaSweeperConf:
    _target_: str = "hydra_plugins.losslab_optuna_sweeper.sweeper.LosslabOptunaSweeper"
    # The key of the job's results (metrics.json) to optimise, e.g. val/acc or val/loss.
    metric: str = "val/loss"
    # minimize | maximize (min | max accepted, so a task's main_metric_mode can be used directly).
    direction: str = "minimize"
    # Trials the study should hold when done; a resumed study runs only the missing ones.
    n_trials: int = 20
    # Trials asked and launched together (run in parallel with hydra/launcher=parallel).
    n_jobs: int = 1
    sampler: str = "tpe"  # tpe | random
    seed: Optional[int] = 0  # noqa: UP045
    study_name: str = "losslab"
    # Optuna storage URL; null: sqlite:///<sweep dir>/optuna.db, which a rerun in the same
    # hydra.sweep.dir continues.
    storage: Optional[str] = None  # noqa: UP045
    # Search space in Hydra's sweep syntax: interval(a,b), tag(log, interval(a,b)), range(a,b[,step]),
    # choice(a,b,...) or a,b,...; a plain value fixes the key.
    params: Dict[str, Any] = field(default_factory=dict)  # noqa: UP006
    # Stop unpromising trials from their per-epoch val metric: null (never), median or successive_halving,
    # with the keyword arguments of optuna's MedianPruner / SuccessiveHalvingPruner in pruner_args, set
    # whole: hydra.sweeper.pruner_args={n_startup_trials:3,n_warmup_steps:2} (steps are epochs).
    pruner: Optional[str] = None  # noqa: UP045
    pruner_args: Any = None  # a dict; Any, as OmegaConf cannot merge a dict into an Optional[Dict] that is None


ConfigStore.instance().store(
    group="hydra/sweeper", name="losslab_optuna", node=LosslabOptunaSweeperConf, provider="losslab"
)
