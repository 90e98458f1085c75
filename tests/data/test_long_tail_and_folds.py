"""data.imbalance (the long-tail cut), data.folds (K-fold cross-validation) and data.label_noise_splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import compose

from trainer.data import build_data
from trainer.data.long_tail import long_tail_rows, profile, shot_groups
from trainer.errors import UserError


def _data(task: str, *overrides: str):
    return build_data(compose(f"task={task}", *overrides).data, task)


def _counts(y: torch.Tensor, classes: int = 10) -> np.ndarray:
    return np.bincount(y.numpy(), minlength=classes)


# ---------------------------------------------------------------- long tail


def test_the_profile_is_the_papers_exponential_decay():
    # Cao et al. 2019 (CIFAR-10-LT, ratio 100): 5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50
    assert profile(5000, 10, 100).tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert profile(7, 3, 1).tolist() == [7, 7, 7]


def test_imbalance_cuts_train_to_the_profile_and_leaves_val_and_test_alone():
    clean = _data("multiclass")
    cut = _data("multiclass", "data.imbalance=10")
    before = _counts(clean.train.y)
    expected = np.minimum(profile(int(before.max()), 10, 10), before)
    assert _counts(cut.train.y).tolist() == expected.tolist()
    assert expected[0] / expected[-1] == pytest.approx(10, rel=0.1)
    for split in ("val", "test"):
        assert torch.equal(getattr(clean, split).y, getattr(cut, split).y)
        assert torch.equal(getattr(clean, split).x, getattr(cut, split).x)
    # the kept rows are rows of the clean training split (features and labels together), drawn at random
    rows = long_tail_rows(clean.train.y.numpy(), "multiclass", 10, 10.0, seed=0)
    assert torch.equal(cut.train.x, clean.train.x[torch.from_numpy(rows)])
    tail = rows[clean.train.y.numpy()[rows] == 9]
    assert not np.array_equal(tail, np.flatnonzero(clean.train.y.numpy() == 9)[: len(tail)])  # not the first ones


def test_the_cut_is_seeded_by_split_seed_not_seed():
    a = _data("multiclass", "data.imbalance=20").train.y
    assert torch.equal(a, _data("multiclass", "data.imbalance=20", "seed=3").train.y)
    assert not torch.equal(a, _data("multiclass", "data.imbalance=20", "data.split_seed=1").train.y)


def test_label_noise_applies_after_the_cut():
    cut = _data("multiclass", "data.imbalance=10")
    noisy = _data("multiclass", "data.imbalance=10", "data.label_noise=0.4", "data.label_noise_splits=[train]")
    assert torch.equal(cut.train.x, noisy.train.x)  # the same samples: the noise did not change the cut
    changed = (cut.train.y != noisy.train.y).float().mean()
    assert 0.35 < float(changed) < 0.45


def test_multilabel_positives_per_label_follow_the_profile_at_most():
    clean = _data("multilabel")
    cut = _data("multilabel", "data.imbalance=8")
    before = (clean.train.y > 0.5).sum(0).numpy()
    after = (cut.train.y > 0.5).sum(0).numpy()
    target = profile(int(before.max()), len(before), 8)
    assert (after <= np.maximum(target, 0)).all() and (after <= before).all()
    assert after[-1] == min(target[-1], before[-1])  # the tail label meets its target exactly
    # most labels meet theirs: only a label that co-occurs with a head label falls below it
    met = after == np.minimum(target, before)
    assert met.mean() >= 0.5, (after.tolist(), target.tolist())
    assert len(cut.val) == len(clean.val) and len(cut.test) == len(clean.test)


def test_shot_groups_are_thirds_by_training_count():
    groups = shot_groups(np.array([5, 50, 500, 1, 10, 100, 1000, 2, 20, 200]))
    assert set(groups["many"]) == {6, 2, 9, 5}
    assert set(groups["medium"]) == {1, 8, 4}
    assert set(groups["few"]) == {0, 7, 3}


@pytest.mark.parametrize(
    ("task", "override", "message"),
    [
        ("regression", "data.imbalance=10", "not task 'regression'"),
        ("multiclass", "data.imbalance=0.5", "at least 1"),
        ("multiclass", "data.folds=1", "at least 2"),
        ("multiclass", "data.fold=3", "set data.folds=K"),
        ("multiclass", "data.label_noise_splits=[train,test]", "test cannot be noisy"),
    ],
)
def test_bad_options_are_one_clear_error(task, override, message):
    with pytest.raises(UserError, match=message):
        _data(task, override)


def test_a_fold_outside_the_folds_is_refused():
    with pytest.raises(UserError, match="data.fold must be in 0..4"):
        _data("multiclass", "data.folds=5", "data.fold=5")


# ---------------------------------------------------------------- folds


def test_the_folds_partition_train_and_val_and_keep_test():
    clean = _data("multiclass")
    pool_x = torch.cat([clean.train.x, clean.val.x])
    key = {row.numpy().tobytes(): i for i, row in enumerate(pool_x)}
    assert len(key) == len(pool_x), "the digits have no duplicate rows (the test below relies on it)"
    seen = []
    for fold in range(5):
        data = _data("multiclass", "data.folds=5", f"data.fold={fold}")
        assert torch.equal(data.test.x, clean.test.x) and torch.equal(data.test.y, clean.test.y)
        assert len(data.train) + len(data.val) == len(pool_x)
        val_rows = {key[r.numpy().tobytes()] for r in data.val.x}
        train_rows = {key[r.numpy().tobytes()] for r in data.train.x}
        assert not val_rows & train_rows
        seen.append(val_rows)
        # stratified: every class is in each validation fold in proportion
        pool_counts = _counts(torch.cat([clean.train.y, clean.val.y]))
        assert np.abs(_counts(data.val.y) - pool_counts / 5).max() <= 1
    assert set().union(*seen) == set(range(len(pool_x)))  # each sample validates exactly once
    assert sum(len(s) for s in seen) == len(pool_x)


def test_folds_are_seeded_by_split_seed():
    a = _data("multiclass", "data.folds=3", "data.fold=1").val.y
    assert torch.equal(a, _data("multiclass", "data.folds=3", "data.fold=1", "seed=4").val.y)
    assert not torch.equal(a, _data("multiclass", "data.folds=3", "data.fold=1", "data.split_seed=2").val.y)


def test_folds_on_a_regression_table_use_plain_kfold():
    clean = _data("regression")
    data = _data("regression", "data.folds=4", "data.fold=2")
    assert len(data.train) + len(data.val) == len(clean.train) + len(clean.val)
    assert abs(len(data.val) - (len(clean.train) + len(clean.val)) / 4) <= 1


# ---------------------------------------------------------------- where the label noise goes


def test_label_noise_goes_to_train_and_val_by_default_and_never_to_test():
    clean = _data("multiclass")
    noisy = _data("multiclass", "data.label_noise=0.3")
    assert torch.equal(clean.test.y, noisy.test.y)
    for split in ("train", "val"):
        changed = (getattr(clean, split).y != getattr(noisy, split).y).float().mean()
        assert 0.25 < float(changed) < 0.35, split
    only_train = _data("multiclass", "data.label_noise=0.3", "data.label_noise_splits=[train]")
    assert torch.equal(only_train.val.y, clean.val.y)
    assert torch.equal(only_train.train.y, noisy.train.y)  # the training noise does not depend on val's
