"""trainer.precision (32 | bf16 | fp16), trainer.compile and trainer.num_threads, on CPU; GPU checks skip on CPU."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch
from conftest import compose

from trainer.train import recipe as train_module
from trainer.train.precision import build_precision

TINY = ("task=binary", "trainer.max_epochs=2", "trainer.device=cpu", "trainer.progress=false", "trainer.num_threads=1")


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run(run_dir: Path, *overrides: str) -> dict:
    return train_module.train(compose(*TINY, *overrides), run_dir)


def output_dtypes(monkeypatch) -> list[torch.dtype]:
    """Record the dtype of every training forward pass's output (the model as train() builds it)."""
    seen: list[torch.dtype] = []
    real = train_module.build_model

    def spying(*args, **kwargs):
        model = real(*args, **kwargs)
        model.register_forward_hook(lambda m, i, out: seen.append(out.dtype) if m.training else None)
        return model

    monkeypatch.setattr(train_module, "build_model", spying)
    return seen


@pytest.mark.parametrize(
    "precision, dtype, scaled",
    [("32", torch.float32, False), ("bf16", torch.bfloat16, False), ("fp16", torch.float16, True)],
)
def test_precision_runs_on_cpu_with_autocast_and_scaler(tmp_path, monkeypatch, precision, dtype, scaled):
    seen = output_dtypes(monkeypatch)
    results = run(tmp_path / "run", f"trainer.precision={precision}")
    assert seen and set(seen) == {dtype}  # the forward passes ran in that precision
    assert math.isfinite(results["val/loss"]) and results["val/acc"] > 0.85
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert all(t.dtype == torch.float32 for t in ckpt["model"].values() if t.is_floating_point())  # master weights
    assert ("scale" in ckpt["scaler"]) == scaled


def test_mixed_precision_stays_close_to_float32(tmp_path):
    full = run(tmp_path / "32")
    for precision in ("bf16", "fp16"):
        mixed = run(tmp_path / precision, f"trainer.precision={precision}")
        assert mixed["val/loss"] == pytest.approx(full["val/loss"], abs=0.05), precision


def test_grad_scaler_state_survives_resume(tmp_path):
    run_dir = tmp_path / "run"
    run(run_dir, "trainer.precision=fp16", "trainer.max_epochs=1")
    last = run_dir / "checkpoints" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["scaler"]["scale"] == 2.0**16  # GradScaler's initial scale: no overflow in a few steps
    ckpt["scaler"]["scale"] = 1024.0  # a scale only the checkpoint knows
    torch.save(ckpt, last)
    (run_dir / "metrics.json").unlink()
    run(run_dir, "trainer.precision=fp16", "trainer.max_epochs=2", "trainer.resume=true")
    assert torch.load(last, weights_only=True)["scaler"]["scale"] == 1024.0


@pytest.mark.parametrize("name, key", [("16", "fp16"), ("fp32", "32"), ("bf16-mixed", "bf16")])
def test_precision_aliases(name, key):
    assert build_precision(name, torch.device("cpu")).name == key


def test_num_threads_sets_torch_threads(tmp_path):
    torch.set_num_threads(2)
    run(tmp_path / "run", "trainer.num_threads=1", "trainer.max_epochs=1")
    assert torch.get_num_threads() == 1


@pytest.mark.skipif(shutil.which("cc") is None, reason="torch.compile (inductor) needs a C compiler")
def test_compile_trains_and_saves_plain_weights(tmp_path):
    # Batch 199 splits breast_cancer's 398 training rows evenly: one graph, no recompilation.
    args = ("trainer.max_epochs=1", "data.batch_size=199")
    eager = run(tmp_path / "eager", *args)
    compiled = run(tmp_path / "compiled", *args, "trainer.compile=true")
    assert compiled["val/loss"] == pytest.approx(eager["val/loss"], rel=1e-3)
    ckpt = torch.load(tmp_path / "compiled" / "checkpoints" / "last.pt", weights_only=True)
    assert not any(k.startswith("_orig_mod.") for k in ckpt["model"])  # loadable into the plain model


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_step_loop_has_no_per_step_sync(tmp_path):
    """Count host-device syncs (torch's sync debug mode) for 158 and for 40 steps per epoch: the same count.

    Evaluation and the end-of-epoch log sync a fixed number of times; a per-step sync would add ~118.
    """
    import warnings

    def syncs(run_dir: Path, batch_size: int) -> int:
        args = ("task=multiclass", "trainer.device=cuda", "trainer.max_epochs=1", "trainer.log_every_n_steps=1000")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run(run_dir, *args, f"data.batch_size={batch_size}")
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    syncs(tmp_path / "warmup", 8)  # first-use syncs (allocator, cuDNN autotuning) out of the way
    many, few = syncs(tmp_path / "small_batches", 8), syncs(tmp_path / "large_batches", 32)
    assert abs(many - few) < 10, (many, few)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_gpu_mixed_precision(tmp_path, precision):
    results = run(tmp_path / "run", "trainer.device=cuda", f"trainer.precision={precision}")
    assert math.isfinite(results["val/loss"]) and results["val/acc"] > 0.85
