"""The test split's pictures (trainer/train/pictures.py): numbers against torchmetrics, files and events of a run."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose
from torchmetrics.functional.classification import (
    binary_calibration_error,
    multiclass_calibration_error,
    multiclass_confusion_matrix,
    multiclass_f1_score,
)

from trainer.train import pictures


def test_confusion_and_ece_are_torchmetrics_numbers_multiclass():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 4, generator=g), dim=1)
    target = torch.randint(0, 4, (500,), generator=g)
    drawn = pictures.compute(probs, target, "multiclass", 4, ["a", "b", "c", "d"])
    assert torch.allclose(drawn.confusion, multiclass_confusion_matrix(probs, target, 4, normalize="true"))
    assert drawn.confusion.sum(1) == pytest.approx(torch.ones(4))
    assert drawn.ece == pytest.approx(float(multiclass_calibration_error(probs, target, 4, n_bins=15)), abs=1e-6)
    assert drawn.counts.sum() == 500
    f1 = multiclass_f1_score(probs, target, 4, average=None)
    assert [drawn.per_class[n]["f1"] for n in "abcd"] == pytest.approx(f1.tolist())


def test_confusion_and_ece_are_torchmetrics_numbers_binary():
    g = torch.Generator().manual_seed(1)
    p = torch.rand(400, generator=g)
    y = (torch.rand(400, generator=g) < p).float()
    drawn = pictures.compute(p, y, "binary", 1, ["healthy", "sick"])
    assert drawn.ece == pytest.approx(float(binary_calibration_error(p, y.long(), n_bins=15)), abs=1e-6)
    predicted = (p > 0.5).long()
    true_negative_rate = float(((predicted == 0) & (y == 0)).sum() / (y == 0).sum())
    assert float(drawn.confusion[0, 0]) == pytest.approx(true_negative_rate)
    assert set(drawn.per_class) == {"sick"}


def test_a_classification_run_writes_its_pictures(tmp_path):
    from conftest import read_scalars  # noqa: F401  (the event reader lives there)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from trainer.train import train

    cfg = compose("task=multiclass", "trainer.max_epochs=1", "trainer.progress=false")
    results = train(cfg, tmp_path)
    for name in ("confusion_matrix", "reliability_diagram"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    acc = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    acc.Reload()
    assert {"test/confusion_matrix", "test/reliability_diagram"} <= set(acc.Tags()["images"])
    per_class = json.loads((tmp_path / "metrics.json").read_text())["test_per_class"]
    assert len(per_class) == 10
    # the macro F1 the run logged is the mean of the per-class F1 drawn here: the same predictions
    assert sum(c["f1"] for c in per_class.values()) / 10 == pytest.approx(results["test/f1_macro"], abs=1e-5)
