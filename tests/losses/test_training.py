"""Every added classification loss trains end to end on a task it fits (a couple of fast epochs)."""

from __future__ import annotations

import math

import pytest
from conftest import compose, read_metrics, run_cli

from trainer.train import train

FAST = ("trainer.device=cpu", "trainer.progress=false", "trainer.max_epochs=2", "trainer.num_threads=1")
TABLE_MULTICLASS = ("task=multiclass", "data=breast_cancer")  # 2 classes, tabular: fast
STRIPS = ("task=multilabel", "data.num_samples=240")

RUNS = {
    "kl_div": (*TABLE_MULTICLASS, "loss=kl_div", "loss.label_smoothing=0.1"),
    "soft_ce": (*TABLE_MULTICLASS, "loss=soft_ce", "loss.label_smoothing=0.1"),
    "multi_margin": (*TABLE_MULTICLASS, "loss=multi_margin"),
    "gce": (*TABLE_MULTICLASS, "loss=gce"),
    "sce": (*TABLE_MULTICLASS, "loss=sce"),
    "nce_rce": (*TABLE_MULTICLASS, "loss=nce_rce"),
    "poly1-softmax": (*TABLE_MULTICLASS, "loss=poly1"),
    "focal-softmax": (*TABLE_MULTICLASS, "loss=focal"),
    "focal-sigmoid": ("task=binary", "loss=focal"),
    "poly1-sigmoid": ("task=binary", "loss=poly1", "loss.label_smoothing=0.1"),
    "soft_margin": ("task=binary", "loss=soft_margin"),
    "bce_logits-smoothing-auto-noisy": (
        "task=binary",
        "loss=bce_logits",
        "loss.pos_weight=neg_pos",
        "loss.label_smoothing=0.1",
        "data.label_noise=0.1",
        "data.label_noise_mode=asymmetric",
    ),
    "asl": (*STRIPS, "loss=asl"),
    "multilabel_margin": (*STRIPS, "loss=multilabel_margin"),
    "ce-auto-weight-noisy": (*TABLE_MULTICLASS, "loss=ce", "loss.weight=auto", "data.label_noise=0.2"),
}

MAIN = {"multiclass": "acc", "binary": "acc", "multilabel": "map"}
CHANCE = {"multiclass": 0.65, "binary": 0.65, "multilabel": 0.25}  # comfortably above guessing after 2 epochs


@pytest.mark.parametrize("run", sorted(RUNS))
def test_loss_trains_end_to_end(run, tmp_path):
    cfg = compose(*RUNS[run], *FAST)
    results = train(cfg, tmp_path)
    task = cfg.task.name
    assert math.isfinite(results["test/loss"]), results
    assert results[f"test/{MAIN[task]}"] >= CHANCE[task], results
    if task in ("multiclass", "binary"):
        assert 0.0 <= results["test/ece"] <= 1.0  # calibration is logged for every loss's predict()
    assert read_metrics(tmp_path)["epochs"] == 2


def test_cli_refuses_a_loss_that_does_not_fit_and_lists_those_that_do(tmp_path):
    result = run_cli("task=regression", "loss=focal", f"hydra.run.dir={tmp_path / 'refused'}")
    assert result.returncode == 2
    assert "does not fit task 'regression'" in result.stderr and "class labels" in result.stderr
    assert "mse" in result.stderr and "Traceback" not in result.stderr
