"""The embedded datasets: every default run works offline.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes).
- ``digit_strips``: strips of 1 to 3 digits (8 x 24); the target is the multi-hot set of digits present.
- ``breast_cancer``: scikit-learn's breast-cancer table, 30 features, 1 = benign.
- ``diabetes``: scikit-learn's diabetes table, 10 features, disease progression after a year.
- ``digit_sequences``: strips of 1 to 5 digits (8 x 40); the target is the digits read left to right,
  padded with -1 to length 5 (the ``sequence`` task, CTC).
- ``counts``: a seeded count-regression table drawn from a known rate function (the ``count``
  task, Poisson): x ~ N(0, I_5) and y ~ Poisson(rate(x)) with

      log rate(x) = 0.5 + 0.4 x0 - 0.3 x1 + 0.2 x2 + 0.6 sin(2 x0)        (x3, x4 are pure noise)

  so the mean count is about 2.3 and the best possible model (the true rate) sets the floor for
  the Poisson deviance, see :func:`count_log_rate`.

The scikit-learn sets are read from its files without importing scikit-learn (``sklearn_bundled``)
and split with the same draws as its ``train_test_split`` (``splits``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..registry import DATASETS
from . import sklearn_bundled
from .bundle import DataBundle, GeneratedConfig, SplitConfig, split_indices, standardise, tensor_splits

MAX_DIGITS = 5
PAD = -1
COUNT_FEATURES = 5


def _digits(cfg, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """sklearn's 8x8 digits split into train/val/test images (N, 1, 8, 8) in [0, 1] and labels."""
    raw_images, labels = sklearn_bundled.digits()
    images = (raw_images / 16.0).astype(np.float32)[:, None]
    parts = split_indices(len(labels), cfg.val_fraction, cfg.test_fraction, seed, stratify=labels)
    return [images[p] for p in parts], [labels[p] for p in parts]


@DATASETS.register("digits", tasks=("multiclass", "embedding"), kind="image", schema=SplitConfig)
def load_digits_multiclass(cfg, task: str) -> DataBundle:
    images, labels = _digits(cfg, cfg.split_seed)
    images = standardise(*images, axis=(0, 2, 3))
    train, val, test = tensor_splits(images, labels, torch.long)
    return DataBundle(
        train, val, test, task=task, kind="image", num_outputs=10, class_names=[str(i) for i in range(10)]
    )


def make_strips(
    images: np.ndarray,
    labels: np.ndarray,
    num_strips: int,
    min_digits: int,
    max_digits: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[list[int]]]:
    """Paste 1..max_digits random digit images into the slots of a strip (N, 1, 8, 8 * max_digits).

    Returns the strips and, for each, the digits left to right. Slots left empty stay blank.
    """
    _, c, h, w = images.shape
    strips = np.zeros((num_strips, c, h, w * max_digits), dtype=np.float32)
    sequences: list[list[int]] = []
    for i in range(num_strips):
        count = int(rng.integers(min_digits, max_digits + 1))
        slots = np.sort(rng.choice(max_digits, size=count, replace=False))
        picks = rng.integers(0, len(images), size=count)
        for slot, pick in zip(slots, picks):
            strips[i, :, :, slot * w : (slot + 1) * w] = images[pick]
        sequences.append([int(labels[p]) for p in picks])
    return strips, sequences


def _strip_counts(cfg, default_total: int) -> list[int]:
    total = cfg.num_samples or default_total
    n_val = int(round(total * cfg.val_fraction))
    n_test = int(round(total * cfg.test_fraction))
    return [total - n_val - n_test, n_val, n_test]


def digit_strips(cfg, max_digits: int) -> tuple[list[np.ndarray], list[list[list[int]]]]:
    """Per split: standardised strips of 1 to ``max_digits`` digits and the digits of each, left to right.

    Strips are built from each split's own digit images, so no digit image is shared between splits.
    """
    images, labels = _digits(cfg, cfg.split_seed)
    rng = np.random.default_rng(cfg.split_seed)
    strips, sequences = [], []
    for imgs, labs, n in zip(images, labels, _strip_counts(cfg, 4000)):
        s, seqs = make_strips(imgs, labs, n, 1, max_digits, rng)
        strips.append(s)
        sequences.append(seqs)
    return standardise(*strips, axis=(0, 2, 3)), sequences


@DATASETS.register("digit_strips", tasks=("multilabel",), kind="image", schema=GeneratedConfig)
def load_digit_strips_multilabel(cfg, task: str) -> DataBundle:
    """Strips of 1 to 3 digits; the target is the multi-hot set of digits present."""
    strips, sequences = digit_strips(cfg, max_digits=3)
    targets = []
    for seqs in sequences:
        multi_hot = np.zeros((len(seqs), 10), dtype=np.float32)
        for row, seq in enumerate(seqs):
            multi_hot[row, seq] = 1.0
        targets.append(multi_hot)
    train, val, test = tensor_splits(strips, targets, torch.float32)
    return DataBundle(
        train, val, test, task=task, kind="image", num_outputs=10, class_names=[str(i) for i in range(10)]
    )


@DATASETS.register("breast_cancer", tasks=("binary", "multiclass"), kind="table", schema=SplitConfig)
def load_breast_cancer_binary(cfg, task: str) -> DataBundle:
    """sklearn's breast-cancer table: 30 features, 1 = benign, 0 = malignant."""
    x, y, class_names = sklearn_bundled.breast_cancer()
    parts = split_indices(len(y), cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify=y)
    xs = standardise(*[x[p] for p in parts])
    ys = [y[p] for p in parts]
    if task == "multiclass":
        train, val, test = tensor_splits(xs, ys, torch.long)
        return DataBundle(train, val, test, task=task, kind="table", num_outputs=2, class_names=class_names)
    train, val, test = tensor_splits(xs, ys, torch.float32)
    return DataBundle(train, val, test, task=task, kind="table", num_outputs=1, class_names=class_names)


@DATASETS.register("diabetes", tasks=("regression",), kind="table", schema=SplitConfig)
def load_diabetes_regression(cfg, task: str) -> DataBundle:
    """sklearn's diabetes table: 10 features, disease progression after one year as the target."""
    x, y = sklearn_bundled.diabetes()
    parts = split_indices(len(y), cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    xs = standardise(*[x[p] for p in parts])
    ys = [y[p] for p in parts]
    mean, std = float(ys[0].mean()), float(ys[0].std())
    ys = [((t - mean) / std).astype(np.float32) for t in ys]
    train, val, test = tensor_splits(xs, ys, torch.float32)
    return DataBundle(train, val, test, task=task, kind="table", num_outputs=1, target_mean=mean, target_std=std)


@DATASETS.register("digit_sequences", tasks=("sequence",), kind="image", schema=GeneratedConfig)
def load_digit_sequences(cfg, task: str) -> DataBundle:
    """Strips of 1 to 5 digits (N, 1, 8, 40); target (N, 5) = the digits left to right, padded with -1."""
    strips, sequences = digit_strips(cfg, max_digits=MAX_DIGITS)
    targets = []
    for seqs in sequences:
        padded = np.full((len(seqs), MAX_DIGITS), PAD, dtype=np.int64)
        for row, seq in enumerate(seqs):
            padded[row, : len(seq)] = seq
        targets.append(padded)
    train, val, test = tensor_splits(strips, targets, torch.long)
    return DataBundle(
        train, val, test, task=task, kind="image", num_outputs=10, class_names=[str(i) for i in range(10)]
    )


def count_log_rate(x: np.ndarray) -> np.ndarray:
    """The true log-rate of the ``counts`` set, on the raw (unstandardised) features (N, 5)."""
    return 0.5 + 0.4 * x[:, 0] - 0.3 * x[:, 1] + 0.2 * x[:, 2] + 0.6 * np.sin(2 * x[:, 0])


def make_counts(num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw features (N, 5) and Poisson counts (N,) drawn from :func:`count_log_rate`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_samples, COUNT_FEATURES))
    y = rng.poisson(np.exp(count_log_rate(x))).astype(np.float64)
    return x, y


@DATASETS.register("counts", tasks=("count",), kind="table", schema=GeneratedConfig)
def load_counts(cfg, task: str) -> DataBundle:
    """The ``counts`` table (default 3000 samples); targets stay raw counts (no standardisation)."""
    x, y = make_counts(cfg.num_samples or 3000, cfg.split_seed)
    parts = split_indices(len(y), cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    xs = standardise(*[x[p] for p in parts])
    ys = [y[p].astype(np.float32) for p in parts]
    train, val, test = tensor_splits(xs, ys, torch.float32)
    return DataBundle(train, val, test, task=task, kind="table", num_outputs=1)
