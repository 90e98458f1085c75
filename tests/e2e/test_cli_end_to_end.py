"""End to end through ``python -m trainer``: files written, curves logged, quality floors met."""

from __future__ import annotations

import pytest
import torch
from conftest import read_metrics, read_scalars, run_cli

# task -> (metric, floor) with the default settings on the embedded data.
FLOORS = {
    "multiclass": ("acc", 0.95),
    "multilabel": ("f1_micro", 0.85),
    "binary": ("acc", 0.93),
    "regression": ("r2", 0.30),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(FLOORS))
def test_default_run_writes_everything_and_meets_the_floor(task, tmp_path):
    run_dir = tmp_path / task
    result = run_cli(f"task={task}", f"hydra.run.dir={run_dir}", "trainer.device=cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"tensorboard --logdir {run_dir}" in result.stdout

    metrics = read_metrics(run_dir)
    metric, floor = FLOORS[task]
    assert metrics[f"test/{metric}"] >= floor, metrics
    for key in (f"val/{metric}", "val/loss", "test/loss"):
        assert key in metrics

    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert {"model", "optimizer", "epoch"} <= set(ckpt)

    scalars = read_scalars(run_dir)
    for tag in ("train/loss", "val/loss", f"val/{metric}", "lr"):
        assert tag in scalars, sorted(scalars)
    train_loss = [v for _, v in scalars["train/loss"]]
    assert sum(train_loss[-3:]) / 3 < sum(train_loss[:3]) / 3, "train/loss did not fall"
    epochs = [step for step, _ in scalars["val/loss"]]
    assert epochs == list(range(len(epochs)))
    assert f"final/test/{metric}" in scalars  # the HParams tab's metric, in the same run


def test_hparams_are_in_the_runs_own_event_file(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    result = run_cli("task=binary", "trainer.max_epochs=2", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    # add_hparams would have made a sub-run folder with its own event file; there must be none.
    assert [p for p in run_dir.rglob("events.out.tfevents.*") if p.parent != run_dir] == []
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    hparams_tags = set(acc.PluginTagToContent("hparams"))
    assert {"_hparams_/session_start_info", "_hparams_/session_end_info"} <= hparams_tags
    # No per-run experiment header: TensorBoard would use one run's copy for a whole sweep.
    assert "_hparams_/experiment" not in hparams_tags


def test_loss_that_does_not_fit_the_task_stops_before_training(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("task=multilabel", "loss=ce", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    assert "exactly one label" in result.stderr and "bce_logits" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (run_dir / "checkpoints").exists()
