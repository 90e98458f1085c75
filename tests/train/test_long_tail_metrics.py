"""The metrics long tails and noisy labels need: balanced accuracy, many/medium/few-shot accuracy,
and the last epoch's metrics beside the best epoch's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import compose
from sklearn.metrics import balanced_accuracy_score

from trainer.train import checkpoint, train
from trainer.train import recipe as recipe_module
from trainer.train.evaluate import build_metrics
from trainer.train.signals import StopRequest


def test_balanced_acc_is_sklearns_balanced_accuracy():
    generator = torch.Generator().manual_seed(0)
    target = torch.cat([torch.zeros(80), torch.randint(1, 5, (20,), generator=generator)]).long()  # a head class
    logits = torch.randn(100, 5, generator=generator)
    metrics = build_metrics("multiclass", 5, torch.device("cpu"))
    metrics.update(logits.softmax(-1), target)
    values = metrics.compute()
    expected = balanced_accuracy_score(target.numpy(), logits.argmax(-1).numpy())
    assert float(values["balanced_acc"]) == pytest.approx(expected, abs=1e-6)
    assert abs(float(values["acc"]) - float(values["balanced_acc"])) > 0.01  # they differ on a skewed split


def test_an_imbalanced_run_reports_per_class_and_shot_accuracies(tmp_path):
    results = train(
        compose("task=multiclass", "data.imbalance=20", "trainer.max_epochs=2", "trainer.progress=false"), tmp_path
    )
    saved = json.loads((tmp_path / "metrics.json").read_text())
    counts = np.array(saved["train_class_counts"])
    assert counts[0] / counts[-1] == pytest.approx(20, rel=0.15) and (np.diff(counts) <= 0).all()
    recall = np.array([scores["recall"] for scores in saved["test_per_class"].values()])
    # classes 0-3 have the most training samples, 4-6 the middle, 7-9 the fewest
    assert results["test/acc_many"] == pytest.approx(recall[:4].mean())
    assert results["test/acc_medium"] == pytest.approx(recall[4:7].mean())
    assert results["test/acc_few"] == pytest.approx(recall[7:].mean())
    assert results["test/balanced_acc"] == pytest.approx(recall.mean(), abs=1e-6)  # the test split is balanced
    assert "val/balanced_acc" in results


# val/acc per validation: the first epoch is best, the last is the last
SCRIPT = [0.9, 0.5, 0.4]


def test_the_last_epochs_metrics_are_those_of_the_last_weights(tmp_path, monkeypatch):
    real = recipe_module.Recipe.evaluate_on

    def evaluate_on(self, split):
        results = real(self, split)
        if split == "val" and self.progress is not None and self.state.epoch <= len(SCRIPT):
            results["acc"] = SCRIPT[self.state.epoch - 1]
        return results

    monkeypatch.setattr(recipe_module.Recipe, "evaluate_on", evaluate_on)
    overrides = ["task=multiclass", "trainer.max_epochs=3", "trainer.progress=false", "optim.lr=0.05"]
    results = train(compose(*overrides), tmp_path)
    assert results["best_epoch"] == 0 and results["epochs"] == 3
    monkeypatch.setattr(recipe_module.Recipe, "evaluate_on", real)

    # Evaluate both checkpoints independently: a resumed recipe holds the last weights.
    with StopRequest() as stop:
        recipe = recipe_module.Recipe(compose(*overrides, "trainer.resume=true"), tmp_path, stop)
        recipe.setup()
        last = recipe.evaluate_on("test")
        best_state = checkpoint.load(tmp_path / "checkpoints" / checkpoint.BEST, recipe.device)["model"]
        recipe.model.load_state_dict(best_state)
        best = recipe.evaluate_on("test")
        recipe.cleanup()
    assert results["test_last/loss"] == pytest.approx(last["loss"])
    assert results["test_last/acc"] == pytest.approx(last["acc"])
    assert results["test/loss"] == pytest.approx(best["loss"])
    assert results["test/loss"] != pytest.approx(results["test_last/loss"])  # two different sets of weights


def test_when_the_best_epoch_is_the_last_both_views_agree(tmp_path):
    results = train(compose("task=binary", "trainer.max_epochs=1", "trainer.progress=false"), tmp_path)
    for key in ("val/loss", "test/loss", "test/acc"):
        split, metric = key.split("/")
        assert results[f"{split}_last/{metric}"] == results[key]


@pytest.mark.parametrize(("epochs", "drw_epoch"), [(15, 12), (60, 48), (200, 160)])
def test_ldam_drw_reweights_from_80_percent_of_the_epochs(epochs, drw_epoch):
    cfg = compose("task=multiclass", "loss=ldam_drw", f"trainer.max_epochs={epochs}")
    assert cfg.loss.name == "ldam" and cfg.loss.drw_epoch == drw_epoch  # the paper: 160 of 200
