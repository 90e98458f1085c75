"""Checkpoints, resume after SIGKILL / SIGINT / SIGTERM, corrupt-file fallback, NaN guards, determinism.

The resume tests compare against an uninterrupted run of the same command: metrics.json, every
tensor of last.pt and best.pt (torch.equal), and every TensorBoard scalar (same steps, same values,
each (tag, step) exactly once in the raw event files).
"""

from __future__ import annotations

import json
import math
import os
import random
import shlex
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, compose, read_metrics, read_scalars, run_cli

# digits with batch 8: 158 steps per epoch, about 0.4 s an epoch on one thread. The tests interrupt
# the second epoch; the third is the margin that keeps a slow poll from finding the run already done.
KILL_ARGS = (
    "task=multiclass",
    "data.batch_size=8",
    "trainer.max_epochs=3",
    "trainer.num_threads=1",
    "trainer.device=cpu",
    "trainer.log_every_n_steps=2",
    "trainer.log_flush_secs=0",  # each value written at once: events past the checkpoint mid-epoch
)
STEPS_PER_EPOCH = 158


# ---------------------------------------------------------------- helpers


def raw_scalar_steps(run_dir: Path) -> list[tuple[str, int]]:
    """Every (tag, step) of every scalar in the raw event files, without any reader-side purging."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    pairs = []
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    pairs.append((value.tag, event.step))
    return pairs


TIMING_KEYS = ("wall_time_s", "train_time_s", "first_step_unix_time")


def drop_timing(metrics: dict) -> None:
    """Timings differ between any two runs; everything else in metrics.json must not."""
    for key in TIMING_KEYS:
        metrics.pop(key)


def assert_same_tensors(a, b, where: str = "") -> None:
    """Recursively: every tensor equal bitwise (torch.equal), every other value equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            assert_same_tensors(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a} != {b}"  # NaN == NaN here


def assert_same_run(reference: Path, other: Path) -> None:
    """Same metrics, same weights and optimiser state in last.pt and best.pt, same curves."""
    m1, m2 = read_metrics(reference), read_metrics(other)
    drop_timing(m1)
    drop_timing(m2)
    assert m1 == m2
    for name in ("last.pt", "best.pt"):
        a = torch.load(reference / "checkpoints" / name, weights_only=True)
        b = torch.load(other / "checkpoints" / name, weights_only=True)
        for key in ("model", "optimizer", "scheduler", "scaler", "epoch", "global_step", "best", "history", "rng"):
            assert_same_tensors(a[key], b[key], f"{name}:{key}")
    assert read_scalars(reference) == read_scalars(other)
    steps = raw_scalar_steps(other)
    duplicated = {p for p in steps if steps.count(p) > 1}
    assert not duplicated, sorted(duplicated)[:10]
    assert sorted(steps) == sorted(raw_scalar_steps(reference))


def start_run(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "trainer", *KILL_ARGS, f"hydra.run.dir={run_dir}", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_mid_epoch(proc: subprocess.Popen, run_dir: Path, timeout: float = 120) -> dict:
    """Poll until the first epoch's checkpoint exists and steps after it reached the event file."""
    last = run_dir / "checkpoints" / "last.pt"
    deadline = time.monotonic() + timeout
    ckpt = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        if ckpt is None and last.exists():
            ckpt = torch.load(last, weights_only=True)
        if ckpt is not None:
            written = sum(p.stat().st_size for p in run_dir.glob("events.out.tfevents.*"))
            if written > sum(ckpt["events"].values()) + 400:  # a dozen train/loss events past the checkpoint
                return ckpt
        time.sleep(0.01)
    raise AssertionError("the run did not reach the middle of its second epoch in time")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every interrupted one is compared with."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = run_cli(*KILL_ARGS, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


# ---------------------------------------------------------------- kill and resume (subprocesses)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(reference, tmp_path):
    run_dir = tmp_path / "killed"
    proc = start_run(run_dir)
    wait_until_mid_epoch(proc, run_dir)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()

    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["batch_in_epoch"]) == (1, 0)  # the checkpoint at the end of epoch 0
    logged = max(step for tag, step in raw_scalar_steps(run_dir) if tag == "train/loss")
    # The killed process logged steps after its checkpoint, inside an epoch: resume must drop them.
    assert ckpt["global_step"] < logged < ckpt["global_step"] + STEPS_PER_EPOCH

    result = run_cli(*KILL_ARGS, f"hydra.run.dir={run_dir}", "trainer.resume=true")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {run_dir / 'checkpoints' / 'last.pt'}" in result.stderr
    assert_same_run(reference, run_dir)


def test_ctrl_c_during_start_up_exits_130_with_a_message_not_a_traceback(tmp_path):
    """Before the step loop there is nothing to checkpoint: Ctrl-C stops at once, and says so."""
    for attempt in range(3):
        run_dir = tmp_path / f"starting{attempt}"
        proc = start_run(run_dir)
        composed = run_dir  # Hydra makes the run's folder once the config is composed, before the run builds
        deadline = time.monotonic() + 60
        while not composed.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.005)
        still_starting = proc.poll() is None  # else send_signal sends nothing
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        # Only if this process was descheduled for over a second: the signal found the run past its start-up.
        if still_starting and "stopping after the current step" not in stderr:
            break
    assert proc.returncode == 130, stderr[-3000:]
    assert "interrupted (Ctrl-C): stopped at once" in stderr and "trainer.resume=true" in stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert not (run_dir / "checkpoints").exists()


@pytest.mark.parametrize("sig, code, resume", [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)])
def test_signal_stops_at_a_step_with_checkpoint_and_printed_resume_command(reference, tmp_path, sig, code, resume):
    run_dir = tmp_path / "stopped"
    proc = start_run(run_dir)
    wait_until_mid_epoch(proc, run_dir)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr[-3000:]
    assert "Traceback" not in stderr
    assert not (run_dir / "metrics.json").exists()

    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert 0 < ckpt["batch_in_epoch"] < STEPS_PER_EPOCH  # a mid-epoch checkpoint, at a step boundary
    assert ckpt["global_step"] == ckpt["epoch"] * STEPS_PER_EPOCH + ckpt["batch_in_epoch"]

    command = stderr.split("resume with:")[1].strip().splitlines()[0]
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "trainer"]
    assert f"hydra.run.dir={run_dir.resolve()}" in argv and "trainer.resume=true" in argv
    assert set(KILL_ARGS) <= set(argv)
    if resume:  # the printed command continues mid-epoch to the very same result
        result = run_cli(*argv[3:])
        assert result.returncode == 0, result.stderr[-3000:]
        assert_same_run(reference, run_dir)


# ---------------------------------------------------------------- in-process runs (small and fast)

TINY = ("task=binary", "trainer.max_epochs=3", "trainer.device=cpu", "trainer.progress=false", "trainer.num_threads=1")


def train_in_process(run_dir: Path, *overrides: str) -> dict:
    from trainer.train import train

    return train(compose(*TINY, *overrides), run_dir)


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_checkpoint_holds_the_whole_state_and_rotates(tmp_path, restore_threads):
    run_dir = tmp_path / "run"
    train_in_process(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    last = torch.load(ckpt_dir / "last.pt", weights_only=True)
    previous = torch.load(ckpt_dir / "last.prev.pt", weights_only=True)
    assert (last["epoch"], previous["epoch"]) == (3, 2)
    assert last["global_step"] == 3 * read_metrics(run_dir)["steps_per_epoch"]
    for key in ("model", "optimizer", "scheduler", "scaler", "rng", "config", "history", "events", "best"):
        assert key in last, key
    assert set(last["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert last["config"]["task"]["name"] == "binary"
    history = json.loads(last["history"])  # one JSON string: the epochs' validation metrics
    assert [h["epoch"] for h in history] == [0, 1, 2] and all("val/loss" in h for h in history)
    best = torch.load(ckpt_dir / "best.pt", weights_only=True)
    assert best["epoch"] == read_metrics(run_dir)["best_epoch"] + 1
    assert not list(ckpt_dir.glob(".*.tmp"))  # no temporary file left behind


def test_same_config_and_seed_twice_gives_identical_results(tmp_path, restore_threads):
    first = train_in_process(tmp_path / "first", "model.dropout=0.3")
    second = train_in_process(tmp_path / "second", "model.dropout=0.3")
    drop_timing(first)
    drop_timing(second)
    assert first == second
    a = torch.load(tmp_path / "first" / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "second" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert_same_tensors(a, b)
    assert read_scalars(tmp_path / "first") == read_scalars(tmp_path / "second")


def test_rng_state_round_trip_is_exact():
    from trainer.train import checkpoint

    random.gauss(0, 1)  # leave a cached second gaussian in both generators: part of the state
    np.random.standard_normal()
    torch.rand(3)
    saved = checkpoint.rng_state()
    buffer = __import__("io").BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    expected = (random.random(), random.gauss(0, 1), np.random.standard_normal(3).tolist(), torch.rand(3))
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    checkpoint.set_rng_state(loaded)
    again = (random.random(), random.gauss(0, 1), np.random.standard_normal(3).tolist(), torch.rand(3))
    assert expected[:3] == again[:3] and torch.equal(expected[3], again[3])


def test_corrupt_last_checkpoint_falls_back_to_the_previous_one(tmp_path, restore_threads, capfd):
    reference = train_in_process(tmp_path / "reference")
    run_dir = tmp_path / "run"
    train_in_process(run_dir)
    (run_dir / "metrics.json").unlink()
    last = run_dir / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a copy cut short

    resumed = train_in_process(run_dir, "trainer.resume=true")
    err = capfd.readouterr().err
    assert "last.pt is corrupt" in err and "resuming from last.prev.pt (epoch 2" in err
    drop_timing(reference)
    drop_timing(resumed)
    assert resumed == reference  # epoch 3 redone from epoch 2's state: the same result


def test_a_checkpoint_with_the_history_as_a_list_still_resumes(tmp_path, restore_threads):
    """Checkpoints from before the history became one JSON string hold it as a list of dicts."""
    reference = train_in_process(tmp_path / "reference")
    run_dir = tmp_path / "run"
    train_in_process(run_dir)
    (run_dir / "metrics.json").unlink()
    for name in ("last.pt", "last.prev.pt"):
        path = run_dir / "checkpoints" / name
        state = torch.load(path, weights_only=True)
        state["history"] = json.loads(state["history"])
        torch.save(state, path)
    (run_dir / "checkpoints" / "last.pt").unlink()  # resume from epoch 2: epoch 3 is trained again
    resumed = train_in_process(run_dir, "trainer.resume=true")
    drop_timing(reference)
    drop_timing(resumed)
    assert resumed == reference
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert [h["epoch"] for h in json.loads(last["history"])] == [0, 1, 2]


def test_resume_refuses_when_no_checkpoint_reads_back(tmp_path, restore_threads):
    from trainer.errors import UserError

    run_dir = tmp_path / "run"
    train_in_process(run_dir, "trainer.max_epochs=1")
    for path in (run_dir / "checkpoints").glob("*.pt"):
        path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot resume: no checkpoint .* reads back"):
        train_in_process(run_dir, "trainer.resume=true")


class NaNOnCalls(torch.nn.Module):
    """Wraps a loss; returns NaN on the given (1-based) training calls."""

    def __init__(self, loss: torch.nn.Module, bad_calls: set[int]) -> None:
        super().__init__()
        self.loss, self.bad_calls, self.calls = loss, bad_calls, 0

    def forward(self, output, target):
        value = self.loss(output, target)
        if torch.is_grad_enabled():  # training steps only, not evaluation
            self.calls += 1
            if self.calls in self.bad_calls:
                return value * float("nan")
        return value

    def set_epoch(self, epoch: int) -> None:
        self.loss.set_epoch(epoch)

    def head_size(self, *args):
        return self.loss.head_size(*args)

    def predict(self, output):
        return self.loss.predict(output)


def nan_loss(monkeypatch, bad_calls: set[int]) -> None:
    from trainer.train import recipe as train_module

    real = train_module.build_loss
    monkeypatch.setattr(train_module, "build_loss", lambda cfg, data: NaNOnCalls(real(cfg, data), bad_calls))


def test_on_nan_stop_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, restore_threads):
    from trainer.errors import UserError

    run_dir = tmp_path / "run"
    steps = train_in_process(tmp_path / "probe", "trainer.max_epochs=1")["steps_per_epoch"]
    bad_step = steps + 3  # in the second epoch
    nan_loss(monkeypatch, {bad_step})
    with pytest.raises(UserError) as info:
        train_in_process(run_dir)
    message = str(info.value)
    assert f"the training loss is nan at step {bad_step} (epoch 1)" in message
    assert "optim.lr" in message and "trainer.on_nan=skip" in message and "last good checkpoint" in message
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["global_step"] == steps
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
    assert not (run_dir / "metrics.json").exists()


def test_non_finite_weights_are_never_checkpointed(tmp_path, monkeypatch, restore_threads):
    """An inf gradient on the last step of epoch 1 (the loss itself finite): the run stops, last.pt stays epoch 0's."""
    from trainer.errors import UserError
    from trainer.train import recipe as train_module

    steps = train_in_process(tmp_path / "probe", "trainer.max_epochs=1")["steps_per_epoch"]
    real = train_module.build_model
    backward_calls = [0]

    def inf_gradient_once(grad):
        backward_calls[0] += 1
        return grad * float("inf") if backward_calls[0] == 2 * steps else grad

    def with_hook(*args, **kwargs):
        model = real(*args, **kwargs)
        next(model.parameters()).register_hook(inf_gradient_once)
        return model

    monkeypatch.setattr(train_module, "build_model", with_hook)
    run_dir = tmp_path / "run"
    with pytest.raises(UserError, match="weights became NaN or inf in epoch 1.*trainer.grad_clip"):
        train_in_process(run_dir)
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())


def test_on_nan_skip_skips_and_counts(tmp_path, monkeypatch, restore_threads):
    bad = {2, 5, 9}
    nan_loss(monkeypatch, bad)
    run_dir = tmp_path / "run"
    results = train_in_process(run_dir, "trainer.on_nan=skip", "trainer.log_every_n_steps=1")
    assert results["skipped_steps"] == len(bad)
    assert json.loads((run_dir / "metrics.json").read_text())["skipped_steps"] == len(bad)
    skipped = dict(read_scalars(run_dir)["train/skipped_steps"])
    assert [skipped[s] for s in (1, 2, 4, 5, 9, 10)] == [0, 1, 1, 2, 3, 3]
    losses = read_scalars(run_dir)["train/loss"]
    assert all(np.isfinite(v) for _, v in losses)
    assert {s for s, _ in losses}.isdisjoint(bad)  # a window of one skipped batch has no mean loss
    assert math.isfinite(results["val/loss"])  # the skipped batches left the weights finite


@pytest.mark.parametrize("precision", ["32", "fp16"])
def test_grad_clip_bounds_each_update(tmp_path, restore_threads, precision):
    """Plain SGD with lr=1: each step moves the weights by exactly the (clipped) gradient. With fp16
    the clip applies to the true gradients, unscaled first (clipping the scaled ones would leave
    steps 65536x too small)."""
    sgd = ("optim=sgd", "optim.lr=1.0", "optim.momentum=0.0", "optim.nesterov=false", "optim.weight_decay=0.0",
           f"trainer.precision={precision}")  # fmt: skip
    clip = 1e-3

    def moved(run_dir: Path, *extra: str) -> tuple[float, int]:
        from trainer.train import train

        cfg = compose(*TINY, *sgd, *extra)
        results = train(cfg, run_dir)
        after = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
        before = init_weights(cfg)
        delta = torch.cat([(after[k] - before[k]).flatten() for k in before]).norm()
        return float(delta), results["steps"]

    clipped, steps = moved(tmp_path / "clipped", f"trainer.grad_clip={clip}")
    free, _ = moved(tmp_path / "free")
    assert clipped <= steps * clip * (1 + 1e-4)  # triangle inequality over the steps
    assert clipped > 0.5 * clip  # it did train
    assert free > 10 * clipped


def init_weights(cfg) -> dict[str, torch.Tensor]:
    """The model's initial weights for this config (the same seeded construction as train())."""
    from trainer.data import build_data
    from trainer.models import build_model
    from trainer.train.recipe import build_loss, seed_everything

    seed_everything(cfg.seed)
    data = build_data(cfg.data, cfg.task.name)
    loss = build_loss(cfg, data)
    model = build_model(cfg.model, data.kind, data.input_shape, loss.head_size(cfg.task.name, data.num_outputs))
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_in_process_stop_request_writes_a_checkpoint_at_the_next_step(tmp_path, monkeypatch, restore_threads):
    """SIGTERM delivered to this process while train() runs: Interrupted, with a resumable checkpoint."""
    from trainer.train import recipe as train_module
    from trainer.train.signals import Interrupted

    real_batch_order = train_module.batch_order

    def order_then_signal(n, seed, epoch):  # the signal arrives as epoch 1 starts
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_batch_order(n, seed, epoch)

    monkeypatch.setattr(train_module, "batch_order", order_then_signal)
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted) as info:
        train_in_process(run_dir)
    assert info.value.exit_code == 143
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["batch_in_epoch"]) == (1, 0)  # stopped before the first step of epoch 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are restored

    monkeypatch.setattr(train_module, "batch_order", real_batch_order)
    resumed = train_in_process(run_dir, "trainer.resume=true")
    reference = train_in_process(tmp_path / "reference")
    drop_timing(resumed)
    drop_timing(reference)
    assert resumed == reference


def _start_up_step_sending_ctrl_c(monkeypatch, name: str, after_signal) -> list[str]:
    """Replace train.py's ``name`` (a start-up builder) by one that sends this process SIGINT, then
    calls ``after_signal`` (which sees the KeyboardInterrupt, if the handler raises one) and builds."""
    from trainer.train import recipe as train_module

    real = getattr(train_module, name)
    done: list[str] = []

    def builder(*args, **kwargs):
        after_signal(lambda: os.kill(os.getpid(), signal.SIGINT))
        done.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, name, builder)
    return done


def test_ctrl_c_swallowed_during_start_up_still_stops_before_the_first_step(tmp_path, monkeypatch, restore_threads):
    """Ctrl-C while the run is being built raises KeyboardInterrupt in whatever code runs then. Third-party
    code can swallow it (mpmath, imported with the optimiser via torch._dynamo, probes its backend in a
    bare ``except:``); the run must still stop before its first step instead of training to the end."""

    def swallow(send_ctrl_c) -> None:
        try:
            send_ctrl_c()
            time.sleep(10)  # not reached: the handler raises as soon as the signal arrives
        except BaseException:  # what a bare except does
            pass

    done = _start_up_step_sending_ctrl_c(monkeypatch, "build_model", swallow)
    run_dir = tmp_path / "run"
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        train_in_process(run_dir)
    assert done == ["build_model"] and time.monotonic() - started < 10  # the signal arrived inside the builder
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.json").exists()
    assert not run_dir.exists() or "train/loss" not in read_scalars(run_dir)  # not a single step
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored


def test_ctrl_c_turned_into_another_error_during_start_up_is_reported_as_ctrl_c(tmp_path, monkeypatch, restore_threads):
    """Python wraps a KeyboardInterrupt raised in ``__set_name__`` in a RuntimeError; a Ctrl-C must not
    come out as some unrelated error message (it once read "optim.fused=true does not work ...")."""

    def wrap(send_ctrl_c) -> None:
        try:
            send_ctrl_c()
            time.sleep(10)
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__") from exc

    _start_up_step_sending_ctrl_c(monkeypatch, "build_model", wrap)
    with pytest.raises(KeyboardInterrupt) as info:
        train_in_process(tmp_path / "run")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_ctrl_c_while_the_optimiser_is_built_waits_for_it_then_stops(tmp_path, monkeypatch, restore_threads):
    """Building the optimiser imports torch._dynamo and triton, whose C++ set-up aborts the process on a
    KeyboardInterrupt raised inside it: a Ctrl-C there is held until the optimiser is built."""
    reached: list[bool] = []

    def keep_going(send_ctrl_c) -> None:
        send_ctrl_c()
        time.sleep(0.05)  # the handler would raise here if it were not held
        reached.append(True)

    done = _start_up_step_sending_ctrl_c(monkeypatch, "build_optimizer", keep_going)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_in_process(run_dir)
    assert reached == [True] and done == ["build_optimizer"]
    assert not (run_dir / "checkpoints").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferred_block_holds_sigterm_and_hands_it_to_the_previous_handler_after():
    from trainer.train.signals import StopRequest

    received: list[tuple[int, bool]] = []
    inside = False
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append((signum, inside)))
    try:
        with StopRequest() as stop:
            with stop.deferred():
                inside = True
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                assert received == []
                inside = False
            assert received == [(signal.SIGTERM, False)]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_ctrl_c_lost_in_a_callback_during_start_up_is_not_printed_and_raised_again(monkeypatch):
    """A Ctrl-C can land in a weakref callback (importlib's module locks have one), where Python
    cannot raise it: it would print "Exception ignored ... KeyboardInterrupt" and go on. The run
    leaves that print out and stops before its first step; other such errors are still reported."""
    from trainer.train.signals import StopRequest

    reported: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: reported.append(unraisable.exc_type))

    class Target:
        pass

    def interrupted_callback(_ref: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)  # not reached: the handler raises as soon as the signal arrives

    def failing_callback(_ref: object) -> None:
        raise ValueError("reported as usual")

    with StopRequest() as stop:
        target = Target()
        refs = [weakref.ref(target, failing_callback), weakref.ref(target, interrupted_callback)]
        started = time.monotonic()
        del target  # both callbacks run now (the last registered first)
        assert time.monotonic() - started < 10
        assert reported == [ValueError]
        with pytest.raises(KeyboardInterrupt):
            stop.arm()
    assert refs[0]() is None
    assert sys.unraisablehook is not stop._unraisable and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_val_every_n_epochs_validates_and_checkpoints_every_nth_and_the_last_epoch(tmp_path, restore_threads):
    run_dir = tmp_path / "run"
    metrics = train_in_process(run_dir, "trainer.max_epochs=7", "trainer.val_every_n_epochs=3")
    steps = metrics["steps_per_epoch"]
    scalars = read_scalars(run_dir)
    assert [step for step, _ in scalars["val/loss"]] == [2, 5, 6]  # epochs 3, 6 and the last (7)
    assert [step for step, _ in scalars["lr"]] == [steps * e for e in range(1, 8)]  # every epoch
    assert scalars["train/loss"][-1][0] == 7 * steps
    ckpt_dir = run_dir / "checkpoints"
    last = torch.load(ckpt_dir / "last.pt", weights_only=True)
    previous = torch.load(ckpt_dir / "last.prev.pt", weights_only=True)
    assert (last["epoch"], previous["epoch"]) == (7, 6)
    assert [h["epoch"] for h in json.loads(last["history"])] == [2, 5, 6]
    assert metrics["best_epoch"] in (2, 5, 6) and metrics["epochs"] == 7
    best = torch.load(ckpt_dir / "best.pt", weights_only=True)
    assert best["epoch"] == metrics["best_epoch"] + 1
    # The final metrics are the best validated epoch's, measured again from best.pt.
    val = dict(scalars["val/acc"])[metrics["best_epoch"]]
    assert metrics["val/acc"] == pytest.approx(val, abs=1e-6)


def test_a_stop_after_an_epoch_that_is_not_validated_checkpoints_it_and_the_resume_matches(
    tmp_path, monkeypatch, restore_threads
):
    """With trainer.val_every_n_epochs=2, SIGTERM during epoch 0's end (not validated) still writes a
    checkpoint of the finished epoch; resuming gives the uninterrupted run's results."""
    from trainer.train import recipe as train_module
    from trainer.train.signals import Interrupted

    real_scalar = train_module.RunLogger.scalar

    def scalar_then_signal(self, tag, value, step):  # "lr" is logged once an epoch's steps are done
        if tag == "lr" and step == end_of_epoch_0:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_scalar(self, tag, value, step)

    args = ("trainer.max_epochs=4", "trainer.val_every_n_epochs=2")
    reference = train_in_process(tmp_path / "reference", *args)
    end_of_epoch_0 = reference["steps_per_epoch"]
    monkeypatch.setattr(train_module.RunLogger, "scalar", scalar_then_signal)
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train_in_process(run_dir, *args)
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["batch_in_epoch"], json.loads(ckpt["history"])) == (1, 0, [])
    monkeypatch.setattr(train_module.RunLogger, "scalar", real_scalar)
    resumed = train_in_process(run_dir, *args, "trainer.resume=true")
    drop_timing(resumed)
    drop_timing(reference)
    assert resumed == reference
    assert read_scalars(run_dir) == read_scalars(tmp_path / "reference")


def test_val_every_n_epochs_below_one_is_refused(tmp_path):
    result = run_cli("task=binary", "trainer.val_every_n_epochs=0", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "trainer.val_every_n_epochs must be >= 1" in result.stderr
