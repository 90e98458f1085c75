"""scripts/bench.py: its hand-written loops do the harness's work, so the ratios it prints compare like with like."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_under_test", ROOT / "scripts" / "bench.py")
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench
spec.loader.exec_module(bench)

ARGS = argparse.Namespace(device="cpu", precision="32", compile=False)


@pytest.mark.parametrize("task", ["binary", "regression", "multilabel"])
def test_raw_loops_train_as_many_steps_as_the_harness(task):
    cfg = bench.step_case_config([f"task={task}", "trainer.max_epochs=2"], ARGS)
    _, harness_steps = bench.harness_steps_per_s(cfg)
    for between_epochs in ("nothing", "val+save", "pause"):
        rate, steps = bench.raw_steps_per_s(cfg, between_epochs=between_epochs)
        assert steps == harness_steps
        assert rate > 0


def test_raw_validation_computes_the_harness_metrics(monkeypatch):
    """The val+save loop's checkpoint holds the same metric names (and loss) the harness validates with."""
    saved: list[dict] = []
    monkeypatch.setattr(bench.torch, "save", lambda state, path: saved.append(state))
    cfg = bench.step_case_config(["task=binary", "trainer.max_epochs=2"], ARGS)
    bench.raw_steps_per_s(cfg, between_epochs="val+save")
    assert len(saved) == 2  # one checkpoint per epoch
    assert set(saved[-1]["val"]) == {"acc", "auroc", "f1", "ece"}
    assert torch.isfinite(torch.tensor(saved[-1]["loss"]))


def test_validating_at_the_end_validates_once(tmp_path: Path):
    from trainer.train import train

    cfg = bench.step_case_config(["task=binary", "trainer.max_epochs=3"], ARGS)
    once = bench.step_case_config(bench.validating_at_the_end(["task=binary", "trainer.max_epochs=3"], cfg), ARGS)
    train(once, tmp_path)
    history = json.loads(torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["history"])
    assert [entry["epoch"] for entry in history] == [2]


def test_the_raw_dataloader_loop_trains_as_many_steps_as_the_harness_streaming_the_same_dataset(tmp_path):
    args = argparse.Namespace(device="cpu", precision="32", compile=False)
    streamed_rate, streamed_steps = bench.harness_stream_steps_per_s(args, workers=0, in_memory=False, epochs=1)
    raw_rate, raw_steps = bench.raw_stream_steps_per_s(args, workers=0, epochs=1)
    assert streamed_steps == raw_steps == 19  # ceil(1200 / 64)
    assert streamed_rate > 0 and raw_rate > 0
