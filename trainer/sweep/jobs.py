"""Multirun jobs: skip what finished, resume what was interrupted, record what failed.

In ``python -m trainer -m ...`` every job goes through :func:`run_sweep_job`:

    same config finished here before (metrics.json)   -> skip, return its metrics
    same config interrupted here (checkpoints/last.pt) -> train with trainer.resume=true
    nothing here yet                                   -> train from scratch
    a different config ran here                        -> refuse (never mix two runs in one folder)

A job that raises (a UserError such as a loss that does not fit, a NaN divergence, a bug) writes
``failed.json`` with the reason into its run folder and returns None, so the other jobs go on.
Each job appends one line to ``<sweep dir>/jobs.jsonl``; :class:`SweepSummary` (a Hydra callback)
reads the lines of the current invocation at the end and prints which jobs failed and why.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from .. import plugins
from ..config import RESULT_NEUTRAL_KEYS, check_config, drop_keys, flatten
from ..errors import UserError

log = logging.getLogger("losslab")

JOB_FILE = "job.json"
FAILED_FILE = "failed.json"
METRICS_FILE = "metrics.json"
LEDGER_FILE = "jobs.jsonl"


class SweepConflict(UserError):
    """The run folder holds a run of a different configuration."""


def fingerprint(config: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """The resolved config as plain JSON data, minus the keys that do not change the result."""
    container = OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else config
    return drop_keys(json.loads(json.dumps(container)), RESULT_NEUTRAL_KEYS)


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The keys whose values differ; a key in only one of them is one that the schema of that version
    (or that choice of model, dataset, ...) does not have, and so not a difference of the run."""
    a, b = flatten(old), flatten(new)
    return [f"{k}: {a[k]} -> {b[k]}" for k in sorted(set(a) & set(b)) if a[k] != b[k]]


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _previous_config(run_dir: Path) -> dict[str, Any] | None:
    """The config of whatever ran in ``run_dir`` before: job.json, else the last checkpoint's."""
    job = read_json(run_dir / JOB_FILE)
    if job and "config" in job:
        return job["config"]
    last = run_dir / "checkpoints" / "last.pt"
    if last.exists():
        from ..train import checkpoint

        try:
            return fingerprint(checkpoint.load(last).get("config") or {})
        except UserError:
            return None
    return None


def decide(run_dir: Path, config: dict[str, Any]) -> str:
    """What a job should do in ``run_dir``: 'skip', 'resume' or 'fresh' (raises SweepConflict)."""
    previous = _previous_config(run_dir)
    has_metrics = (run_dir / METRICS_FILE).exists()
    if previous is None:
        if has_metrics:
            raise SweepConflict(
                f"{run_dir} already holds a finished run whose config is unknown (no {JOB_FILE}, no checkpoint); "
                "use a new hydra.sweep.dir, or delete that folder to run this job again"
            )
        return "fresh"
    differences = config_diff(previous, config)
    if differences:
        changes = "; ".join(differences[:5])
        raise SweepConflict(
            f"{run_dir} holds a run of a different configuration ({changes}). "
            "A sweep resumes only identical jobs: use a new hydra.sweep.dir, or delete that folder to rerun it"
        )
    if has_metrics:
        return "skip"
    # Any checkpoint will do: trainer.resume takes the newest one that reads back.
    if any((run_dir / "checkpoints").glob("*.pt")):
        return "resume"
    return "fresh"


def _clear_stale(run_dir: Path) -> None:
    """Before a fresh start: drop what an earlier attempt of the same job left without a checkpoint."""
    for path in run_dir.glob("events.out.tfevents.*"):
        path.unlink()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def _append_ledger(sweep_dir: Path, entry: dict[str, Any]) -> None:
    # One short line per job, appended with O_APPEND: safe with jobs in parallel processes.
    line = (json.dumps(entry, default=str) + "\n").encode()
    fd = os.open(sweep_dir / LEDGER_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _threads(cfg: DictConfig) -> int:
    import torch

    return int(cfg.trainer.num_threads or torch.get_num_threads())


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for this job: a second job there (the same overrides twice in one
    parallel sweep, or two sweeps in one folder) is refused. The OS drops the lock if the job dies."""
    fd = os.open(run_dir / ".job.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepConflict(
                f"another job is running in {run_dir} right now (the same overrides twice in one sweep, "
                "or two sweeps in one hydra.sweep.dir)"
            ) from None
        yield
    finally:
        os.close(fd)


def run_sweep_job(cfg: DictConfig, run_dir: Path, train_fn: Callable[[DictConfig, Path], dict]) -> dict | None:
    """Run one multirun job (see the module docstring); returns its results, or None if it failed."""
    hydra_cfg = HydraConfig.get()
    sweep_dir = Path(hydra_cfg.sweep.dir).resolve()
    name = str(run_dir.relative_to(sweep_dir)) if run_dir.is_relative_to(sweep_dir) else run_dir.name
    overrides = list(hydra_cfg.overrides.task)
    entry: dict[str, Any] = {"job": hydra_cfg.job.num, "run": name, "overrides": overrides}
    try:
        with _exclusive(run_dir):
            return _run_job(cfg, run_dir, train_fn, sweep_dir, name, entry)
    except SweepConflict as exc:  # not this job's folder: report, and write nothing into it
        print(f"[sweep] {name}: FAILED: {exc}", file=sys.stderr)
        _append_ledger(sweep_dir, {**entry, "status": "failed", "reason": str(exc)})
        return None


def _run_job(cfg: DictConfig, run_dir: Path, train_fn, sweep_dir: Path, name: str, entry: dict) -> dict | None:
    overrides = entry["overrides"]
    with contextlib.suppress(Exception):  # train_fn checks again and records a refusal as this job's failure
        check_config(cfg)  # the fingerprint is of the checked config (model=auto as the model it stands for)
    main_key = f"val/{cfg.task.main_metric}"
    config = fingerprint(cfg)
    started = time.time()
    action = decide(run_dir, config)  # a conflict leaves the folder as it is (the run writes .hydra/ itself)

    if action == "skip":
        results = read_json(run_dir / METRICS_FILE) or {}
        failed = read_json(run_dir / FAILED_FILE)
        status = "failed" if failed else "skipped"
        print(f"[sweep] {name}: already complete, skipped ({_fmt(results, main_key)})")
        _append_ledger(
            sweep_dir,
            {**entry, "status": status, "reason": (failed or {}).get("reason"), main_key: results.get(main_key)},
        )
        return results

    (run_dir / FAILED_FILE).unlink(missing_ok=True)
    # Seconds spent on this run over all its attempts: a resumed run's metrics.json counts only the last.
    earlier = float((read_json(run_dir / JOB_FILE) or {}).get("total_wall_time_s", 0.0)) if action == "resume" else 0.0
    if action == "fresh":
        _clear_stale(run_dir)
    job = {
        "overrides": overrides,
        "action": action,
        "status": "running",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "torch_threads": _threads(cfg),
        "pid": os.getpid(),
        "config": config,
    }
    _write_json(run_dir / JOB_FILE, job)
    cfg.trainer.resume = action == "resume"
    if action == "resume":
        print(f"[sweep] {name}: resuming from its checkpoint in {run_dir / 'checkpoints'}")

    def finish(status: str) -> None:
        spent = time.time() - started
        timing = {"wall_time_s": round(spent, 3), "total_wall_time_s": round(earlier + spent, 3)}
        _write_json(run_dir / JOB_FILE, {**job, "status": status, **timing})

    try:
        results = train_fn(cfg, run_dir)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # Ctrl-C / SIGTERM: the whole sweep stops; resume later
            finish("interrupted")
            raise
        # Any other failure of one job must not stop the sweep: record it and go on.
        reason = failure_reason(exc)
        trace = None if isinstance(exc, UserError) else traceback.format_exc()
        _write_json(
            run_dir / FAILED_FILE,
            {"reason": reason, "error": type(exc).__name__, "overrides": overrides, "traceback": trace},
        )
        finish("failed")
        yours = plugins.user_traceback(exc)  # an exception in the user's own loss, model or data
        if yours:
            print(yours, file=sys.stderr, end="")
        print(f"[sweep] {name}: FAILED: {reason}", file=sys.stderr)
        _append_ledger(sweep_dir, {**entry, "status": "failed", "action": action, "reason": reason})
        return None

    status, reason = "completed", None
    value = results.get(main_key)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        status, reason = "failed", f"diverged: {main_key} is {value}"
        _write_json(run_dir / FAILED_FILE, {"reason": reason, "error": "Diverged", "overrides": overrides})
    finish(status)
    print(f"[sweep] {name}: {status}{' (resumed)' if action == 'resume' else ''} ({_fmt(results, main_key)})")
    _append_ledger(sweep_dir, {**entry, "status": status, "action": action, "reason": reason, main_key: value})
    return results


def _fmt(results: dict, main_key: str) -> str:
    shown = {k: results[k] for k in (main_key, main_key.replace("val/", "test/", 1)) if k in results}
    parts = [f"{k}={v:.4f}" for k, v in shown.items() if isinstance(v, (int, float))]
    if "epochs" in results:
        parts.append(f"{results['epochs']} epochs, {results.get('wall_time_s', float('nan')):.1f}s")
    return ", ".join(parts) or "no metrics"


def read_ledger(sweep_dir: Path, offset: int = 0) -> list[dict[str, Any]]:
    path = sweep_dir / LEDGER_FILE
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(offset)
        return [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]


def summarize(entries: list[dict[str, Any]], sweep_dir: Path) -> str:
    counts: dict[str, int] = {}
    for e in entries:
        key = "resumed" if e.get("action") == "resume" and e["status"] == "completed" else e["status"]
        counts[key] = counts.get(key, 0) + 1
    order = ("completed", "resumed", "skipped", "failed")
    parts = [f"{counts[k]} {k if k != 'skipped' else 'skipped (already complete)'}" for k in order if counts.get(k)]
    lines = [f"\nSweep summary: {len(entries)} jobs: {', '.join(parts) or 'none'}"]
    for e in entries:
        if e["status"] == "failed":
            reason = str(e.get("reason")).replace("\n", "\n      ")
            lines.append(f"  FAILED {e['run']}: {reason}")
    lines += [
        f"  sweep directory: {sweep_dir}",
        f"  compare the runs: python -m trainer.sweep.report {sweep_dir}",
        f"  view the curves:  tensorboard --logdir {sweep_dir} --host localhost",
    ]
    return "\n".join(lines)


class SweepSummary(Callback):
    """Hydra callback: at the end of a multirun, print which jobs completed, were skipped or failed.

    A grid sweep (the basic sweeper) with a failed job exits with status 1 after the summary; a
    search (the Optuna sweeper) treats failed trials as part of the search and exits 0.
    """

    def __init__(self) -> None:
        self._offset = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        ledger = Path(config.hydra.sweep.dir) / LEDGER_FILE
        self._offset = ledger.stat().st_size if ledger.exists() else 0

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        entries = read_ledger(sweep_dir, self._offset)
        print(summarize(entries, sweep_dir), flush=True)
        grid = "BasicSweeper" in str(config.hydra.sweeper.get("_target_", ""))
        if grid and any(e["status"] == "failed" for e in entries):
            sys.exit(1)
