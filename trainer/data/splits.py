"""Seeded (stratified) shuffle splits: scikit-learn's ``train_test_split`` on indices, without sklearn.

:func:`train_test_indices` draws exactly the indices that

    sklearn.model_selection.train_test_split(np.arange(n), test_size=f, random_state=seed, stratify=y)

returns (tests/data/test_splits.py compares them over many sizes, seeds and label mixes), so every split
losslab has made stays the same. Importing scikit-learn (most of it scipy) would delay every
run's first step; these thirty lines of NumPy do not.

The algorithm (sklearn's ``ShuffleSplit`` / ``StratifiedShuffleSplit``), with ``RandomState(seed)``:

    n_test = ceil(f * n),  n_train = n - n_test
    plain:       p = permutation(n);  test = p[:n_test],  train = p[n_test:]
    stratified:  per class c with n_c members, n_c * n_train / n of them go to train and
                 n_c * n_test / n to test, rounded by the largest remainders (ties drawn at random);
                 each class's members are shuffled and cut there; both sides are shuffled once more.
"""

from __future__ import annotations

import math

import numpy as np


def train_test_indices(
    n: int, test_fraction: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions in ``range(n)``; raises ValueError where sklearn does (the messages differ)."""
    n_test = math.ceil(test_fraction * n)
    n_train = n - n_test
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"cannot split {n} samples with test fraction {test_fraction}: one side would be empty")
    rng = np.random.RandomState(seed)
    if stratify is None:
        order = rng.permutation(n)
        return order[n_test:], order[:n_test]

    labels = np.asarray(stratify)
    if labels.ndim == 2:  # multi-label rows: each distinct row is one stratum
        labels = np.array([" ".join(row.astype("str")) for row in labels])
    classes, label_index, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    if class_counts.min() < 2:
        raise ValueError(f"classes {classes[class_counts < 2].tolist()} have a single sample; cannot stratify")
    if min(n_train, n_test) < len(classes):
        raise ValueError(f"a side of {min(n_train, n_test)} samples cannot hold all {len(classes)} classes")
    members = np.split(np.argsort(label_index, kind="stable"), np.cumsum(class_counts)[:-1])
    train_counts = _approximate_mode(class_counts, n_train, rng)
    test_counts = _approximate_mode(class_counts - train_counts, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for class_members, count, n_train_c, n_test_c in zip(members, class_counts, train_counts, test_counts):
        shuffled = class_members[rng.permutation(count)]
        train.extend(shuffled[:n_train_c])
        test.extend(shuffled[n_train_c : n_train_c + n_test_c])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` each class gets: the proportional share floored, the rest handed out by
    largest remainder, ties broken at random (sklearn.utils.extmath._approximate_mode)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)
