"""Optuna search as a Hydra sweeper: ``python -m trainer -m hparams_search=<name>``.

Each trial is one Hydra job, launched by the configured launcher (one at a time, or ``n_jobs`` at
a time with ``hydra/launcher=parallel``), in ``<sweep dir>/trial_<number>``. The job's results
(the dict ``python -m trainer`` returns in a multirun, as in metrics.json) give the objective.

The study lives in ``<sweep dir>/optuna.db`` (SQLite). Running the same command with the same
``hydra.sweep.dir`` continues it: finished trials are kept, a trial that was running when the
process died is marked failed (``user_attrs.interrupted``) and its parameters are run again in
its own folder, where the job resumes from its checkpoint; only the missing trials are run.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from trainer.errors import UserError
from trainer.sweep.pruning import make_pruner

log = logging.getLogger(__name__)

DIRECTIONS = {"min": "minimize", "max": "maximize", "minimize": "minimize", "maximize": "maximize"}


def to_distribution(override: Override) -> Any:
    """An Optuna distribution from a sweep override: interval, tag(log, interval), range, choice."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key = override.get_key_element()
    value = override.value()
    if override.is_choice_sweep():
        return CategoricalDistribution(list(value.list))
    if override.is_range_sweep():
        values = list(override.sweep_iterator())
        if all(isinstance(v, int) for v in values) and len(values) > 1:
            return IntDistribution(values[0], values[-1], step=values[1] - values[0])
        return CategoricalDistribution(values)
    if override.is_interval_sweep():
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise HydraException(f"{key}: cannot search over {override.input_line!r}; use interval(), range() or choice()")


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value) if isinstance(value, float) else str(value)


class LosslabOptunaSweeper(Sweeper):
    def __init__(
        self,
        metric: str,
        direction: str,
        n_trials: int,
        n_jobs: int,
        sampler: str,
        seed: int | None,
        study_name: str,
        storage: str | None,
        params: dict[str, Any],
        pruner: str | None = None,
        pruner_args: dict[str, Any] | None = None,
    ) -> None:
        if str(direction) not in DIRECTIONS:
            raise HydraException(f"hydra.sweeper.direction={direction!r}: use minimize or maximize (or min, max)")
        if sampler not in ("tpe", "random"):
            raise HydraException(f"hydra.sweeper.sampler={sampler!r}: use tpe or random")
        if n_trials < 1 or n_jobs < 1:
            raise HydraException("hydra.sweeper.n_trials and hydra.sweeper.n_jobs must be at least 1")
        if pruner is not None and not str(metric).startswith("val/"):
            raise HydraException(
                f"hydra.sweeper.pruner={pruner} follows the metric per epoch, but hydra.sweeper.metric={metric!r} "
                "is not a validation metric; use val/<name>, e.g. val/loss"
            )
        try:
            make_pruner(pruner, dict(pruner_args or {}))  # checked before any trial runs; each job builds its own
        except UserError as exc:
            raise HydraException(str(exc)) from exc
        self.pruner = pruner
        self.metric = metric
        self.direction = DIRECTIONS[str(direction)]
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.sampler_name = sampler
        self.seed = seed
        self.study_name = study_name
        self.storage = storage
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    # ------------------------------------------------------------------ search space

    def search_space(self, arguments: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
        """(key -> distribution, key -> fixed override); the command line wins over ``params``."""
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        from_config = [f"{k}={format_value(v)}" for k, v in self.params.items()]
        space: dict[str, Any] = {}
        fixed: dict[str, str] = {}
        for override in parser.parse_overrides(from_config) + parser.parse_overrides(arguments):
            key = override.get_key_element()
            space.pop(key, None)
            fixed.pop(key, None)
            if override.is_sweep_override():
                space[key] = to_distribution(override)
            else:
                fixed[key] = override.input_line or f"{key}={override.get_value_element_as_str()}"
        if not space:
            raise HydraException("the search space is empty: set hydra.sweeper.params (see conf/hparams_search/)")
        return space, fixed

    # ------------------------------------------------------------------ the study

    def _sampler(self, offset: int) -> Any:
        import optuna

        # On resume, offset the seed by the trials already run so a resumed study does not replay
        # the first random proposals of the earlier session.
        seed = None if self.seed is None else self.seed + offset
        if self.sampler_name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed)

    def _open_study(self, sweep_dir: Path) -> Any:
        import optuna

        storage = self.storage or f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
        study = optuna.create_study(
            study_name=self.study_name, storage=storage, direction=self.direction, load_if_exists=True
        )
        if study.direction.name.lower() != self.direction:
            raise HydraException(
                f"study {self.study_name!r} in {storage} was created to {study.direction.name.lower()}, "
                f"not to {self.direction}; use another hydra.sweep.dir or study_name"
            )
        study.sampler = self._sampler(len(study.trials))
        self._requeue_interrupted(study)
        return study

    @staticmethod
    def _requeue_interrupted(study: Any) -> None:
        """Trials left RUNNING by a process that died: mark them failed, run their parameters again."""
        import optuna
        from optuna.trial import TrialState

        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trial = optuna.trial.Trial(study, frozen._trial_id)
            trial.set_user_attr("interrupted", True)
            study.tell(trial, state=TrialState.FAIL)
            run_dir = frozen.user_attrs.get("run_dir", f"trial_{frozen.number:03d}")
            study.enqueue_trial(frozen.params, user_attrs={"run_dir": run_dir, "resumes": frozen.number})
            log.info("trial %d was interrupted; its parameters run again in %s", frozen.number, run_dir)

    @staticmethod
    def _finished(study: Any) -> int:
        from optuna.trial import TrialState

        done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return sum(1 for t in study.get_trials(deepcopy=False, states=done) if not t.user_attrs.get("interrupted"))

    def _objective(self, ret: JobReturn) -> tuple[float | None, str | None]:
        """The trial's value, or None and why it failed (or was pruned: the reason starts with "pruned")."""
        run_dir = Path(str(ret.hydra_cfg.hydra.runtime.output_dir)) if ret.hydra_cfg else None
        if ret.status != JobStatus.COMPLETED:
            exc = ret._return_value
            return None, f"{type(exc).__name__}: {exc}"
        results = ret._return_value
        if not isinstance(results, dict):
            failed = _read_json(run_dir / "failed.json") if run_dir else None
            return None, (failed or {}).get("reason", "the job returned no results")
        if str(results.get("stop_reason", "")).startswith("pruned"):
            return None, results["stop_reason"]
        if self.metric not in results:
            keys = ", ".join(k for k in results if isinstance(results[k], (int, float)))
            raise HydraException(
                f"hydra.sweeper.metric={self.metric!r} is not in the job's results; choose one of: {keys}"
            )
        value = results[self.metric]
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None, f"diverged: {self.metric} is {value}"
        return float(value), None

    def sweep(self, arguments: list[str]) -> Any:
        from optuna.trial import TrialState

        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        space, fixed = self.search_space(list(arguments))
        study = self._open_study(sweep_dir)
        remaining = self.n_trials - self._finished(study)
        log.info(
            "Optuna study %r (%s %s): %d trials in %s, %d to run",
            self.study_name,
            self.direction,
            self.metric,
            self._finished(study),
            sweep_dir / "optuna.db" if not self.storage else self.storage,
            max(remaining, 0),
        )
        returns = []
        while remaining > 0:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, remaining))]
            batch = []
            for trial in trials:
                run_dir = trial.user_attrs.get("run_dir", f"trial_{trial.number:03d}")
                trial.set_user_attr("run_dir", run_dir)
                params = [f"{k}={format_value(v)}" for k, v in trial.params.items()]
                batch.append([*fixed.values(), *params, f"hydra.sweep.subdir={run_dir}"])
            results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, ret in zip(trials, results):
                value, reason = self._objective(ret)
                if value is None and str(reason).startswith("pruned"):
                    trial.set_user_attr("pruned_reason", reason)
                    study.tell(trial, state=TrialState.PRUNED)  # Optuna keeps its last reported value
                    log.info("trial %d %s", trial.number, reason)
                elif value is None:
                    trial.set_user_attr("fail_reason", reason)
                    study.tell(trial, state=TrialState.FAIL)
                    log.info("trial %d failed: %s", trial.number, reason)
                else:
                    study.tell(trial, value)
                    log.info("trial %d: %s=%.5g %s", trial.number, self.metric, value, trial.params)
            returns.append(results)
            remaining -= len(trials)
        self._report(study, sweep_dir)
        return returns

    def _report(self, study: Any, sweep_dir: Path) -> None:
        """best.json and trials.csv next to the study; the best trial on the terminal."""
        from optuna.trial import TrialState

        write_trials_csv(study, sweep_dir / "trials.csv")
        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            print(f"\nOptuna: no trial of study {self.study_name!r} completed; see failed.json in the trial folders")
            return
        best = study.best_trial
        summary = {
            "study": self.study_name,
            "metric": self.metric,
            "direction": self.direction,
            "value": best.value,
            "params": best.params,
            "trial": best.number,
            "run_dir": best.user_attrs.get("run_dir"),
            "n_trials": len(study.trials),
            "n_pruned": len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
        }
        (sweep_dir / "best.json").write_text(json.dumps(summary, indent=2) + "\n")
        params = " ".join(f"{k}={format_value(v)}" for k, v in best.params.items())
        pruned = f", {summary['n_pruned']} pruned" if summary["n_pruned"] else ""
        print(
            f"\nOptuna: best of {len(study.trials)} trials{pruned} is #{best.number} ({summary['run_dir']}): "
            f"{self.metric}={best.value:.5g} with {params}\n"
            f"  study: {sweep_dir / 'optuna.db'} (name {self.study_name!r}); trials.csv and best.json beside it"
        )


def write_trials_csv(study: Any, path: Path) -> None:
    """One line per trial: number, state, value, run folder, validations reported, why it failed or was
    pruned, then its parameters."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({name for t in trials for name in t.params})
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        header = ["number", "state", "value", "run_dir", "epochs_reported", "reason", "interrupted", "seconds"]
        writer.writerow([*header, *names])
        for t in trials:
            seconds = t.duration.total_seconds() if t.duration else ""
            attrs = t.user_attrs
            writer.writerow(
                [
                    t.number,
                    t.state.name,
                    "" if t.value is None else t.value,
                    attrs.get("run_dir", ""),
                    len(t.intermediate_values),
                    attrs.get("fail_reason", attrs.get("pruned_reason", "")),
                    attrs.get("interrupted", False),
                    seconds,
                    *(t.params.get(n, "") for n in names),
                ]
            )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
