"""trainer.early_stopping: the run stops after `patience` validations without an improvement of the
main metric by more than min_delta, tests its best checkpoint, and says why in metrics.json."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose

from trainer.errors import UserError
from trainer.train import recipe as recipe_module
from trainer.train import train

# val/acc per validation: improves at epochs 1 and 2, then not by more than min_delta = 0.005
SCRIPT = [0.50, 0.60, 0.603, 0.59, 0.58, 0.90, 0.95]


@pytest.fixture
def scripted(monkeypatch):
    """Each validation after epoch e reports val/acc = SCRIPT[e]; the rest is the run's own."""
    real = recipe_module.Recipe.evaluate_on

    def evaluate_on(self, split):
        results = real(self, split)
        if split == "val":
            results["acc"] = SCRIPT[min(self.state.epoch, len(SCRIPT)) - 1]
        return results

    monkeypatch.setattr(recipe_module.Recipe, "evaluate_on", evaluate_on)


OVERRIDES = [
    "task=binary", "trainer.max_epochs=7", "trainer.progress=false", "trainer.early_stopping.patience=2",
    "trainer.early_stopping.min_delta=0.005",
]  # fmt: skip


def test_the_run_stops_after_patience_validations_without_improvement(tmp_path, scripted):
    results = train(compose(*OVERRIDES), tmp_path)
    # epoch 3 (0.603) is not better than 0.60 by more than 0.005, nor is epoch 4: stop after epoch 4
    assert results["epochs"] == 4 and results["best_epoch"] == 2  # the tested weights: the best (0.603 > 0.60)
    assert results["stop_reason"].startswith("early stopping after epoch 4: val/acc did not improve by more than 0.005")
    saved = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert (saved["since_improvement"], saved["early_best"], saved["epoch"]) == (2, 0.60, 4)

    resumed = train(compose(*OVERRIDES, "trainer.resume=true"), tmp_path)  # nothing left to train
    assert resumed["epochs"] == 4 and resumed["stop_reason"] == results["stop_reason"]


def test_without_patience_the_run_goes_to_max_epochs(tmp_path):
    results = train(compose("task=binary", "trainer.max_epochs=2", "trainer.progress=false"), tmp_path)
    assert results["epochs"] == 2 and results["stop_reason"] == "max_epochs"
    assert json.loads((tmp_path / "metrics.json").read_text())["stop_reason"] == "max_epochs"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.early_stopping.patience=0", "trainer.early_stopping.patience must be >= 1"),
        ("trainer.early_stopping.min_delta=-1", "trainer.early_stopping.min_delta must be >= 0"),
    ],
)
def test_bad_early_stopping_options_are_refused(tmp_path, override, message):
    with pytest.raises(UserError, match=message):
        train(compose("task=binary", override), tmp_path)
