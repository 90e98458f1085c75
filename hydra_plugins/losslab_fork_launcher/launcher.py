"""Run a sweep's jobs in worker processes forked from the sweep process, after it has imported torch.

Hydra's joblib launcher starts fresh interpreters (loky): each worker imports torch, scikit-learn,
torchmetrics and the harness again, about 4 s per worker on a 2-core machine, which is longer than
a small job trains. Forked workers start with those modules already imported (copy-on-write), so a
sweep of small jobs keeps both cores busy from its first second.

Fork safety: the sweep process imports modules but runs no torch operation and touches no GPU
before forking, so the workers start with no OpenMP pool or CUDA context to inherit. Each worker
sets its own intra-op thread count (cores // n_jobs), like loky's OMP_NUM_THREADS.

Signals: the workers run in their own process group, so Ctrl-C reaches only the sweep process,
which passes each SIGINT/SIGTERM on to the running jobs exactly once per signal (the first stops a
job after a checkpoint, a second aborts it, as in a single run) and starts no new job. It then
exits with the jobs' status (130/143) and the command to resume the sweep is the one printed by the
jobs.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


class _Stopped:
    """What a worker returns for a job that exited (SystemExit): stopped by a signal, or a usage error.

    A plain class: Hydra loads plugin modules outside sys.modules, where dataclasses fail.
    """

    def __init__(self, code: int | str | None) -> None:
        self.code = code


# Set in the sweep process just before the workers are forked; the workers inherit it (nothing pickled).
_SHARED: dict[str, Any] = {}


def _init_worker(threads: int) -> None:
    os.setpgrp()  # Ctrl-C goes to the sweep process only; it passes signals on (module docstring)
    import torch

    torch.set_num_threads(threads)


def _run_job(idx: int, overrides: Sequence[str]) -> JobReturn | _Stopped | None:
    if _SHARED["stop"].is_set():  # the sweep was asked to stop: start no new job
        return None
    # Hydra's singletons (config store, plugins) and resolvers are inherited from the sweep process,
    # as in its basic launcher. Not Singleton.set_state as in joblib's fresh workers: that re-runs
    # plugin modules, this one included, and would empty _SHARED.
    context: HydraContext = _SHARED["hydra_context"]
    sweep_config = context.config_loader.load_sweep_config(_SHARED["config"], list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    try:
        result = run_job(
            hydra_context=context,
            config=sweep_config,
            task_function=_SHARED["task_function"],
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    except SystemExit as exc:  # trainer/__main__.py exits 130/143 after an interrupted job saved its checkpoint
        _SHARED["stop"].set()
        return _Stopped(exc.code)
    # The result goes back through a pipe (pickle): plain configs, without the structured-config
    # classes that trainer.config generates at import time (pickle cannot name them).
    result.cfg = OmegaConf.create(OmegaConf.to_container(result.cfg))
    result.hydra_cfg = OmegaConf.create(OmegaConf.to_container(result.hydra_cfg))
    return result


class ForkLauncher(Launcher):
    def __init__(self, n_jobs: int = -1, threads_per_job: int | None = None, preload: Sequence[str] = ()) -> None:
        self.n_jobs = n_jobs
        self.threads_per_job = threads_per_job
        self.preload = list(preload)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n_jobs = max(1, min(cores if self.n_jobs == -1 else self.n_jobs, len(job_overrides)))
        threads = self.threads_per_job or max(1, cores // n_jobs)
        log.info(f"ForkLauncher: {len(job_overrides)} jobs, {n_jobs} at a time, {threads} torch thread(s) each")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")
        for name in self.preload:
            # An optional extra that is not installed is skipped: the jobs import what they need.
            with contextlib.suppress(ImportError):
                importlib.import_module(name)

        context = multiprocessing.get_context("fork")
        _SHARED.update(
            stop=context.Event(),
            hydra_context=self.hydra_context,
            config=self.config,
            task_function=self.task_function,
        )
        with context.Pool(n_jobs, initializer=_init_worker, initargs=(threads,)) as pool:
            workers = [p.pid for p in pool._pool]  # noqa: SLF001  (Pool has no public list of its workers)

            def forward(signum: int, _frame: Any) -> None:
                _SHARED["stop"].set()
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signum)

            previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                jobs = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
                results = pool.starmap(_run_job, jobs, chunksize=1)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        _SHARED.clear()
        stopped = [r for r in results if isinstance(r, _Stopped)]
        if stopped:
            sys.exit(stopped[0].code)
        if any(r is None for r in results):  # a signal arrived between jobs: none was interrupted mid-run
            sys.exit(130)
        return results
