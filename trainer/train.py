"""The training recipe: one plain loop, read top to bottom.

    data -> loss (checked against the task) -> model sized from both -> optimiser, scheduler
    for each epoch: train on shuffled mini-batches, log; validate and checkpoint (every n-th epoch)
    test the best checkpoint, write metrics.json

Everything is built from the config by small builder functions; there are no callbacks.

Reliability (README "Reliability"): each validated epoch (every epoch unless
trainer.val_every_n_epochs says otherwise) ends with an atomic checkpoint of the whole state
(weights, optimiser, scheduler, grad scaler, every RNG, position, metric history, how far the
TensorBoard files had got). The batch order is a pure function of (seed, epoch), so a resumed run
replays the interrupted epoch exactly; SIGINT/SIGTERM stop at the next step boundary with a
checkpoint that records the position inside the epoch.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

import losses

from . import checkpoint, distributed
from .builders import build_optimizer, build_scheduler
from .data import DataBundle, Split, build_data
from .errors import UserError
from .metrics import build_metrics, metric_target
from .models import build_model
from .precision import build_precision
from .signals import Interrupted, StopRequest
from .tb_logger import RunLogger, truncate_events

if TYPE_CHECKING:
    from torchmetrics import MetricCollection

ON_NAN = ("stop", "skip")
# Config keys that may differ between a run and its resumption without changing what it computes.
RESUME_IGNORED_KEYS = (
    "trainer.resume",
    "trainer.device",
    "trainer.progress",
    "trainer.num_threads",
    "trainer.max_epochs",
    "trainer.test",
    "trainer.eval_batch_size",
    "trainer.compile",
    "tag",
)


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


def check_options(cfg: DictConfig) -> None:
    """Options checked before anything is built or written (the schema has checked their types)."""
    tcfg = cfg.trainer
    if cfg.task.name not in losses.TASKS:
        raise UserError(
            f"unknown task {cfg.task.name!r}. Tasks: {', '.join(losses.TASKS)}; choose one with task=<name>"
        )
    if tcfg.on_nan not in ON_NAN:
        raise UserError(f"trainer.on_nan={tcfg.on_nan!r}; use stop (end the run) or skip (skip that batch)")
    if tcfg.num_threads is not None and tcfg.num_threads < 1:
        raise UserError(f"trainer.num_threads must be >= 1 (or null for torch's default), got {tcfg.num_threads}")
    if tcfg.grad_clip is not None and not tcfg.grad_clip > 0:
        raise UserError(f"trainer.grad_clip must be > 0 (or null for no clipping), got {tcfg.grad_clip}")
    if tcfg.log_every_n_steps < 1:
        raise UserError(f"trainer.log_every_n_steps must be >= 1, got {tcfg.log_every_n_steps}")
    if tcfg.log_flush_secs < 0:
        raise UserError(f"trainer.log_flush_secs must be >= 0 (0: write each value at once), got {tcfg.log_flush_secs}")
    if tcfg.max_epochs < 0:
        raise UserError(f"trainer.max_epochs must be >= 0, got {tcfg.max_epochs}")
    if tcfg.val_every_n_epochs < 1:
        raise UserError(f"trainer.val_every_n_epochs must be >= 1 (1: every epoch), got {tcfg.val_every_n_epochs}")


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
    model: nn.Module,
    loss_fn: nn.Module,
    split: Split,
    data: DataBundle,
    batch_size: int,
    device: torch.device,
    autocast: Any = None,
    metrics: MetricCollection | None = None,
) -> dict[str, float]:
    """Mean loss and the task metrics over one split (``autocast``: the training precision's context).

    ``metrics``: a collection from :func:`build_metrics` to reuse (it is reset here); building one per
    evaluation costs about as much as evaluating a small validation set.
    """
    model.eval()
    distributed.broadcast_buffers(model)  # DDP: every rank evaluates with rank 0's BatchNorm statistics
    split = distributed.eval_shard(split)  # DDP: this rank's part; the sums below are reduced over ranks
    if metrics is None:
        metrics = build_metrics(data.task, data.num_outputs, device)
    metrics.reset()
    total_loss = torch.zeros((), device=device)
    for start in range(0, len(split), batch_size):
        x, y = split.batch(slice(start, start + batch_size))
        if autocast is None:
            output = model(x).float()
        else:
            with autocast():
                output = model(x)
            output = output.float()
        total_loss += to_scalar(loss_fn(output, y)) * len(x)
        preds = loss_fn.predict(output)
        if data.task == "regression":  # report in the target's own units
            preds, y = preds * data.target_std + data.target_mean, y * data.target_std + data.target_mean
        metrics.update(preds, metric_target(data.task, y))
    results = {name: float(value) for name, value in metrics.compute().items()}  # torchmetrics syncs ranks
    total, count = distributed.sum_over_ranks(total_loss, len(split))
    results["loss"] = total / count
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
    batch_in_epoch: int = 0  # batches of epoch `epoch` done: > 0 only in a checkpoint written on a signal
    global_step: int = 0  # batches trained on, skipped ones included
    best: tuple[float, float] | None = None  # (main metric, val loss) of the best epoch
    best_epoch: int = -1
    skipped_steps: int = 0  # batches whose optimiser step was skipped (trainer.on_nan=skip)
    # The train/loss mean in progress since the last log: losses read on the host each step (CPU, where
    # reading is free) plus, on a GPU, a sum kept on the device and read every log_every_n_steps.
    running_loss: float = 0.0
    running_loss_on_device: Tensor | None = None
    running_steps: int = 0

    def running_loss_total(self) -> float:
        """The sum of the losses since the last log (reads the device sum: a sync on GPUs)."""
        on_device = self.running_loss_on_device
        return self.running_loss + (0.0 if on_device is None else float(on_device))

    def reset_running_loss(self) -> None:
        self.running_loss, self.running_steps = 0.0, 0
        if self.running_loss_on_device is not None:
            self.running_loss_on_device.zero_()


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train, validate and test one configuration; write logs, checkpoints and metrics.json to ``run_dir``."""
    # Entered before anything is built: a Ctrl-C while the run starts stops it at once and is never
    # lost, even inside third-party code that swallows the KeyboardInterrupt (see StopRequest).
    with StopRequest() as stop:
        try:
            return _train(cfg, run_dir, stop)
        except Exception as exc:
            # A Ctrl-C while starting can surface as another error (Python wraps an exception raised
            # in __set_name__ in a RuntimeError): it is the Ctrl-C that stops the run.
            if stop.interrupted_while_starting:
                raise KeyboardInterrupt from exc
            raise


def _train(cfg: DictConfig, run_dir: Path, stop: StopRequest) -> dict[str, Any]:
    started = time.perf_counter()
    tcfg = cfg.trainer
    check_options(cfg)
    if tcfg.num_threads:
        torch.set_num_threads(tcfg.num_threads)
    device = distributed.setup(resolve_device(tcfg.device))  # under torchrun: join the group, cuda:LOCAL_RANK
    if tcfg.deterministic and (device.type != "cpu" or tcfg.compile):
        # The CPU kernels this harness uses are deterministic already, and the flag costs ~1 s of start-up
        # (it imports torch._inductor), so it is set where it matters: GPUs and compiled code.
        # cuBLAS is deterministic only with a fixed workspace, read when its first handle is made (README).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    precision = build_precision(tcfg.precision, device)
    ckpt_dir = run_dir / "checkpoints"
    # Before anything is built or written: the checkpoint to continue from, or no earlier run to overwrite.
    resumed = checkpoint.load_latest(ckpt_dir, device) if tcfg.resume else None
    if resumed is None:
        refuse_to_overwrite(run_dir)
    seed_everything(cfg.seed)

    with distributed.main_first():  # rank 0 downloads and writes caches before the others read them
        data = build_data(cfg.data, cfg.task.name)
    loss_fn = build_loss(cfg, data)
    out_features = loss_fn.head_size(cfg.task.name, data.num_outputs)
    model = build_model(cfg.model, data.kind, data.input_shape, out_features)
    model = distributed.sync_batchnorm(model, device).to(device)
    loss_fn = loss_fn.to(device)
    with stop.deferred():  # the optimisers import torch._dynamo, and with it triton: see StopRequest.deferred
        optimizer = build_optimizer(cfg.optim, model)
    scheduler = build_scheduler(cfg.scheduler, optimizer, tcfg.max_epochs)
    scaler = precision.scaler
    train_split, val_split, test_split = (s.to(device) for s in (data.train, data.val, data.test))
    # Checkpoints hold the plain model's weights; only the training forward pass goes through the compiled one.
    forward = distributed.wrap(model, device)  # DistributedDataParallel under torchrun, else the model
    forward = compile_model(forward) if tcfg.compile else forward

    main_metric, mode = cfg.task.main_metric, cfg.task.main_metric_mode
    # On CPU each step's loss is read on the host: free there, and it makes the per-step NaN check
    # exact. On a GPU that read would sync every step, so losses are summed on the device instead and
    # a NaN is found when the sum is read every log_every_n_steps (on_nan=skip needs the per-step read).
    read_each_step = device.type == "cpu" or tcfg.on_nan == "skip"
    state = TrainState()
    # Each epoch's validation metrics as a JSON object, encoded once when the epoch ends: checkpoints
    # store the whole history as one JSON string (see checkpoint_state).
    history: list[str] = []
    if resumed is not None:
        state, history = restore(resumed, cfg, model, optimizer, scheduler, scaler)
        if distributed.is_main():  # rank 0 owns the event files
            truncate_events(run_dir, resumed.state.get("events", {}))  # drop what was logged after the checkpoint
    if not read_each_step:
        state.running_loss_on_device = torch.zeros((), device=device)
    logger = RunLogger(run_dir, tcfg.log_flush_secs) if distributed.is_main() else distributed.NullLogger()

    metrics: MetricCollection | None = None  # built at the first evaluation (torchmetrics imports in ~2 s)

    def evaluate_on(split: Split) -> dict[str, float]:
        nonlocal metrics
        if metrics is None:
            metrics = build_metrics(data.task, data.num_outputs, device)
        return evaluate(model, loss_fn, split, data, tcfg.eval_batch_size, device, precision.autocast, metrics)

    # The run's resolved config and overrides, for every checkpoint (resolved once: ~1 ms each time).
    run_config = {"config": OmegaConf.to_container(cfg, resolve=True), "overrides": _overrides()}

    def save(best: bool = False) -> None:
        if not distributed.is_main():  # rank 0 writes; every rank resumes from its files
            return
        ckpt = checkpoint_state(model, optimizer, scheduler, scaler, state, history, logger, run_config)
        checkpoint.save_atomic(ckpt, ckpt_dir / checkpoint.LAST, keep_previous=True)
        if best:  # the same state: best.pt shares last.pt's file
            checkpoint.duplicate_atomic(ckpt_dir / checkpoint.LAST, ckpt_dir / checkpoint.BEST)

    batch_size = distributed.local_batch_size(cfg.data.batch_size)  # data.batch_size / number of processes
    steps_per_epoch = math.ceil(distributed.shard_length(len(train_split)) / batch_size)
    # Read once: a DictConfig attribute costs ~10-15 us, which shows on a small MLP's steps and on its
    # 10-13-step epochs (scripts/bench.py); what a run does not use is decided here, not per step.
    grad_clip, log_every, on_nan = tcfg.grad_clip, tcfg.log_every_n_steps, tcfg.on_nan
    val_every, max_epochs, seed = tcfg.val_every_n_epochs, tcfg.max_epochs, cfg.seed
    mixed = precision.dtype is not None  # bf16/fp16: forward passes under autocast
    scaling = scaler.is_enabled()  # fp16 only; the disabled scaler's three calls cost 2 us a step
    # Under torchrun every rank must take the same branch (stop, skip a batch): an all-reduce of the flag.
    all_agree = distributed.any_rank if distributed.world_size() > 1 else bool
    progress = _progress(tcfg, start=state.epoch)
    train_time, first_step_time = 0.0, None
    try:
        stop.arm()  # from the first step on, a signal stops at a step boundary, with a checkpoint
        for epoch in range(state.epoch, max_epochs):
            epoch_started = time.perf_counter()
            model.train()
            order = distributed.shard(batch_order(len(train_split), seed, epoch)).to(device)
            for batch in range(state.batch_in_epoch, steps_per_epoch):
                if all_agree(stop.requested):  # a step boundary: the checkpoint records the position
                    save()
                    raise Interrupted(stop.signum, ckpt_dir / checkpoint.LAST, epoch, state.global_step)
                x, y = train_split.batch(order[batch * batch_size : (batch + 1) * batch_size])
                if mixed:
                    with precision.autocast():
                        output = forward(x)
                    output = output.float()  # losses always compute in float32
                else:
                    output = forward(x)
                loss = to_scalar(loss_fn(output, y))
                value = loss.item() if read_each_step else None
                if value is not None and all_agree(not math.isfinite(value)):
                    if on_nan == "stop":
                        raise UserError(non_finite_message(value, state.global_step + 1, epoch, cfg, ckpt_dir))
                    state.skipped_steps += 1  # no backward, no optimiser step for this batch
                else:
                    optimizer.zero_grad(set_to_none=True)
                    if scaling:  # fp16: backward on the scaled loss; the step is skipped on inf/NaN grads
                        scaler.scale(loss).backward()
                        if grad_clip:
                            scaler.unscale_(optimizer)  # clip the true gradients
                            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        if grad_clip:
                            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                        optimizer.step()
                    if value is None:
                        state.running_loss_on_device += loss.detach()
                    else:
                        state.running_loss += value
                    state.running_steps += 1
                if first_step_time is None:  # for scripts/bench.py: process start to first optimiser step
                    first_step_time = time.time()
                state.global_step += 1
                state.batch_in_epoch = batch + 1
                if (batch + 1) % log_every == 0 or batch + 1 == steps_per_epoch:
                    log_train_loss(logger, state, epoch, on_nan, cfg, ckpt_dir)
            state.batch_in_epoch = 0
            train_time += time.perf_counter() - epoch_started  # the step loop only, logging included
            logger.scalar("lr", optimizer.param_groups[0]["lr"], state.global_step)
            scheduler.step()

            state.epoch = epoch + 1
            validated = state.epoch % val_every == 0 or state.epoch == max_epochs
            if validated:
                val = evaluate_on(val_split)
                entry = {"epoch": epoch, "step": state.global_step, **{f"val/{k}": v for k, v in val.items()}}
                history.append(json.dumps(entry))
                for name, value in val.items():
                    logger.scalar(f"val/{name}", value, epoch)
                check_finite_weights(model, epoch, ckpt_dir)  # never a checkpoint with NaN weights
                improved = is_better(val[main_metric], val["loss"], state.best, mode)
                if improved:
                    state.best, state.best_epoch = (val[main_metric], val["loss"]), epoch
                save(best=improved)
                progress.set_postfix(
                    {"val/loss": f"{val['loss']:.4f}", f"val/{main_metric}": f"{val[main_metric]:.4f}"}
                )
            # No flush here: a checkpoint has written the epoch's records (it records how far the
            # files got); an unvalidated epoch's lr and train/loss wait for the next checkpoint or
            # log_flush_secs. A write between tiny epochs slowed the steps after it by 6-7%.
            if distributed.any_rank(stop.requested):
                if not validated:
                    save()  # the epoch is done: a resume starts the next one
                raise Interrupted(stop.signum, ckpt_dir / checkpoint.LAST, state.epoch, state.global_step)
            progress.update(1)
        progress.close()

        # Final numbers come from the best epoch's weights (by the task's main validation metric).
        distributed.barrier()  # rank 0 has written them
        if (ckpt_dir / checkpoint.BEST).exists():
            model.load_state_dict(checkpoint.load(ckpt_dir / checkpoint.BEST, device)["model"])
        final = evaluate_on(val_split)
        results: dict[str, Any] = {f"val/{k}": v for k, v in final.items()}
        if tcfg.test:
            test = evaluate_on(test_split)
            results.update({f"test/{k}": v for k, v in test.items()})
        results.update(
            best_epoch=state.best_epoch,
            epochs=state.epoch,
            steps=state.global_step,
            steps_per_epoch=steps_per_epoch,
            skipped_steps=state.skipped_steps,
            wall_time_s=round(time.perf_counter() - started, 3),
            train_time_s=round(train_time, 4),
            first_step_unix_time=first_step_time,
        )
        logger.hparams(hparams_of(cfg), {k: v for k, v in results.items() if k.startswith(("val/", "test/"))})
    finally:
        progress.close()
        logger.close()
    if distributed.is_main():
        (run_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def log_train_loss(
    logger: RunLogger, state: TrainState, epoch: int, on_nan: str, cfg: DictConfig, ckpt_dir: Path
) -> None:
    """Log the mean train loss since the last log: on a GPU, the one host-device sync of the step loop."""
    if state.running_steps:
        mean_loss = distributed.mean_over_ranks(state.running_loss_total() / state.running_steps)
        if not math.isfinite(mean_loss) and on_nan == "stop":  # device runs find a NaN here
            first = state.global_step - state.running_steps + 1
            raise UserError(non_finite_message(mean_loss, (first, state.global_step), epoch, cfg, ckpt_dir))
        logger.scalar("train/loss", mean_loss, state.global_step)
    if on_nan == "skip":
        logger.scalar("train/skipped_steps", state.skipped_steps, state.global_step)
    state.reset_running_loss()


def non_finite_message(value: float, step: int | tuple[int, int], epoch: int, cfg: DictConfig, ckpt_dir: Path) -> str:
    where = f"at step {step}" if isinstance(step, int) else f"in steps {step[0]}-{step[1]}"
    last = ckpt_dir / checkpoint.LAST
    kept = (
        f"The last good checkpoint is kept unchanged: {last}."
        if last.exists()
        else "No checkpoint was written (the first epoch did not finish)."
    )
    return (
        f"the training loss is {value} {where} (epoch {epoch}); training stopped. Likely cause: a learning rate "
        f"too high for this loss (optim.lr={cfg.optim.lr}: try 10x smaller, or trainer.grad_clip=1.0), or "
        "values outside the loss's domain (log of 0 from probabilities of exactly 0 or 1; with "
        f"trainer.precision=fp16 an overflow: try bf16). {kept} trainer.on_nan=skip skips such batches instead."
    )


def check_finite_weights(model: nn.Module, epoch: int, ckpt_dir: Path) -> None:
    """Stop before a checkpoint would store non-finite weights (one sync per epoch)."""
    tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
    if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
        raise UserError(
            f"the model's weights became NaN or inf in epoch {epoch}, most likely from exploding gradients; "
            "set trainer.grad_clip (e.g. 1.0) or lower optim.lr. The last good checkpoint is kept "
            f"unchanged in {ckpt_dir}."
        )


def compile_model(model: nn.Module) -> nn.Module:
    """torch.compile the model for training steps (trainer.compile=true)."""
    try:
        return torch.compile(model)
    except RuntimeError as exc:  # e.g. an unsupported Python version
        raise UserError(f"trainer.compile=true: torch.compile is not available here ({exc}); drop it") from None


def refuse_to_overwrite(run_dir: Path) -> None:
    """A new run must not write over the checkpoints or metrics of an earlier run in the same folder."""
    names = (checkpoint.LAST, checkpoint.PREVIOUS, checkpoint.BEST)
    taken = [p for p in (*(run_dir / "checkpoints" / n for n in names), run_dir / "metrics.json") if p.exists()]
    if taken:
        raise UserError(
            f"{run_dir} already holds a run ({taken[0].relative_to(run_dir)}). Add trainer.resume=true to "
            "continue it, or choose a new directory (drop hydra.run.dir=...) to start another run."
        )


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
        "running_loss": state.running_loss_total(),
        "running_steps": state.running_steps,
        # One JSON string, not a list of dicts: torch.save pickles every object through a Python
        # callback, so after 100 epochs the list cost 0.33 ms a save (and encoding all of it each
        # time, 0.25 ms), growing with every epoch. Joining the entries encoded once is flat.
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
        running_loss=float(ckpt.get("running_loss", 0.0)),  # a 0-dim tensor in older checkpoints
        running_steps=ckpt.get("running_steps", 0),
    )
    where = f"epoch {state.epoch}" + (f", batch {state.batch_in_epoch}" if state.batch_in_epoch else "")
    print(f"resuming from {loaded.path} ({where}, step {state.global_step})", file=sys.stderr)
    history = ckpt["history"]
    entries = json.loads(history) if isinstance(history, str) else history  # a list of dicts in older checkpoints
    return state, [json.dumps(entry) for entry in entries]


def _overrides() -> list[str]:
    """The command-line overrides of this run when it runs under Hydra (stored so a resume can show them)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flat(value, f"{prefix}{key}."))
    return {k.rstrip("."): v for k, v in flat.items()}


def _warn_config_changes(saved: dict[str, Any], cfg: DictConfig, overrides: list[str] | None) -> None:
    """A resume with other settings is allowed (e.g. a lower lr after a NaN), but it is said out loud."""
    old, new = _flat(saved), _flat(OmegaConf.to_container(cfg, resolve=True))
    # Keys only in the new config were added to the schema since the checkpoint: not a change.
    changes = [
        f"{k}: {old[k]} -> {new.get(k, '(unset)')}"
        for k in sorted(old)
        if k not in RESUME_IGNORED_KEYS and old[k] != new.get(k)
    ]
    if changes:
        shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
        print(
            f"warning: resuming with a config that differs from the checkpoint's ({shown}); the result will "
            f"differ from an uninterrupted run. The run's original overrides: {' '.join(overrides or []) or '?'}",
            file=sys.stderr,
        )


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
        # Noise-robust losses are compared across noise rates; keep the rate in the HParams table.
        "data.label_noise": cfg.data.label_noise,
        "data.label_noise_mode": cfg.data.label_noise_mode,
    }
    for key, value in OmegaConf.to_container(cfg.loss, resolve=True).items():
        flat["loss" if key == "name" else f"loss.{key}"] = (
            value if isinstance(value, (int, float, str, bool)) else str(value)
        )
    return flat


def _progress(tcfg, start: int):
    from tqdm import tqdm

    enabled = tcfg.progress and sys.stderr.isatty() and distributed.is_main()
    return tqdm(total=tcfg.max_epochs, initial=start, desc="epochs", unit="ep", disable=not enabled, leave=False)
