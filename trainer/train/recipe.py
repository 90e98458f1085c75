"""The training recipe: ``setup()`` -> ``fit()`` -> ``finish()``, read top to bottom.

    setup    check the config; data -> loss (checked against the task) -> model sized from both ->
             optimiser, scheduler; the checkpoint to resume from
    fit      for each epoch: train on shuffled mini-batches (``train_step``), log; validate and
             checkpoint every n-th epoch
    finish   evaluate the best checkpoint on validation and test, write metrics.json

Everything is built from the config by small builder functions; there are no callbacks.

Reliability (docs/reliability.md): each validated epoch ends with an atomic checkpoint of the whole
state (``state.checkpoint_state``). The batch order is a pure function of (seed, epoch), so a
resumed run replays the interrupted epoch exactly; SIGINT/SIGTERM stop at the next step boundary
with a checkpoint that records the position inside the epoch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

import losses

from ..config import check_config, resolve_auto_model
from ..data import DataBundle, build_data, long_tail
from ..errors import UserError
from ..models import build_model
from ..models import custom as custom_models
from ..optim import build_optimizer, build_scheduler
from ..registry import DATASETS
from ..sweep import pruning
from . import checkpoint, distributed, pictures
from .evaluate import build_metrics, evaluate, to_scalar
from .logger import RunLogger, truncate_events
from .precision import build_precision
from .signals import Interrupted, StopRequest
from .state import TrainState, checkpoint_state, restore

if TYPE_CHECKING:
    from torchmetrics import MetricCollection


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train, validate and test one configuration; write logs, checkpoints and metrics.json to ``run_dir``."""
    # Entered before anything is built: a Ctrl-C while the run starts stops it at once and is never
    # lost, even inside third-party code that swallows the KeyboardInterrupt (see StopRequest).
    with StopRequest() as stop:
        try:
            recipe = Recipe(cfg, run_dir, stop)
            recipe.setup()
            try:
                recipe.fit()
                return recipe.finish()
            except OSError as exc:  # an event file or metrics.json could not be written
                raise recipe.kept(checkpoint.write_failure(exc, Path(exc.filename or run_dir))) from exc
            except checkpoint.WriteError as exc:
                raise recipe.kept(exc) from exc
            finally:
                recipe.cleanup()
        except Exception as exc:
            # A Ctrl-C while starting can surface as another error (Python wraps an exception raised
            # in __set_name__ in a RuntimeError): it is the Ctrl-C that stops the run.
            if stop.interrupted_while_starting:
                raise KeyboardInterrupt from exc
            raise


class Recipe:
    """One run: built by ``setup()``, trained by ``fit()``, scored by ``finish()``."""

    def __init__(self, cfg: DictConfig, run_dir: Path, stop: StopRequest) -> None:
        self.cfg, self.run_dir, self.stop = cfg, run_dir, stop
        self.ckpt_dir = run_dir / "checkpoints"
        self.started = time.perf_counter()
        self.logger: RunLogger | distributed.NullLogger | None = None
        self.progress: Any = None

    # ---------------------------------------------------------------- setup

    def setup(self) -> None:
        cfg, tcfg = self.cfg, self.cfg.trainer
        check_config(cfg)  # the CLI has checked it already; direct callers of train() get the same checks
        if tcfg.num_threads:
            torch.set_num_threads(tcfg.num_threads)
        device = distributed.setup(resolve_device(tcfg.device))  # under torchrun: join the group, cuda:LOCAL_RANK
        if tcfg.deterministic and (device.type != "cpu" or tcfg.compile):
            # The CPU kernels used here are deterministic already, and the flag imports torch._inductor,
            # so it is set where it matters: GPUs and compiled code. cuBLAS is deterministic only with a
            # fixed workspace, read when its first handle is made.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.device = device
        self.precision = build_precision(tcfg.precision, device)
        # Before anything is built or written: the checkpoint to continue from, or no earlier run to overwrite.
        resumed = checkpoint.load_latest(self.ckpt_dir, device) if tcfg.resume else None
        if resumed is None:
            refuse_to_overwrite(self.run_dir)
        seed_everything(cfg.seed)

        with distributed.main_first():  # rank 0 downloads and writes caches before the others read them
            self.data = data = build_data(cfg.data, cfg.task.name)
        if cfg.model.name == "auto" and DATASETS.meta(cfg.data.name)["kind"] is None:  # the data's kind is known now
            resolve_auto_model(cfg, data.kind)
        loss_fn = build_loss(cfg, data)
        out_features = loss_fn.head_size(cfg.task.name, data.num_outputs)
        model = build_model(cfg.model, data.kind, data.input_shape, out_features)
        self.model = distributed.sync_batchnorm(model, device).to(device)
        if custom_models.is_custom(OmegaConf.to_container(cfg.model)):  # the user's model: does its output fit?
            x, _ = next(data.train.to(device).batches(2))
            label = cfg.model.get("target") or cfg.model.get("_target_")
            custom_models.check_output(self.model, x, out_features, label, cfg.loss.name)
        self.loss_fn = loss_fn.to(device)
        with self.stop.deferred():  # the optimisers import torch._dynamo, and with it triton: see StopRequest.deferred
            self.optimizer = build_optimizer(cfg.optim, self.model)
        self.scheduler = build_scheduler(cfg.scheduler, self.optimizer, tcfg.max_epochs)
        self.splits = {name: split.to(device) for name, split in data.splits().items()}
        # Checkpoints hold the plain model's weights; only the training forward pass goes through the compiled one.
        forward = distributed.wrap(self.model, device)  # DistributedDataParallel under torchrun, else the model
        self.forward = compile_model(forward) if tcfg.compile else forward

        self.state = TrainState()
        # Each epoch's validation metrics as a JSON object, encoded once when the epoch ends.
        self.history: list[str] = []
        if resumed is not None:
            self.state, self.history = restore(
                resumed, cfg, self.model, self.optimizer, self.scheduler, self.precision.scaler
            )
        # On CPU each step's loss is read on the host: free there, and it makes the per-step NaN check
        # exact. On a GPU that read would sync every step, so losses are summed on the device instead and
        # a NaN is found when the sum is read every log_every_n_steps (on_nan=skip needs the per-step read).
        self.read_each_step = device.type == "cpu" or tcfg.on_nan == "skip"
        if not self.read_each_step:
            self.state.running_loss_on_device = torch.zeros((), device=device)
        self.metrics: MetricCollection | None = None  # built at the first evaluation (torchmetrics imports slowly)
        # The run's resolved config and overrides, for every checkpoint (resolved once).
        self.run_config = {"config": OmegaConf.to_container(cfg, resolve=True), "overrides": _overrides()}

        self.resumed_events = resumed.state.get("events", {}) if resumed is not None else None
        # Under the Optuna sweeper with a pruner: the trial this run reports its validations to.
        self.pruning = pruning.TrialPruning.from_hydra() if distributed.is_main() else None
        self.logger = (
            RunLogger(self.run_dir, tcfg.log_flush_secs) if distributed.is_main() else distributed.NullLogger()
        )

    def start_writing(self) -> None:
        """Everything is checked and built: from here on the run writes into its folder."""
        if not distributed.is_main():  # rank 0 owns the run's files
            return
        write_run_config(self.run_dir, self.cfg)
        self.ckpt_dir.mkdir(exist_ok=True)  # a checkpoint finds it gone if it is removed during the run
        if self.resumed_events is not None:  # drop what was logged after the checkpoint
            truncate_events(self.run_dir, self.resumed_events)

    # ---------------------------------------------------------------- fit

    def fit(self) -> None:
        cfg, tcfg, state, stop = self.cfg, self.cfg.trainer, self.state, self.stop
        train_split = self.splits["train"]
        batch_size = distributed.local_batch_size(cfg.data.batch_size)  # data.batch_size / number of processes
        self.steps_per_epoch = steps_per_epoch = math.ceil(distributed.shard_length(len(train_split)) / batch_size)
        # Read once: a DictConfig attribute read costs more than a small model's step work.
        self.log_every, self.on_nan, self.grad_clip = tcfg.log_every_n_steps, tcfg.on_nan, tcfg.grad_clip
        val_every, max_epochs, seed = tcfg.val_every_n_epochs, tcfg.max_epochs, cfg.seed
        # Under torchrun every rank must take the same branch (stop, skip a batch): an all-reduce of the flag.
        self.all_agree = distributed.any_rank if distributed.world_size() > 1 else bool
        self.progress = _progress(tcfg, start=state.epoch)
        self.train_time, self.first_step_time = 0.0, None

        stop.arm()  # from the first step on, a signal stops at a step boundary, with a checkpoint
        self.start_writing()
        for epoch in range(state.epoch, max_epochs):
            if state.stop_reason:  # stopped early (a resume of such a run trains no further)
                break
            epoch_started = time.perf_counter()
            self.loss_fn.set_epoch(epoch)  # schedules inside a loss (ldam's deferred re-weighting)
            self.model.train()
            order = distributed.shard(batch_order(len(train_split), seed, epoch)).to(self.device)
            batches = train_split.batches(batch_size, order, start=state.batch_in_epoch)
            for batch in range(state.batch_in_epoch, steps_per_epoch):
                if self.all_agree(stop.requested):  # a step boundary: the checkpoint records the position
                    self.save()
                    raise Interrupted(stop.signum, self.ckpt_dir / checkpoint.LAST, epoch, state.global_step)
                x, y = next(batches)  # cut (or read by the DataLoader) now, after the stop check
                self.train_step(x, y, epoch)
                state.batch_in_epoch = batch + 1
                if (batch + 1) % self.log_every == 0 or batch + 1 == steps_per_epoch:
                    self.log_train_loss(epoch)
            state.batch_in_epoch = 0
            self.train_time += time.perf_counter() - epoch_started  # the step loop only, logging included
            self.logger.scalar("lr", self.optimizer.param_groups[0]["lr"], state.global_step)
            self.scheduler.step()

            state.epoch = epoch + 1
            validated = state.epoch % val_every == 0 or state.epoch == max_epochs
            if validated:
                self.validate(epoch)
            # No flush here: a checkpoint has written the epoch's records (it records how far the files
            # got); an unvalidated epoch's records wait for the next checkpoint or log_flush_secs, since a
            # write between tiny epochs slows the steps after it.
            if distributed.any_rank(stop.requested):
                if not validated:
                    self.save()  # the epoch is done: a resume starts the next one
                raise Interrupted(stop.signum, self.ckpt_dir / checkpoint.LAST, state.epoch, state.global_step)
            self.progress.update(1)
        self.progress.close()

    def train_step(self, x: Tensor, y: Tensor, epoch: int) -> None:
        """One optimiser step on the batch (x, y), or none when its loss is not finite and on_nan=skip."""
        state, precision, scaler = self.state, self.precision, self.precision.scaler
        with precision.autocast():  # a no-op context at 32-bit precision
            output = self.forward(x)
        loss = to_scalar(self.loss_fn(output.float(), y))  # losses always compute in float32
        value = loss.item() if self.read_each_step else None
        if value is not None and self.all_agree(not math.isfinite(value)):
            if self.on_nan == "stop":
                raise UserError(non_finite_message(value, state.global_step + 1, epoch, self.cfg, self.ckpt_dir))
            state.skipped_steps += 1  # no backward, no optimiser step for this batch
        else:
            self.optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # fp16: the scaled loss; otherwise the scaler is disabled and passes through
            if self.grad_clip:
                scaler.unscale_(self.optimizer)  # clip the true gradients
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            scaler.step(self.optimizer)  # fp16: skipped on inf/NaN gradients
            scaler.update()
            if value is None:
                state.running_loss_on_device += loss.detach()
            else:
                state.running_loss += value
            state.running_steps += 1
            state.add_parts(getattr(self.loss_fn, "parts", {}))  # loss=combo: each term on its own
        if self.first_step_time is None:  # for scripts/bench.py: process start to first optimiser step
            self.first_step_time = time.time()
        state.global_step += 1

    def validate(self, epoch: int) -> None:
        """Validate after ``epoch``, log, keep the best epoch and checkpoint."""
        state, main_metric = self.state, self.cfg.task.main_metric
        val = self.evaluate_on("val")
        entry = {"epoch": epoch, "step": state.global_step, **{f"val/{k}": v for k, v in val.items()}}
        self.history.append(json.dumps(entry))
        for name, value in val.items():
            self.logger.scalar(f"val/{name}", value, epoch)
        check_finite_weights(self.model, epoch, self.ckpt_dir)  # never a checkpoint with NaN weights
        improved = is_better(val[main_metric], val["loss"], state.best, self.cfg.task.main_metric_mode)
        if improved:
            state.best, state.best_epoch = (val[main_metric], val["loss"]), epoch
        self.early_stopping(val[main_metric], epoch)
        reason = self.pruning.should_stop(val, epoch) if self.pruning is not None else ""
        if self.all_agree(bool(reason)):  # every rank stops; rank 0's reason is the one written
            state.stop_reason = reason or "pruned by Optuna (rank 0 decided)"
        self.save(best=improved)
        self.progress.set_postfix({"val/loss": f"{val['loss']:.4f}", f"val/{main_metric}": f"{val[main_metric]:.4f}"})

    def early_stopping(self, value: float, epoch: int) -> None:
        """Count validations without an improvement of the main metric by more than min_delta; at
        ``patience`` of them, record why the run stops (the epoch loop ends after this checkpoint)."""
        state, options = self.state, self.cfg.trainer.early_stopping
        if options.patience is None:
            return
        sign = 1 if self.cfg.task.main_metric_mode == "max" else -1
        if state.early_best is None or (math.isfinite(value) and sign * (value - state.early_best) > options.min_delta):
            state.early_best, state.since_improvement = value, 0
            return
        state.since_improvement += 1
        if state.since_improvement >= options.patience:
            state.stop_reason = (
                f"early stopping after epoch {epoch + 1}: val/{self.cfg.task.main_metric} did not improve by more than "
                f"{options.min_delta:g} in {state.since_improvement} validations (best {state.early_best:.6g})"
            )

    def log_train_loss(self, epoch: int) -> None:
        """Log the mean train loss since the last log: on a GPU, the one host-device sync of the step loop."""
        state, logger = self.state, self.logger
        if state.running_steps:
            mean_loss = distributed.mean_over_ranks(state.running_loss_total() / state.running_steps)
            if not math.isfinite(mean_loss) and self.on_nan == "stop":  # device runs find a NaN here
                first = state.global_step - state.running_steps + 1
                steps = (first, state.global_step)
                raise UserError(non_finite_message(mean_loss, steps, epoch, self.cfg, self.ckpt_dir))
            logger.scalar("train/loss", mean_loss, state.global_step)
            for label, total in state.running_parts.items():
                logger.scalar(
                    f"train/loss/{label}",
                    distributed.mean_over_ranks(float(total) / state.running_steps),
                    state.global_step,
                )
        if self.on_nan == "skip":
            logger.scalar("train/skipped_steps", state.skipped_steps, state.global_step)
        state.reset_running_loss()

    def evaluate_on(self, split: str) -> dict[str, float]:
        if self.metrics is None:
            self.metrics = build_metrics(self.data.task, self.data.num_outputs, self.device)
        batch_size, autocast = self.cfg.trainer.eval_batch_size, self.precision.autocast
        return evaluate(
            self.model, self.loss_fn, self.splits[split], self.data, batch_size, self.device, autocast, self.metrics
        )

    def save(self, best: bool = False) -> None:
        if not distributed.is_main():  # rank 0 writes; every rank resumes from its files
            return
        parts = (self.model, self.optimizer, self.scheduler, self.precision.scaler)
        ckpt = checkpoint_state(*parts, self.state, self.history, self.logger, self.run_config)
        checkpoint.save_atomic(ckpt, self.ckpt_dir / checkpoint.LAST, keep_previous=True)
        if best:  # the same state: best.pt shares last.pt's file
            checkpoint.duplicate_atomic(self.ckpt_dir / checkpoint.LAST, self.ckpt_dir / checkpoint.BEST)

    # ---------------------------------------------------------------- finish

    def finish(self) -> dict[str, Any]:
        """Final numbers from the best epoch's weights (by the task's main validation metric); metrics.json."""
        state, test = self.state, self.cfg.trainer.test
        distributed.barrier()  # rank 0 has written them
        # The last epoch's weights first (val_last/, test_last/): with noisy labels, what a run without
        # a clean validation split ends with; the same numbers as the best epoch's when it is the last.
        splits = ["val", "test"] if test else ["val"]
        last = self.evaluate_splits(splits)
        if state.best_epoch + 1 != state.epoch and (self.ckpt_dir / checkpoint.BEST).exists():
            self.model.load_state_dict(checkpoint.load(self.ckpt_dir / checkpoint.BEST, self.device)["model"])
            best = self.evaluate_splits(splits)
        else:
            best = last
        results: dict[str, Any] = {f"{split}/{k}": v for split, values in best.items() for k, v in values.items()}
        results.update({f"{split}_last/{k}": v for split, values in last.items() for k, v in values.items()})
        if test and self.cfg.task.name in pictures.TASKS and distributed.is_main():
            results["test_per_class"] = self.draw_test_pictures()
            results.update(self.shot_accuracies(results["test_per_class"]))
        results.update(
            best_epoch=state.best_epoch,
            epochs=state.epoch,
            stop_reason=state.stop_reason or "max_epochs",
            steps=state.global_step,
            steps_per_epoch=self.steps_per_epoch,
            skipped_steps=state.skipped_steps,
            wall_time_s=round(time.perf_counter() - self.started, 3),
            train_time_s=round(self.train_time, 4),
            first_step_unix_time=self.first_step_time,
            # How many samples one point of a metric is: the report warns about splits too small to compare.
            val_samples=len(self.data.val),
            test_samples=len(self.data.test),
        )
        scores = {k: v for k, v in results.items() if k.startswith(("val/", "test/"))}
        self.logger.hparams(hparams_of(self.cfg), scores)
        self.logger.close()
        if distributed.is_main():
            (self.run_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
        return results

    def evaluate_splits(self, splits: list[str]) -> dict[str, dict[str, float]]:
        return {split: self.evaluate_on(split) for split in splits}

    def shot_accuracies(self, per_class: dict[str, dict[str, float]]) -> dict[str, Any]:
        """With data.imbalance (multiclass): the training count of each class, and the test accuracy
        (mean recall) of the classes in thirds by that count: many-, medium- and few-shot."""
        if self.cfg.data.get("imbalance") is None or self.data.task != "multiclass":
            return {}
        counts = losses.class_weights.label_counts(self.data.train.y, "multiclass", self.data.num_outputs)[0]
        counts = counts.long().numpy()
        recall = np.array([scores["recall"] for scores in per_class.values()])
        shots = {f"test/acc_{name}": float(recall[rows].mean()) for name, rows in long_tail.shot_groups(counts).items()}
        return {**shots, "train_class_counts": counts.tolist()}

    @torch.no_grad()
    def draw_test_pictures(self) -> dict[str, dict[str, float]]:
        """The test split's confusion matrix and reliability diagram, as PNGs in the run folder and
        images in TensorBoard; returns the per-class precision, recall and F1."""
        self.model.eval()
        scores, targets = [], []
        for x, y in self.splits["test"].batches(self.cfg.trainer.eval_batch_size):
            with self.precision.autocast():
                output = self.model(x)
            scores.append(self.loss_fn.predict(output.float()))
            targets.append(y)
        data = self.data
        drawn = pictures.compute(torch.cat(scores), torch.cat(targets), data.task, data.num_outputs, data.class_names)
        for name, png in pictures.figures(drawn, data.class_names, data.task).items():
            (self.run_dir / f"{name}.png").write_bytes(png)
            self.logger.image(f"test/{name}", png, self.state.epoch)
        return drawn.per_class

    def kept(self, exc: checkpoint.WriteError) -> checkpoint.WriteError:
        """``exc`` with what a resume can start from: the last good checkpoint, untouched."""
        last = checkpoint.newest(self.ckpt_dir)
        kept = f"the last good checkpoint is kept: {last}" if last else "no checkpoint is left to resume from"
        error = checkpoint.WriteError(f"{exc}; {kept}")
        error.resumable = last is not None
        return error

    def cleanup(self) -> None:
        """Close the progress bar and the event files, also when the run stops early."""
        if self.progress is not None:
            self.progress.close()
        if self.logger is not None:
            with contextlib.suppress(OSError):  # a full disk has been reported already
                self.logger.close()


# ---------------------------------------------------------------- builders and checks


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
    """The loss of any config form (a name, the user's target, combo); weight/pos_weight=auto (or a
    method) are computed once, here, from the training labels."""
    try:
        resolved = losses.from_config.resolve(OmegaConf.to_container(cfg.loss, resolve=True), cfg.task.name)
        return losses.from_config.build(resolved, cfg.task.name, labels=data.train.y, num_classes=data.num_outputs)
    except losses.LossError as exc:
        raise UserError(str(exc)) from None


def batch_order(num_samples: int, seed: int, epoch: int) -> Tensor:
    """The shuffled sample order of one epoch, a pure function of (seed, epoch) so that resume can replay it."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_samples, generator=generator)


def is_better(value: float, loss: float, best: tuple[float, float] | None, mode: str) -> bool:
    """Whether (main metric, val loss) beats the best so far; ties on the metric go to the lower loss."""
    if math.isnan(value):
        return False
    if best is None or math.isnan(best[0]):
        return True
    if value == best[0]:
        return loss < best[1]
    return value > best[0] if mode == "max" else value < best[0]


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


def write_run_config(run_dir: Path, cfg: DictConfig) -> None:
    """The run's ``.hydra/`` folder (config.yaml, hydra.yaml, overrides.yaml), written once the run is
    known to start: Hydra is told not to write it itself (conf/config.yaml), so a refused run writes nothing."""
    from hydra.core.hydra_config import HydraConfig

    folder = run_dir / ".hydra"
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, folder / "config.yaml", resolve=True)  # readable without losslab's resolvers
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        OmegaConf.save(OmegaConf.create({"hydra": OmegaConf.to_container(hydra_cfg)}), folder / "hydra.yaml")
        OmegaConf.save(OmegaConf.create(list(hydra_cfg.overrides.task)), folder / "overrides.yaml")


def _overrides() -> list[str]:
    """The command-line overrides of this run when it runs under Hydra (stored so a resume can show them)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


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
