"""The training recipe: one plain loop, read top to bottom.

    data -> loss (checked against the task) -> model sized from both -> optimiser, scheduler
    for each epoch: train on shuffled mini-batches, validate, log, checkpoint
    test the best checkpoint, write metrics.json

Everything is built from the config by small builder functions; there are no callbacks.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

import losses

from . import checkpoint
from .builders import build_optimizer, build_scheduler
from .data import DataBundle, Split, build_data
from .errors import UserError
from .metrics import build_metrics, metric_target
from .models import build_model
from .tb_logger import RunLogger


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"trainer.device={name} but CUDA is not available here; use trainer.device=cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"trainer.device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None


def build_loss(cfg: DictConfig, data: DataBundle) -> nn.Module:
    params = {k: v for k, v in OmegaConf.to_container(cfg.loss, resolve=True).items() if k != "name"}
    try:
        # weight/pos_weight=auto (or a method) are computed once, here, from the training labels.
        return losses.build(
            cfg.loss.name, task=cfg.task.name, labels=data.train.y, num_classes=data.num_outputs, **params
        )
    except losses.LossError as exc:
        raise UserError(str(exc)) from None


def batch_order(num_samples: int, seed: int, epoch: int) -> Tensor:
    """The shuffled sample order of one epoch, a pure function of (seed, epoch) so that resume can replay it."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_samples, generator=generator)


def to_scalar(loss: Tensor) -> Tensor:
    """Losses built with reduction='none' return per-element values; train on their mean."""
    return loss if loss.dim() == 0 else loss.mean()


@torch.no_grad()
def evaluate(
    model: nn.Module, loss_fn: nn.Module, split: Split, data: DataBundle, batch_size: int, device: torch.device
) -> dict[str, float]:
    """Mean loss and the task metrics over one split."""
    model.eval()
    metrics = build_metrics(data.task, data.num_outputs, device)
    total_loss = torch.zeros((), device=device)
    for start in range(0, len(split), batch_size):
        x, y = split.x[start : start + batch_size], split.y[start : start + batch_size]
        output = model(x).float()
        total_loss += to_scalar(loss_fn(output, y)) * len(x)
        preds = loss_fn.predict(output)
        if data.task == "regression":  # report in the target's own units
            preds, y = preds * data.target_std + data.target_mean, y * data.target_std + data.target_mean
        metrics.update(preds, metric_target(data.task, y))
    results = {name: float(value) for name, value in metrics.compute().items()}
    results["loss"] = float(total_loss) / len(split)
    return results


def is_better(value: float, loss: float, best: tuple[float, float] | None, mode: str) -> bool:
    """Whether (main metric, val loss) beats the best so far; ties on the metric go to the lower loss."""
    if math.isnan(value):
        return False
    if best is None or math.isnan(best[0]):
        return True
    if value == best[0]:
        return loss < best[1]
    return value > best[0] if mode == "max" else value < best[0]


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    global_step: int = 0
    best: tuple[float, float] | None = None  # (main metric, val loss) of the best epoch
    best_epoch: int = -1


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train, validate and test one configuration; write logs, checkpoints and metrics.json to ``run_dir``."""
    started = time.perf_counter()
    tcfg = cfg.trainer
    if tcfg.num_threads:
        torch.set_num_threads(tcfg.num_threads)
    if tcfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    device = resolve_device(tcfg.device)
    seed_everything(cfg.seed)

    data = build_data(cfg.data, cfg.task.name)
    loss_fn = build_loss(cfg, data)
    out_features = loss_fn.head_size(cfg.task.name, data.num_outputs)
    model = build_model(cfg.model, data.kind, data.input_shape, out_features).to(device)
    loss_fn = loss_fn.to(device)
    optimizer = build_optimizer(cfg.optim, model)
    scheduler = build_scheduler(cfg.scheduler, optimizer, tcfg.max_epochs)
    train_split, val_split, test_split = (s.to(device) for s in (data.train, data.val, data.test))

    main_metric, mode = cfg.task.main_metric, cfg.task.main_metric_mode
    ckpt_dir = run_dir / "checkpoints"
    state = TrainState()
    history: list[dict[str, float]] = []
    if tcfg.resume:
        state, history = restore(ckpt_dir / "last.pt", model, optimizer, scheduler, device)
    logger = RunLogger(run_dir, purge_step=state.global_step if tcfg.resume else None)

    steps_per_epoch = math.ceil(len(train_split) / cfg.data.batch_size)
    progress = _progress(tcfg, start=state.epoch)
    for epoch in range(state.epoch, tcfg.max_epochs):
        model.train()
        order = batch_order(len(train_split), cfg.seed, epoch).to(device)
        running_loss = torch.zeros((), device=device)
        running_steps = 0
        for start in range(0, len(train_split), cfg.data.batch_size):
            idx = order[start : start + cfg.data.batch_size]
            x, y = train_split.x[idx], train_split.y[idx]
            loss = to_scalar(loss_fn(model(x), y))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            optimizer.step()
            state.global_step += 1
            running_loss += loss.detach()
            running_steps += 1
            if running_steps == tcfg.log_every_n_steps or start + cfg.data.batch_size >= len(train_split):
                mean_loss = float(running_loss) / running_steps  # the only host sync in the step loop
                if not math.isfinite(mean_loss) and tcfg.on_nan == "stop":
                    raise UserError(
                        f"the training loss became {mean_loss} by step {state.global_step} (epoch {epoch}). "
                        "Likely causes: a learning rate too high for this loss (try a smaller optim.lr), "
                        "or inputs the loss cannot take. The last good checkpoint is in "
                        f"{ckpt_dir}; set trainer.grad_clip to clip gradients."
                    )
                logger.scalar("train/loss", mean_loss, state.global_step)
                running_loss.zero_()
                running_steps = 0
        logger.scalar("lr", optimizer.param_groups[0]["lr"], state.global_step)
        scheduler.step()

        val = evaluate(model, loss_fn, val_split, data, tcfg.eval_batch_size, device)
        history.append({"epoch": epoch, "step": state.global_step, **{f"val/{k}": v for k, v in val.items()}})
        for name, value in val.items():
            logger.scalar(f"val/{name}", value, epoch)
        state.epoch = epoch + 1
        improved = is_better(val[main_metric], val["loss"], state.best, mode)
        if improved:
            state.best, state.best_epoch = (val[main_metric], val["loss"]), epoch
        ckpt = _checkpoint_state(cfg, model, optimizer, scheduler, state, history)
        checkpoint.save_atomic(ckpt, ckpt_dir / "last.pt")
        if improved:
            checkpoint.save_atomic(ckpt, ckpt_dir / "best.pt")
        progress.update(1)
        progress.set_postfix({"val/loss": f"{val['loss']:.4f}", f"val/{main_metric}": f"{val[main_metric]:.4f}"})
    progress.close()

    # Final numbers come from the best epoch's weights (by the task's main validation metric).
    if (ckpt_dir / "best.pt").exists():
        model.load_state_dict(checkpoint.load(ckpt_dir / "best.pt", device)["model"])
    results: dict[str, Any] = {
        f"val/{k}": v for k, v in evaluate(model, loss_fn, val_split, data, tcfg.eval_batch_size, device).items()
    }
    if tcfg.test:
        test = evaluate(model, loss_fn, test_split, data, tcfg.eval_batch_size, device)
        results.update({f"test/{k}": v for k, v in test.items()})
    results.update(
        best_epoch=state.best_epoch,
        epochs=state.epoch,
        steps=state.global_step,
        steps_per_epoch=steps_per_epoch,
        wall_time_s=round(time.perf_counter() - started, 3),
    )
    logger.hparams(hparams_of(cfg), {k: v for k, v in results.items() if k.startswith(("val/", "test/"))})
    logger.close()
    (run_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _checkpoint_state(cfg, model, optimizer, scheduler, state: TrainState, history) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": state.epoch,
        "global_step": state.global_step,
        "best": list(state.best) if state.best else None,
        "best_epoch": state.best_epoch,
        "history": history,
        "rng": {
            "python": list(random.getstate()[1]),
            "numpy": np.random.get_state()[1].tolist(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def restore(path: Path, model, optimizer, scheduler, device) -> tuple[TrainState, list[dict[str, float]]]:
    if not path.exists():
        raise UserError(
            f"trainer.resume=true but there is no checkpoint at {path}. "
            "Point hydra.run.dir at the run to resume, or drop trainer.resume."
        )
    ckpt = checkpoint.load(path, device)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    rng = ckpt["rng"]
    random.setstate((3, tuple(rng["python"]), None))
    np.random.set_state(("MT19937", np.array(rng["numpy"], dtype=np.uint32), 624, 0, 0.0))
    torch.set_rng_state(rng["torch"].cpu())
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    best = tuple(ckpt["best"]) if ckpt["best"] else None
    state = TrainState(ckpt["epoch"], ckpt["global_step"], best, ckpt["best_epoch"])
    return state, list(ckpt["history"])


def hparams_of(cfg: DictConfig) -> dict[str, Any]:
    """The run's hyperparameters as flat scalars for TensorBoard's HParams tab."""
    flat: dict[str, Any] = {
        "task": cfg.task.name,
        "data": cfg.data.name,
        "model": cfg.model.name,
        "optim": cfg.optim.name,
        "optim.lr": cfg.optim.lr,
        "optim.weight_decay": cfg.optim.weight_decay,
        "scheduler": cfg.scheduler.name,
        "data.batch_size": cfg.data.batch_size,
        "trainer.max_epochs": cfg.trainer.max_epochs,
        "seed": cfg.seed,
        "tag": cfg.tag,
    }
    for key, value in OmegaConf.to_container(cfg.loss, resolve=True).items():
        flat["loss" if key == "name" else f"loss.{key}"] = (
            value if isinstance(value, (int, float, str, bool)) else str(value)
        )
    return flat


def _progress(tcfg, start: int):
    from tqdm import tqdm

    enabled = tcfg.progress and sys.stderr.isatty()
    return tqdm(total=tcfg.max_epochs, initial=start, desc="epochs", unit="ep", disable=not enabled, leave=False)
