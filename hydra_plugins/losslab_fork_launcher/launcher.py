"""Run a sweep's jobs in worker processes forked from a warm process that has imported the harness.

Hydra's joblib launcher starts fresh interpreters (loky): each worker imports torch, torchmetrics
and the harness again, which takes longer than a small job trains (docs/performance.md). Here the
workers start with those modules already imported (copy-on-write), so a sweep of
small jobs keeps every core busy from its first second.

Before the first job Hydra's sweeper also composes every job's config to validate the sweep. The
launcher therefore forks a *preloader* process as
soon as Hydra sets it up: the preloader imports the ``preload`` modules on one core while the
sweep process validates on another, and the job workers are forked from the preloader when the
jobs arrive. The sweep process sends it the job overrides and gets each job's result back (pipes,
pickle). The preloader ends with the sweep process.

Fork safety: neither the sweep process nor the preloader runs a torch operation or touches a GPU
before forking, so the workers start with no OpenMP pool or CUDA context to inherit. Each worker
sets its own intra-op thread count (cores // n_jobs), like loky's OMP_NUM_THREADS.

Signals: the preloader and the workers run in their own process groups, so Ctrl-C reaches only the
sweep process, which passes each SIGINT/SIGTERM on to the workers exactly once per signal (the
first stops a job after a checkpoint, a second aborts it, as in a single run) and starts no new
job. A job still starting (before the trainer's own stop request is in place) ends without a
checkpoint; a worker between jobs ignores the signals, since dying there would lose the job it was
taking from the pool's queue. The sweep then exits with the jobs' status (130/143) and the command
to resume it, printed by the jobs, or by the launcher when no job could.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import ctypes
import functools
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)
_FORK = multiprocessing.get_context("fork")


class _Stopped:
    """What a worker returns for a job that exited (SystemExit): stopped by a signal, or a usage error;
    or that a signal interrupted before it could save a checkpoint (``said_how_to_resume=False``).

    A plain class: Hydra loads plugin modules outside sys.modules, where dataclasses fail.
    """

    def __init__(self, code: int | str | None, said_how_to_resume: bool = True) -> None:
        self.code = code
        self.said_how_to_resume = said_how_to_resume


class PreloaderError(RuntimeError):
    """The preloader process ended or failed: the sweep cannot go on (its output says why)."""


# The signals the sweep process passes on to the workers (module docstring).
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# Set in the sweep process before the preloader is forked; the preloader and the workers inherit it.
_SHARED: dict[str, Any] = {}


def _init_worker(threads: int) -> None:
    os.setpgrp()  # Ctrl-C goes to the sweep process only; it passes signals on (module docstring)
    _ignore_stop_signals()  # until a job starts (_run_job); forked with them blocked (_preloader_main)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    import torch

    torch.set_num_threads(threads)


def _job_config(
    context: HydraContext,
    master: DictConfig,
    overrides: Sequence[str],
    composed: bytes | None,
    resolver_cache: dict[str, Any],
) -> DictConfig:
    """A job's config: the one the sweeper composed to validate the batch (kept pickled by
    :meth:`ForkLauncher._keep_composed_configs`), else composed here. Either way with the sweep's
    resolver cache as it stood at launch (the ``${now:}`` of the sweep folder), as Hydra's own
    ``load_sweep_config`` at launch time gives it."""
    if composed is not None:
        config = pickle.loads(composed)  # noqa: S301  (bytes this sweep's own process pickled)
    else:
        config = context.config_loader.load_sweep_config(master, list(overrides))
    OmegaConf.set_cache(config, copy.deepcopy(resolver_cache))
    return config


class _JobInterrupted(BaseException):
    """SIGINT/SIGTERM while a job ran outside the trainer's own stop handling (starting, or a second signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _ignore_stop_signals() -> None:
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _interrupt_job(signum: int, _frame: Any) -> None:
    _ignore_stop_signals()  # one interruption per job: the clean-up after it must not be cut short
    raise _JobInterrupted(signum)


def _run_job(
    idx: int, overrides: Sequence[str], composed: bytes | None, resolver_cache: dict[str, Any]
) -> JobReturn | _Stopped | None:
    # Between jobs a worker ignores SIGINT/SIGTERM (_init_worker): killed there, it would lose the job
    # it was taking from the pool's queue, and the sweep would wait for that job forever. During a
    # job they interrupt it; the trainer puts its own stop request in place once it trains. The
    # handler goes in before the stop flag is read, as the sweep process sets the flag before it
    # forwards a signal: a job either sees the flag or gets the signal. (The flag is lock-free: an
    # exception raised while a worker held a lock would leave it held for every other worker.)
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _interrupt_job)
    try:
        if _SHARED["stop"].value:  # the sweep was asked to stop: start no new job
            return None
        # Hydra's singletons (config store, plugins) and resolvers are inherited from the sweep
        # process, as in its basic launcher. Not Singleton.set_state as in joblib's fresh workers:
        # that re-runs plugin modules, this one included, and would empty _SHARED.
        context: HydraContext = _SHARED["hydra_context"]
        sweep_config = _job_config(context, _SHARED["config"], overrides, composed, resolver_cache)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        HydraConfig.instance().set_config(sweep_config)
        result = run_job(
            hydra_context=context,
            config=sweep_config,
            task_function=_SHARED["task_function"],
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        # The result goes back through pipes (pickle): plain configs, without the structured-config
        # classes that trainer.config generates at import time (pickle cannot name them).
        result.cfg = OmegaConf.create(OmegaConf.to_container(result.cfg))
        result.hydra_cfg = OmegaConf.create(OmegaConf.to_container(result.hydra_cfg))
        return result
    except SystemExit as exc:  # trainer/__main__.py exits 130/143 after an interrupted job saved its checkpoint
        _ignore_stop_signals()
        _SHARED["stop"].value = True
        return _Stopped(exc.code)
    except (_JobInterrupted, KeyboardInterrupt) as exc:  # KeyboardInterrupt: the trainer's second Ctrl-C
        _ignore_stop_signals()
        _SHARED["stop"].value = True
        signum = exc.signum if isinstance(exc, _JobInterrupted) else signal.SIGINT
        print(f"job #{idx} stopped by {signal.Signals(signum).name} before it saved a checkpoint", file=sys.stderr)
        return _Stopped(128 + signum, said_how_to_resume=False)
    finally:
        _ignore_stop_signals()


def _preloader_main(conn: Connection, preload: Sequence[str]) -> None:
    """The preloader: import ``preload``, then run each batch of jobs the sweep process sends in a
    pool of workers forked from here, until the sweep process closes the pipe."""
    os.setpgrp()  # not reached by the terminal's Ctrl-C: the sweep process decides what stops
    for name in preload:
        # An optional extra that is not installed is skipped: the jobs import what they need.
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    while True:
        try:
            jobs, n_jobs, threads = conn.recv()
        except EOFError:  # the sweep is over (or its process died)
            return
        try:
            # Workers start with the stop signals blocked until _init_worker ignores them: one forwarded
            # that early must not kill a worker (its traceback, a replacement worker) either.
            signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            try:
                pool = _FORK.Pool(n_jobs, initializer=_init_worker, initargs=(threads,))
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            try:
                conn.send(("workers", [p.pid for p in pool._pool]))  # noqa: SLF001  (no public list)
                results = pool.starmap(_run_job, jobs, chunksize=1)
            finally:
                # close and join, not terminate (the pool's __exit__): terminate ends idle workers with
                # SIGTERM, which they ignore between jobs. Every job is done here; they exit on their own.
                pool.close()
                pool.join()
            conn.send(("results", results))
        except Exception:  # noqa: BLE001  (e.g. a result that does not pickle): the sweep process reports it
            conn.send(("error", traceback.format_exc()))


class ForkLauncher(Launcher):
    def __init__(self, n_jobs: int = -1, threads_per_job: int | None = None, preload: Sequence[str] = ()) -> None:
        self.n_jobs = n_jobs
        self.threads_per_job = threads_per_job
        self.preload = list(preload)
        self.config: DictConfig | None = None
        self._preloader: Any = None  # multiprocessing.Process
        self._conn: Connection | None = None
        self._composed: dict[tuple[str, ...], bytes] = {}  # job overrides -> its config, pickled

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self._stop_preloader()  # a second sweep in this process: start from this one's config
        setup_globals()  # Hydra's resolvers (${now:...}), registered before the fork so the jobs have them
        stop = _FORK.RawValue(ctypes.c_bool, False)  # set once the sweep is asked to stop (see _run_job)
        _SHARED.update(stop=stop, hydra_context=hydra_context, config=config, task_function=task_function)
        self._conn, child_conn = _FORK.Pipe()
        # Started now, before the sweeper validates the jobs' configs: the imports overlap with that.
        self._preloader = _FORK.Process(
            target=_preloader_main, args=(child_conn, self.preload), name="losslab-preloader", daemon=False
        )
        self._preloader.start()
        child_conn.close()
        self._keep_composed_configs(hydra_context)  # after the fork: only this process keeps them
        atexit.unregister(self._stop_preloader)  # once per launcher, however many sweeps it sets up
        atexit.register(self._stop_preloader)

    def _keep_composed_configs(self, hydra_context: HydraContext) -> None:
        """Keep each job config the sweeper composes to validate a batch, for the job's worker.

        Hydra's basic sweeper composes every job's config before launching a batch, only to check
        that it composes; the worker would then compose it again, most of the time between two small
        jobs. Kept pickled, a job's config costs its worker a fraction of that to load. A config that
        does not pickle, or a job the sweeper did not validate
        (losslab's Optuna sweeper launches its trials directly), is composed in the worker as before.
        """
        loader = hydra_context.config_loader
        compose = getattr(loader.load_sweep_config, "__wrapped__", loader.load_sweep_config)  # a second sweep
        self._composed.clear()

        @functools.wraps(compose)
        def load_sweep_config(master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
            config = compose(master_config, sweep_overrides)
            if master_config is self.config:
                with contextlib.suppress(pickle.PicklingError, TypeError, AttributeError):
                    self._composed[tuple(sweep_overrides)] = pickle.dumps(config)
            return config

        loader.load_sweep_config = load_sweep_config  # type: ignore[method-assign]

    def _stop_preloader(self) -> None:
        """Between batches the preloader only waits for the next one: end it when the sweep ends."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._preloader is not None:
            self._preloader.terminate()  # it may still be importing (a sweep that failed validation)
            self._preloader.join()
            self._preloader = None

    def _ended(self) -> PreloaderError:
        assert self._preloader is not None
        self._preloader.join()
        return PreloaderError(
            f"the fork launcher's preloader process ended unexpectedly (exit code {self._preloader.exitcode}); "
            "its output above says why. hydra/launcher=basic runs the jobs one at a time in this process"
        )

    def _send(self, message: Any) -> None:
        assert self._conn is not None
        try:
            self._conn.send(message)
        except (BrokenPipeError, ConnectionResetError):
            raise self._ended() from None

    def _receive(self) -> tuple[str, Any]:
        assert self._conn is not None
        try:
            kind, payload = self._conn.recv()
        except (EOFError, ConnectionResetError):
            raise self._ended() from None
        if kind == "error":
            raise PreloaderError(f"the fork launcher failed to run the jobs:\n{payload}")
        return kind, payload

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self._conn is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n_jobs = max(1, min(cores if self.n_jobs == -1 else self.n_jobs, len(job_overrides)))
        threads = self.threads_per_job or max(1, cores // n_jobs)
        log.info(f"ForkLauncher: {len(job_overrides)} jobs, {n_jobs} at a time, {threads} torch thread(s) each")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")

        stop = _SHARED["stop"]
        workers: list[int] = []
        received: list[int] = []  # the signals this sweep was sent
        early: list[int] = []  # signals that came before the workers' pids did

        def forward(signum: int, _frame: Any) -> None:
            stop.value = True
            received.append(signum)
            if not workers:
                early.append(signum)
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

        # Installed before the jobs go out: a signal before the workers are known still stops new jobs.
        previous = {sig: signal.signal(sig, forward) for sig in _STOP_SIGNALS}
        try:
            cache = OmegaConf.get_cache(self.config)
            jobs = [
                (initial_job_idx + i, list(o), self._composed.pop(tuple(o), None), cache)
                for i, o in enumerate(job_overrides)
            ]
            self._composed.clear()
            self._send((jobs, n_jobs, threads))
            workers.extend(self._receive()[1])
            if early:  # a job may have started before the stop flag was set: ask it too, once
                forward(early[0], None)
            results = self._receive()[1]
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        stopped = [r for r in results if isinstance(r, _Stopped)]
        not_started = any(r is None for r in results)  # a signal arrived before they started
        if stopped or not_started:
            if not any(r.said_how_to_resume for r in stopped):  # no job printed the command to go on
                from trainer.train.signals import resume_sweep_command  # the command the jobs print

                command = resume_sweep_command(Path(str(self.config.hydra.sweep.dir)), sys.argv[1:])
                print(
                    "\nthe sweep stopped before all its jobs finished (finished jobs are skipped on resume)"
                    f"\nresume with:\n  {command}",
                    file=sys.stderr,
                    flush=True,
                )
            sys.exit(stopped[0].code if stopped else 128 + (received or [signal.SIGINT])[0])
        return results
