"""The training state: what a checkpoint holds, and how a resumed run gets it back.

A checkpoint holds everything needed to continue exactly (docs/reliability.md): the weights, the
optimiser, scheduler and grad-scaler states, every RNG, the position (epoch, batch inside it, step),
the best epoch so far, the validation history, the run's config and how far its TensorBoard files
had got. All as tensors and plain containers, so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from ..config import RESULT_NEUTRAL_KEYS, RESUME_MAY_CHANGE, flatten
from ..errors import UserError
from . import checkpoint


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # batches of epoch `epoch` done: > 0 only in a checkpoint written on a signal
    global_step: int = 0  # batches trained on, skipped ones included
    best: tuple[float, float] | None = None  # (main metric, val loss) of the best epoch
    best_epoch: int = -1
    skipped_steps: int = 0  # batches whose optimiser step was skipped (trainer.on_nan=skip)
    # trainer.early_stopping: validations since the main metric last improved by more than min_delta,
    # the best value that counts for it, and why the run stopped early ("": it did not).
    since_improvement: int = 0
    early_best: float | None = None
    stop_reason: str = ""
    # The train/loss mean in progress since the last log: losses read on the host each step (CPU, where
    # reading is free) plus, on a GPU, a sum kept on the device and read every log_every_n_steps.
    running_loss: float = 0.0
    running_loss_on_device: Tensor | None = None
    running_steps: int = 0
    # loss=combo: each term's sum since the last log (device tensors, read when logged).
    running_parts: dict[str, Any] = field(default_factory=dict)

    def running_loss_total(self) -> float:
        """The sum of the losses since the last log (reads the device sum: a sync on GPUs)."""
        on_device = self.running_loss_on_device
        return self.running_loss + (0.0 if on_device is None else float(on_device))

    def add_parts(self, parts: dict[str, Tensor]) -> None:
        for label, value in parts.items():
            self.running_parts[label] = self.running_parts.get(label, 0.0) + value

    def reset_running_loss(self) -> None:
        self.running_loss, self.running_steps, self.running_parts = 0.0, 0, {}
        if self.running_loss_on_device is not None:
            self.running_loss_on_device.zero_()


def checkpoint_state(
    model, optimizer, scheduler, scaler, state: TrainState, history: list[str], logger, run_config: dict[str, Any]
) -> dict[str, Any]:
    """Everything needed to continue exactly, as tensors and plain containers (weights_only loadable).

    ``run_config``: {"config": the resolved config, "overrides": the command-line overrides}.
    """
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": state.epoch,
        "batch_in_epoch": state.batch_in_epoch,
        "global_step": state.global_step,
        "best": list(state.best) if state.best else None,
        "best_epoch": state.best_epoch,
        "skipped_steps": state.skipped_steps,
        "since_improvement": state.since_improvement,
        "early_best": state.early_best,
        "stop_reason": state.stop_reason,
        "running_loss": state.running_loss_total(),
        "running_steps": state.running_steps,
        "running_parts": {label: float(value) for label, value in state.running_parts.items()},
        # One JSON string, not a list of dicts: torch.save pickles every object through a Python
        # callback, a cost that grows with every epoch; joining entries encoded once stays flat.
        "history": "[" + ",".join(history) + "]",
        "rng": checkpoint.rng_state(),
        **run_config,
        # Where each TensorBoard file stood: a resume cuts off what was logged after this checkpoint.
        "events": logger.positions(),
    }


def restore(loaded: checkpoint.Loaded, cfg, model, optimizer, scheduler, scaler) -> tuple[TrainState, list[str]]:
    """Load a checkpoint into the freshly built objects; the RNGs last, after model init has drawn from them."""
    ckpt = loaded.state
    _warn_config_changes(ckpt.get("config") or {}, cfg, ckpt.get("overrides"))
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        original = " ".join(ckpt.get("overrides") or []) or "(see its .hydra folder)"
        raise UserError(
            f"{loaded.path} does not fit the model or optimiser built from this config ({str(exc).splitlines()[0]}). "
            f"Resume with the run's original overrides: {original}"
        ) from None
    scheduler.load_state_dict(ckpt["scheduler"])
    if scaler.is_enabled() and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    checkpoint.set_rng_state(ckpt["rng"])
    best = tuple(ckpt["best"]) if ckpt["best"] else None
    state = TrainState(
        epoch=ckpt["epoch"],
        batch_in_epoch=ckpt.get("batch_in_epoch", 0),
        global_step=ckpt["global_step"],
        best=best,
        best_epoch=ckpt["best_epoch"],
        skipped_steps=ckpt.get("skipped_steps", 0),
        since_improvement=ckpt.get("since_improvement", 0),
        early_best=ckpt.get("early_best"),
        stop_reason=ckpt.get("stop_reason", ""),
        running_loss=float(ckpt.get("running_loss", 0.0)),  # a 0-dim tensor in older checkpoints
        running_steps=ckpt.get("running_steps", 0),
        running_parts=dict(ckpt.get("running_parts", {})),
    )
    where = f"epoch {state.epoch}" + (f", batch {state.batch_in_epoch}" if state.batch_in_epoch else "")
    print(f"resuming from {loaded.path} ({where}, step {state.global_step})", file=sys.stderr)
    history = ckpt["history"]
    entries = json.loads(history) if isinstance(history, str) else history  # a list of dicts in older checkpoints
    return state, [json.dumps(entry) for entry in entries]


def _warn_config_changes(saved: dict[str, Any], cfg: DictConfig, overrides: list[str] | None) -> None:
    """A resume with other settings is allowed (e.g. a lower lr after a NaN), but it is said out loud."""
    old, new = flatten(saved), flatten(OmegaConf.to_container(cfg, resolve=True))
    # A key in only one of them is one the schema of that version or that choice does not read.
    ignored = {*RESULT_NEUTRAL_KEYS, *RESUME_MAY_CHANGE}
    changes = [f"{k}: {old[k]} -> {new[k]}" for k in sorted(old) if k in new and k not in ignored and old[k] != new[k]]
    if changes:
        shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
        print(
            f"warning: resuming with a config that differs from the checkpoint's ({shown}); the result will "
            f"differ from an uninterrupted run. The run's original overrides: {' '.join(overrides or []) or '?'}",
            file=sys.stderr,
        )
