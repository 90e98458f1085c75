"""Shared test helpers: compose configs, run the CLI, read TensorBoard event files."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# A suite started in the background by a non-interactive shell (`pytest &`) has SIGINT ignored, and
# every run it starts would inherit that; the Ctrl-C tests need runs that receive it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# Likewise a blocked signal mask, which children inherit through fork and exec.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def compose(*overrides: str):
    """Compose the trainer's config exactly as ``python -m trainer`` would (Hydra's compose API), checked
    as the CLI checks it (model=auto becomes the data's model). A config the check refuses is returned
    as composed: ``train()`` runs the same check, so a test sees the refusal where it calls it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from trainer.cli import CONF_DIR
    from trainer.config import check_config
    from trainer.errors import UserError

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=False)
    with contextlib.suppress(UserError):
        check_config(cfg)
    return cfg


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run ``python -m trainer ARGS`` in a subprocess; returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """All scalar series in a run directory's event files: tag -> [(step, value), ...]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def cli():
    return run_cli
