"""data.label_noise: the labels change by the requested fraction, reproducibly; the test labels never.
(Where the noise goes, data.label_noise_splits, is tested in tests/data/test_long_tail_and_folds.py.)"""

from __future__ import annotations

import pytest
import torch
from conftest import compose

from trainer.data import build_data
from trainer.errors import UserError
from trainer.tasks.label_noise import corrupt_labels


def _data(task: str, *overrides: str):
    cfg = compose(f"task={task}", *overrides)
    return build_data(cfg.data, task)


@pytest.mark.parametrize("mode", ["symmetric", "asymmetric"])
def test_multiclass_noise_touches_only_train_and_flips_the_fraction(mode):
    clean = _data("multiclass")
    noisy = _data(
        "multiclass", "data.label_noise=0.3", f"data.label_noise_mode={mode}", "data.label_noise_splits=[train]"
    )
    for split in ("val", "test"):
        assert torch.equal(getattr(clean, split).y, getattr(noisy, split).y)
        assert torch.equal(getattr(clean, split).x, getattr(noisy, split).x)
    assert torch.equal(clean.train.x, noisy.train.x)
    changed = clean.train.y != noisy.train.y
    # In each class round(0.3 * n_c) labels change, and every chosen label changes.
    expected = sum(round(0.3 * int((clean.train.y == c).sum())) for c in range(10))
    assert int(changed.sum()) == expected
    assert abs(expected / len(changed) - 0.3) < 0.01
    if mode == "asymmetric":
        assert torch.equal(noisy.train.y[changed], (clean.train.y[changed] + 1) % 10)
    else:  # other classes, spread out
        assert len(torch.unique(noisy.train.y[changed] - clean.train.y[changed])) > 5


def test_noise_is_reproducible_and_seeded_by_split_seed_not_seed():
    a = _data("multiclass", "data.label_noise=0.2").train.y
    b = _data("multiclass", "data.label_noise=0.2", "seed=5").train.y
    assert torch.equal(a, b)
    clean_other_split = _data("multiclass", "data.split_seed=1").train.y
    other = _data("multiclass", "data.label_noise=0.2", "data.split_seed=1").train.y
    assert not torch.equal(other != clean_other_split, a != _data("multiclass").train.y)


def test_binary_noise_symmetric_and_one_sided():
    y = torch.tensor([0.0] * 40 + [1.0] * 60)
    noisy, changed = corrupt_labels(y, "binary", 0.25, "symmetric", 1, seed=0)
    assert int(changed[:40].sum()) == 10 and int(changed[40:].sum()) == 15
    assert torch.equal(noisy[changed], 1 - y[changed]) and noisy.dtype == y.dtype
    noisy, changed = corrupt_labels(y, "binary", 0.25, "asymmetric", 1, seed=0)
    assert int(changed[:40].sum()) == 0 and int(changed[40:].sum()) == 15  # only positives -> 0


def test_multilabel_noise_flips_bits_or_drops_positives():
    y = (torch.rand(50, 10, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    noisy, changed = corrupt_labels(y, "multilabel", 0.1, "symmetric", 10, seed=0)
    assert int(changed.sum()) == 50
    noisy, changed = corrupt_labels(y, "multilabel", 0.2, "asymmetric", 10, seed=0)
    assert int(changed.sum()) == round(0.2 * int(y.sum()))
    assert (noisy[changed] == 0).all() and (y[changed] == 1).all()


def test_multilabel_training_data_gets_noise():
    clean = _data("multilabel", "data.num_samples=200")
    noisy = _data("multilabel", "data.num_samples=200", "data.label_noise=0.05")
    assert int((clean.train.y != noisy.train.y).sum()) == round(0.05 * clean.train.y.numel())
    assert torch.equal(clean.test.y, noisy.test.y)
    assert not torch.equal(clean.val.y, noisy.val.y)  # data.label_noise_splits defaults to train and val


@pytest.mark.parametrize(
    "task, overrides, fragment",
    [
        ("multiclass", ["data.label_noise=1.0"], r"in \[0, 1\)"),
        ("multiclass", ["data.label_noise=-0.1"], r"in \[0, 1\)"),
        ("multiclass", ["data.label_noise=0.1", "data.label_noise_mode=pairwise"], "symmetric, asymmetric"),
        ("regression", ["data.label_noise=0.1"], "class labels"),
    ],
)
def test_clear_errors(task, overrides, fragment):
    with pytest.raises(UserError, match=fragment):
        _data(task, *overrides)


def test_zero_noise_leaves_everything_alone():
    assert torch.equal(_data("regression", "data.label_noise=0").train.y, _data("regression").train.y)
