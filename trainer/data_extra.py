"""Embedded sets for the sequence and count tasks; importing this module registers them in ``DATASETS``.

- ``digit_sequences``: strips of 1 to 5 of sklearn's digits (8 x 40); the target is the digits read
  left to right, padded with -1 to length 5 (the ``sequence`` task, CTC).
- ``counts``: a seeded count-regression table drawn from a known rate function (the ``count``
  task, Poisson): x ~ N(0, I_5) and y ~ Poisson(rate(x)) with

      log rate(x) = 0.5 + 0.4 x0 - 0.3 x1 + 0.2 x2 + 0.6 sin(2 x0)        (x3, x4 are pure noise)

  so the mean count is about 2.3 and the best possible model (the true rate) sets the floor for
  the Poisson deviance, see :func:`count_log_rate`.
"""

from __future__ import annotations

import numpy as np
import torch

from .data import DATASETS, DataBundle, _tensor_splits, digit_strips, split_indices, standardise

MAX_DIGITS = 5
PAD = -1
COUNT_FEATURES = 5


def load_digit_sequences(cfg, task: str) -> DataBundle:
    """Strips of 1 to 5 digits (N, 1, 8, 40); target (N, 5) = the digits left to right, padded with -1."""
    strips, sequences = digit_strips(cfg, max_digits=MAX_DIGITS)
    targets = []
    for seqs in sequences:
        padded = np.full((len(seqs), MAX_DIGITS), PAD, dtype=np.int64)
        for row, seq in enumerate(seqs):
            padded[row, : len(seq)] = seq
        targets.append(padded)
    train, val, test = _tensor_splits(strips, targets, torch.long)
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


def load_counts(cfg, task: str) -> DataBundle:
    """The ``counts`` table (default 3000 samples); targets stay raw counts (no standardisation)."""
    x, y = make_counts(cfg.num_samples or 3000, cfg.split_seed)
    parts = split_indices(len(y), cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    xs = standardise(*[x[p] for p in parts])
    ys = [y[p].astype(np.float32) for p in parts]
    train, val, test = _tensor_splits(xs, ys, torch.float32)
    return DataBundle(train, val, test, task=task, kind="table", num_outputs=1)


DATASETS["digit_sequences"] = (load_digit_sequences, ("sequence",))
DATASETS["counts"] = (load_counts, ("count",))
