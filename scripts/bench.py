"""Benchmarks: what the harness costs over plain PyTorch, measured side by side in one run.

    python scripts/bench.py                  # all three parts, CPU (or the GPU when there is one)
    python scripts/bench.py --part steps     # only the step-overhead table (or first-step, sweep, dataloader)
    python scripts/bench.py --device cuda --precision bf16 --compile

1. Step overhead: the harness's training loop (``trainer.train.train``; its ``train_time_s`` covers
   exactly the optimiser steps, logging included) against a minimal hand-written loop doing the
   same work: same model, data tensors, batch size, optimiser, number of steps, device. A second
   hand-written loop also validates after every epoch, as the harness does (the validation loss and
   the task's metrics, with the same torchmetrics collection), and saves a checkpoint (steps timed
   the same way): on tiny epochs, work between epochs slows the steps that follow it. The harness
   also runs validating only after the last epoch (``trainer.val_every_n_epochs=<max_epochs>``),
   which leaves its step loop alone against the raw loop's, and for the table MLPs a table shows
   the step times by position in the epoch. Repetitions are interleaved (harness, raw, raw with
   per-epoch work, ...) and medians reported, since these machines are noisy; the table MLPs, whose
   runs take ~0.2 s, get three times as many. If `lightning` is installed its Trainer runs the
   same module as a last column.
2. Time to first step: from the start of ``python -m trainer ...`` to its first optimiser step,
   against ``python -c "import torch"``.
3. Sweep throughput: a 12-run sweep (4 losses x 3 seeds) through Hydra's sequential launcher and
   through the parallel launcher (workers forked from the sweep process): wall time, split into the
   time before the first run starts, while runs run and after the last run, and the per-run time
   outside training. Then the machine's own ceiling for the speed-up: the hand-written loop in one
   process with every core's threads against one 1-thread process per core, side by side.
4. Data larger than memory: the harness reading a map-style ``Dataset`` through its DataLoader path
   (``data=custom data.in_memory=false``: the (seed, epoch) batch order through a batch sampler,
   targets looked up by index) against a hand-written DataLoader loop over the same dataset (shuffled
   by a seeded sampler), with 0 and 2 worker processes; and the same dataset read into memory once
   (``data.in_memory=true``), the harness's default when it fits. The model is the small MLP, so
   the time is the data path's, not the model's.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from trainer.cli import CONF_DIR

# name -> overrides: the default model of each task plus one compute-heavier CNN. Epochs are chosen so
# that every case times a few hundred steps (a table's epoch is only 10-13 steps).
CASES: dict[str, list[str]] = {
    "multiclass (cnn, digits)": ["task=multiclass", "trainer.max_epochs=15"],
    "multilabel (cnn, strips)": ["task=multilabel", "trainer.max_epochs=7"],
    "binary (mlp, table)": ["task=binary", "trainer.max_epochs=40"],
    "regression (mlp, table)": ["task=regression", "trainer.max_epochs=50"],
    "heavy cnn (strips, 128-256ch)": [
        "task=multilabel",
        "model=cnn",
        "model.channels=[128,256]",
        "trainer.max_epochs=3",
    ],
}


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from trainer.config import check_config

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = hydra_compose("config", overrides=overrides)
    check_config(cfg)  # as the CLI does: model=auto becomes the data's model
    return cfg


def step_case_config(overrides: list[str], args):
    """A step-overhead case's config on the benchmark's device, precision and compile setting."""
    return compose(
        overrides
        + [
            f"trainer.device={args.device}",
            f"trainer.precision={args.precision}",
            f"trainer.compile={str(args.compile).lower()}",
            "trainer.progress=false",
            "trainer.test=false",
        ]
    )


def harness_steps_per_s(cfg) -> tuple[float, int]:
    from trainer.train import train

    with tempfile.TemporaryDirectory() as run_dir:
        results = train(cfg, Path(run_dir))
    return results["steps"] / results["train_time_s"], results["steps"]


def raw_steps_per_s(cfg, between_epochs: str = "nothing") -> tuple[float, int]:
    """The same work as the harness's step loop, written the way a user would by hand.

    ``between_epochs``: what the loop does after each epoch. "nothing"; "val+save": what a careful
    hand-written script does there and the harness does too, compute the validation loss and the
    task's metrics (the harness's torchmetrics collection) and save a checkpoint of the model and
    the optimiser; "pause": no work at all, only a 4 ms sleep, about as long as the harness's work
    between epochs on the table MLPs. As for the harness, only the epochs' step loops are timed.
    """
    import losses
    from trainer.data import build_data
    from trainer.models import build_model
    from trainer.optim import build_optimizer
    from trainer.tasks import get_task
    from trainer.train.evaluate import build_metrics
    from trainer.train.recipe import resolve_device

    device = resolve_device(cfg.trainer.device)
    torch.manual_seed(cfg.seed)
    data = build_data(cfg.data, cfg.task.name)
    loss_fn = losses.build(cfg.loss.name, task=cfg.task.name)
    model = build_model(cfg.model, data.kind, data.input_shape, loss_fn.head_size(cfg.task.name, data.num_outputs))
    model, loss_fn = model.to(device), loss_fn.to(device)
    optimizer = build_optimizer(cfg.optim, model)
    x, y = data.train.x.to(device), data.train.y.to(device)
    val_x, val_y = data.val.x.to(device), data.val.y.to(device)
    metrics = build_metrics(data.task, data.num_outputs, device)
    val_target = get_task(data.task).metric_target(val_y)
    if data.task == "regression":  # metrics in the target's own units, as the harness reports them
        val_target = val_target * data.target_std + data.target_mean
    batch, steps, timed = cfg.data.batch_size, 0, 0.0
    with tempfile.TemporaryDirectory() as folder:
        for epoch in range(cfg.trainer.max_epochs):
            _sync(device)
            start = time.perf_counter()
            model.train()
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch)).to(device)
            for i in range(0, len(x), batch):
                idx = order[i : i + batch]
                loss = loss_fn(model(x[idx]), y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                steps += 1
            _sync(device)
            timed += time.perf_counter() - start
            if between_epochs == "pause":
                time.sleep(0.004)
            elif between_epochs == "val+save":
                model.eval()
                with torch.no_grad():
                    output = model(val_x)
                    val_loss = float(loss_fn(output, val_y))
                    preds = loss_fn.predict(output)
                    if data.task == "regression":
                        preds = preds * data.target_std + data.target_mean
                    metrics.update(preds, val_target)
                    val = {name: float(value) for name, value in metrics.compute().items()}
                    metrics.reset()
                state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "val": val, "loss": val_loss}
                torch.save(state, Path(folder) / "checkpoint.pt")
    return steps / timed, steps


def lightning_steps_per_s(cfg) -> tuple[float, int] | None:
    try:
        import lightning as L
    except ImportError:
        return None
    import losses
    from trainer.data import build_data
    from trainer.models import build_model
    from trainer.optim import build_optimizer

    data = build_data(cfg.data, cfg.task.name)
    loss_fn = losses.build(cfg.loss.name, task=cfg.task.name)
    model = build_model(cfg.model, data.kind, data.input_shape, loss_fn.head_size(cfg.task.name, data.num_outputs))

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model, self.loss_fn = model, loss_fn

        def training_step(self, batch, _):
            x, y = batch
            return self.loss_fn(self.model(x), y)

        def configure_optimizers(self):
            return build_optimizer(cfg.optim, self.model)

    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(data.train.x, data.train.y), batch_size=cfg.data.batch_size, shuffle=True
    )
    trainer = L.Trainer(
        max_epochs=cfg.trainer.max_epochs,
        accelerator="gpu" if cfg.trainer.device.startswith("cuda") else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(Module(), loader)
    steps = trainer.global_step
    return steps / (time.perf_counter() - start), steps


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def repeats_for(case: str, args) -> int:
    """Repetitions of a case: 3x for the table MLPs, whose runs take ~0.2 s and whose medians wander
    from one run of the benchmark to the next by more than the differences measured."""
    return args.repeats * 3 if "mlp" in case else args.repeats


def validating_at_the_end(overrides: list[str], cfg) -> list[str]:
    """The case validating (and checkpointing) only after its last epoch: the harness's step loop
    apart from its per-epoch work, which on the table MLPs' 10-13-step epochs is most of the gap."""
    return [*overrides, f"trainer.val_every_n_epochs={cfg.trainer.max_epochs}"]


def bench_steps(args) -> None:
    print(f"\n## 1. Step overhead ({args.device}, precision {args.precision}, compile {args.compile})")
    print(f"median of {args.repeats} interleaved repetitions ({repeats_for('mlp', args)} for the table MLPs)\n")
    header = (
        "| case | steps | harness steps/s | raw steps/s | harness/raw time "
        "| raw + validation & save per epoch steps/s | harness/that time "
        "| harness validating after the last epoch only steps/s | that/raw time |"
    )
    with_lightning = _has_lightning()
    if with_lightning:
        header += " lightning steps/s |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for name, overrides in CASES.items():
        cfg = step_case_config(overrides, args)
        at_end_cfg = step_case_config(validating_at_the_end(overrides, cfg), args)
        harness, raw, raw_between, at_end, light = [], [], [], [], []
        steps = 0
        for _ in range(repeats_for(name, args)):
            rate, steps = harness_steps_per_s(cfg)
            harness.append(rate)
            raw.append(raw_steps_per_s(cfg)[0])
            raw_between.append(raw_steps_per_s(cfg, between_epochs="val+save")[0])
            at_end.append(harness_steps_per_s(at_end_cfg)[0])
            if with_lightning:
                light.append(lightning_steps_per_s(cfg)[0])
        h, r, rb = statistics.median(harness), statistics.median(raw), statistics.median(raw_between)
        row = f"| {name} | {steps} | {h:.1f} | {r:.1f} | {r / h:.3f} | {rb:.1f} | {rb / h:.3f} |"
        he = statistics.median(at_end)
        row += f" {he:.1f} | {r / he:.3f} |"
        if with_lightning:
            row += f" {statistics.median(light):.1f} |"
        print(row, flush=True)


def step_end_times(run) -> list[float]:
    """The moment each optimiser step ended while ``run()`` trained, from a global optimiser hook
    (one call per step, the same in the harness and in the hand-written loop)."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    ends: list[float] = []
    hook = register_optimizer_step_post_hook(lambda _optimizer, _args, _kwargs: ends.append(time.perf_counter()))
    try:
        run()
    finally:
        hook.remove()
    return ends


def bench_steps_by_position(args) -> None:
    """Where the table MLPs' gap is: the time between consecutive steps by position in the epoch."""
    print("\n### Steps by position in the epoch (table MLPs)\n")
    print(
        "Times between consecutive optimiser steps, medians over epochs and repetitions: across an epoch "
        "boundary (everything between epochs, then the next epoch's first step; the step table above "
        "counts only that step of it), each of the next three steps, and the rest of the epoch. "
        "raw+ is the hand-written loop validating (loss and metrics) and saving a checkpoint after every epoch; "
        "raw+pause only sleeps 4 ms between epochs.\n"
    )
    print("| case | loop | across the boundary us | next 3 steps us | rest of the epoch us |\n|---|---|---|---|---|")
    for name, overrides in CASES.items():
        if "mlp" not in name:
            continue
        cfg = step_case_config(overrides, args)
        loops = {
            "harness": functools.partial(harness_steps_per_s, cfg),
            "harness validating at the end": functools.partial(
                harness_steps_per_s, step_case_config(validating_at_the_end(overrides, cfg), args)
            ),
            "raw": functools.partial(raw_steps_per_s, cfg),
            "raw+": functools.partial(raw_steps_per_s, cfg, between_epochs="val+save"),
            "raw+pause": functools.partial(raw_steps_per_s, cfg, between_epochs="pause"),
        }
        gaps: dict[str, dict[int, list[float]]] = {loop: {} for loop in loops}  # position -> gaps
        per_epoch = 0
        for _ in range(repeats_for(name, args)):  # interleaved
            for loop, run in loops.items():
                ends = step_end_times(run)
                per_epoch = len(ends) // cfg.trainer.max_epochs
                for i in range(1, len(ends)):  # position 0: the gap that ends with an epoch's first step
                    gaps[loop].setdefault(min(i % per_epoch, 4), []).append(ends[i] - ends[i - 1])
        for loop in loops:
            us = {p: statistics.median(g) * 1e6 for p, g in gaps[loop].items()}
            print(
                f"| {name} ({per_epoch} steps an epoch) | {loop} | {us[0]:.0f} "
                f"| {us[1]:.0f}, {us[2]:.0f}, {us[3]:.0f} | {us[4]:.0f} |",
                flush=True,
            )


def _has_lightning() -> bool:
    try:
        import lightning  # noqa: F401
    except ImportError:
        return False
    return True


# The same first step written by hand: sklearn's digits, the same CNN, AdamW, one step; prints the time.
RAW_FIRST_STEP = """
import time
import torch
from sklearn.datasets import load_digits
from trainer.models.small import SmallCNN
digits = load_digits()
x = torch.tensor(digits.images[:, None] / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)
model = SmallCNN((1, 8, 8), 10, [32, 64], [128], 0.1)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
loss = torch.nn.functional.cross_entropy(model(x[:64]), y[:64])
optimizer.zero_grad()
loss.backward()
optimizer.step()
print(time.time())
"""


def bench_first_step(args) -> None:
    print("\n## 2. Time to first step (task=multiclass)\n")
    env = dict(os.environ)
    torch_times, raw_times, harness_times = [], [], []
    for _ in range(args.repeats):  # interleaved
        start = time.time()
        subprocess.run([sys.executable, "-c", "import torch"], check=True, env=env)
        torch_times.append(time.time() - start)
        start = time.time()
        out = subprocess.run(
            [sys.executable, "-c", RAW_FIRST_STEP], check=True, env=env, capture_output=True, text=True
        )
        raw_times.append(float(out.stdout.split()[-1]) - start)
        with tempfile.TemporaryDirectory() as run_dir:
            start = time.time()
            subprocess.run(
                [sys.executable, "-m", "trainer", "trainer.max_epochs=1", "trainer.test=false",
                 f"trainer.device={args.device}", f"hydra.run.dir={run_dir}"],
                check=True, env=env, capture_output=True,
            )  # fmt: skip
            results = json.loads((Path(run_dir) / "metrics.json").read_text())
            harness_times.append(results["first_step_unix_time"] - start)
    t, r, h = (statistics.median(v) for v in (torch_times, raw_times, harness_times))
    print("| from process start | median s |\n|---|---|")
    print(f"| python -c 'import torch' (exits) | {t:.2f} |")
    print(f"| hand-written script: sklearn digits, same CNN, AdamW, first step done | {r:.2f} |")
    print(f"| python -m trainer: first optimiser step done | {h:.2f} |")
    print(f"| harness - import torch | {h - t:.2f} |")
    print(f"| harness - hand-written first step | {h - r:.2f} |")


def bench_sweep(args, task: str) -> None:
    print(f"\n## 3. Sweep throughput: 12 runs (4 losses x 3 seeds), task={task}, {args.sweep_epochs[task]} epochs\n")
    env = dict(os.environ)
    common = ["-m", f"task={task}", "loss=ce,nll,bce_logits,mse", "seed=0,1,2",
              f"trainer.max_epochs={args.sweep_epochs[task]}", "trainer.progress=false"]  # fmt: skip
    rows = []
    for launcher in ("basic", "parallel"):
        with tempfile.TemporaryDirectory() as sweep_dir:
            start = time.time()
            command = [sys.executable, "-m", "trainer", *common, f"hydra/launcher={launcher}"]
            subprocess.run([*command, f"hydra.sweep.dir={sweep_dir}"], check=True, env=env, capture_output=True)
            end = time.time()
            runs = []
            for path in Path(sweep_dir).glob("*/metrics.json"):
                metrics = json.loads(path.read_text())
                finished = path.stat().st_mtime  # metrics.json is a run's last write
                runs.append((finished - metrics["wall_time_s"], finished, metrics))
        first_start, last_end = min(r[0] for r in runs), max(r[1] for r in runs)
        outside = statistics.median(m["wall_time_s"] - m["train_time_s"] for _, _, m in runs)
        timeline = (end - start, first_start - start, last_end - first_start, end - last_end)
        rows.append((launcher, len(runs), *timeline, outside))
    print(
        "| launcher | runs | wall s | before the first run starts s | runs s | after the last run s "
        "| median per-run s outside training |\n|---|---|---|---|---|---|---|"
    )
    for launcher, n, wall, before, during, after, outside in rows:
        print(f"| {launcher} | {n} | {wall:.1f} | {before:.1f} | {during:.1f} | {after:.1f} | {outside:.2f} |")
    (_, _, seq_wall, _, seq_runs, _, _), (_, _, par_wall, _, par_runs, _, _) = rows
    print(
        f"\nparallel speed-up: {seq_wall / par_wall:.2f}x over the whole sweep, "
        f"{seq_runs / par_runs:.2f}x while runs run"
    )
    bench_machine_ceiling(task, args.sweep_epochs[task])


def _ceiling_worker(task: str, epochs: int, threads: int, barrier, results) -> None:
    torch.set_num_threads(threads)
    cfg = compose([f"task={task}", f"trainer.max_epochs={epochs}", "trainer.device=cpu"])
    raw_steps_per_s(cfg)  # warm-up: imports, first-call costs
    barrier.wait()  # all processes time the same moments
    results.put(raw_steps_per_s(cfg)[0])


def _concurrent_raw_steps_per_s(task: str, epochs: int, processes: int, threads: int) -> float:
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # this process has run torch ops: no fork
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_ceiling_worker, args=(task, epochs, threads, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total = sum(results.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total


def bench_machine_ceiling(task: str, epochs: int) -> None:
    """What this machine allows at best: the hand-written loop, one process with all cores' threads
    (what a sequential sweep runs) against one 1-thread process per core (what the parallel one runs)."""
    cores = len(os.sched_getaffinity(0))
    one = _concurrent_raw_steps_per_s(task, epochs, 1, cores)
    single_thread = _concurrent_raw_steps_per_s(task, epochs, 1, 1)
    spread = _concurrent_raw_steps_per_s(task, epochs, cores, 1)
    print(
        f"machine ceiling (hand-written loop, no harness): 1 process x {cores} threads {one:.0f} steps/s, "
        f"1 x 1 thread {single_thread:.0f}, {cores} processes x 1 thread {spread:.0f} in total: the parallel "
        f"launcher can be at most {spread / one:.2f}x faster while runs run "
        f"({cores} threads give one run {one / single_thread:.2f}x of 1 thread)"
    )


# ---------------------------------------------------------------- 4. the DataLoader path


class DecodedDigits(torch.utils.data.Dataset):
    """sklearn's digits made on access as 32x32 float images, a stand-in for decoding image files."""

    def __init__(self, images, labels) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = torch.from_numpy(self.images[index]).float().div(16.0)[None, None]
        image = torch.nn.functional.interpolate(image, size=(32, 32), mode="bilinear", align_corners=False)[0]
        return image, int(self.labels[index])


def digit_datasets() -> dict[str, DecodedDigits]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images.astype("float32"), digits.target
    cuts = {"train": slice(0, 1200), "val": slice(1200, 1500), "test": slice(1500, None)}
    return {name: DecodedDigits(images[part], labels[part]) for name, part in cuts.items()}


def harness_stream_steps_per_s(args, workers: int, in_memory: bool, epochs: int) -> tuple[float, int]:
    import trainer

    overrides = [
        "task=multiclass",
        "model=mlp",
        f"data.in_memory={str(in_memory).lower()}",
        f"data.num_workers={workers}",
        f"trainer.max_epochs={epochs}",
        f"trainer.val_every_n_epochs={epochs}",
        "trainer.test=false",
        "trainer.progress=false",
        f"trainer.device={args.device}",
    ]
    with tempfile.TemporaryDirectory() as run_dir:
        results = trainer.run(overrides, data=digit_datasets, run_dir=Path(run_dir) / "run")
    return results["steps"] / results["train_time_s"], results["steps"]


def raw_stream_steps_per_s(args, workers: int, epochs: int) -> tuple[float, int]:
    """A hand-written DataLoader loop: the same dataset, model, optimiser, batch size and workers."""
    from trainer.models import build_model
    from trainer.optim import build_optimizer

    device = torch.device(args.device)
    cfg = compose(["task=multiclass", "model=mlp"])
    datasets = digit_datasets()
    torch.manual_seed(0)
    model = build_model(cfg.model, "image", (1, 32, 32), 10).to(device)
    optimizer = build_optimizer(cfg.optim, model)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps, timed = 0, 0.0
    for epoch in range(epochs):
        sampler = torch.utils.data.RandomSampler(datasets["train"], generator=torch.Generator().manual_seed(epoch))
        loader = torch.utils.data.DataLoader(
            datasets["train"], batch_size=cfg.data.batch_size, sampler=sampler, num_workers=workers,
            pin_memory=device.type == "cuda",
        )  # fmt: skip
        _sync(device)
        start = time.perf_counter()
        model.train()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        _sync(device)
        timed += time.perf_counter() - start
    return steps / timed, steps


def bench_dataloader(args) -> None:
    epochs = 3
    print(f"\n## 4. The DataLoader path ({args.device}; digits decoded to 32x32 on access, mlp, {epochs} epochs)")
    print(f"median of {args.repeats} interleaved repetitions\n")
    print(
        "| workers | harness streamed steps/s | raw DataLoader steps/s | harness/raw time | harness in memory steps/s |"
    )
    print("|---|---|---|---|---|")
    for workers in (0, 2):
        streamed, raw, memory = [], [], []
        for _ in range(args.repeats):
            streamed.append(harness_stream_steps_per_s(args, workers, in_memory=False, epochs=epochs)[0])
            raw.append(raw_stream_steps_per_s(args, workers, epochs)[0])
            memory.append(harness_stream_steps_per_s(args, workers, in_memory=True, epochs=epochs)[0])
        h, r, m = statistics.median(streamed), statistics.median(raw), statistics.median(memory)
        print(f"| {workers} | {h:.1f} | {r:.1f} | {r / h:.3f} | {m:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "steps", "first-step", "sweep", "dataloader"], default="all")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32", choices=["32", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sweep-tasks", default="multiclass,binary", help="comma-separated; one sweep each")
    args = parser.parse_args()
    # Epochs per sweep run: the multiclass task's default; the binary table's default (30) trains in
    # ~0.2 s, so 100 epochs show what its runs cost beside the sweep's fixed start-up.
    args.sweep_epochs = {"multiclass": 15, "binary": 100}
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, device {args.device}")
    if args.device.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name()}")
    if args.part in ("all", "steps"):
        bench_steps(args)
        bench_steps_by_position(args)
    if args.part in ("all", "first-step"):
        bench_first_step(args)
    if args.part in ("all", "sweep"):
        for task in args.sweep_tasks.split(","):
            bench_sweep(args, task)
    if args.part in ("all", "dataloader"):
        bench_dataloader(args)


if __name__ == "__main__":
    main()
