"""Optuna pruning from inside a trial: ``hydra.sweeper.pruner=median`` (or ``successive_halving``).

The losslab Optuna sweeper runs each trial as a Hydra job and marks the trial with its run folder
(``user_attrs.run_dir``). The job finds its trial in the study's storage by that folder, reports
the sweeper's metric after every validation (``trial.report(value, epoch)``) and asks the pruner,
built here from the same config, whether to stop. A pruned run stops like an early-stopped one:
its best checkpoint is tested, metrics.json says ``stop_reason: pruned by Optuna ...``, and the
sweeper records the trial as PRUNED (Optuna gives it the last reported value).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from trainer.errors import UserError

PRUNERS = {"median": "MedianPruner", "successive_halving": "SuccessiveHalvingPruner"}


def make_pruner(name: str | None, args: dict[str, Any] | None = None) -> Any:
    """Optuna's pruner for ``hydra.sweeper.pruner`` with ``hydra.sweeper.pruner_args`` (None: no pruning)."""
    import optuna

    if name is None:
        if args:
            choices = " or ".join(PRUNERS)
            raise UserError(f"hydra.sweeper.pruner_args is set but hydra.sweeper.pruner is null; choose {choices}")
        return None
    if name not in PRUNERS:
        raise UserError(f"hydra.sweeper.pruner={name!r} is not a pruner; choose one of: {', '.join(PRUNERS)}")
    cls = getattr(optuna.pruners, PRUNERS[name])
    accepted = [p for p in inspect.signature(cls).parameters if p != "self"]
    unknown = sorted(set(args or {}) - set(accepted))
    if unknown:
        raise UserError(
            f"hydra.sweeper.pruner_args: {', '.join(unknown)} is not an argument of optuna's {cls.__name__}; "
            f"its arguments are: {', '.join(accepted)}"
        )
    return cls(**dict(args or {}))


class TrialPruning:
    """The running trial of this job, reporting one value per validation to its study."""

    def __init__(self, trial: Any, metric: str, number: int) -> None:
        self.trial, self.metric, self.number = trial, metric, number

    @classmethod
    def from_hydra(cls) -> TrialPruning | None:
        """The trial this Hydra job runs, when it runs under the losslab Optuna sweeper with a pruner."""
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        hydra_cfg = HydraConfig.get()
        sweeper = hydra_cfg.sweeper
        if "losslab_optuna_sweeper" not in str(sweeper.get("_target_", "")) or sweeper.get("pruner") is None:
            return None
        import optuna
        from optuna.trial import TrialState

        pruner = make_pruner(sweeper.pruner, sweeper.get("pruner_args"))
        storage = sweeper.storage or f"sqlite:///{Path(str(hydra_cfg.sweep.dir)).resolve() / 'optuna.db'}"
        study = optuna.load_study(study_name=sweeper.study_name, storage=storage, pruner=pruner)
        run_dir = str(hydra_cfg.sweep.subdir)
        trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        running = [t for t in trials if t.user_attrs.get("run_dir") == run_dir]
        if not running:  # the job runs outside the search (the sweep command rerun by hand): nothing to report
            return None
        frozen = running[-1]
        return cls(optuna.trial.Trial(study, frozen._trial_id), str(sweeper.metric), frozen.number)

    def should_stop(self, val: dict[str, float], epoch: int) -> str:
        """Report this validation; why the run stops (``""``: it goes on)."""
        name = self.metric.removeprefix("val/")
        if name not in val:
            raise UserError(
                f"hydra.sweeper.metric={self.metric!r} is not a validation metric of this run, so the pruner cannot "
                f"follow it; choose one of: {', '.join(f'val/{k}' for k in val)}"
            )
        self.trial.report(float(val[name]), step=epoch + 1)
        if not self.trial.should_prune():
            return ""
        return f"pruned by Optuna after epoch {epoch + 1}: {self.metric}={val[name]:.6g} (trial {self.number})"
