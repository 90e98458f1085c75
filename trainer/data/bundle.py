"""The data every dataset hands the trainer: ``Split`` and ``DataBundle``, the options every dataset
reads, and the helpers that make seeded, standardised splits.

Every dataset returns a ``DataBundle`` with fixed train/val/test splits whose features are
standardised with statistics of the training split only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from ..schema import option
from .splits import train_test_indices


@dataclass
class Split:
    x: Tensor
    y: Tensor
    # Applied to every batch of x where it is used (on the device): e.g. uint8 images -> normalised
    # floats, plus random crops and flips for the training split. None: x is used as stored.
    transform: Callable[[Tensor], Tensor] | None = None

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device | str) -> Split:
        transform = self.transform.to(device) if hasattr(self.transform, "to") else self.transform
        return Split(self.x.to(device), self.y.to(device), transform)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def with_targets(self, y: Tensor) -> Split:
        return Split(self.x, y, self.transform)

    def part(self, rows: slice) -> Split:
        return Split(self.x[rows], self.y[rows], self.transform)

    def batch(self, idx: Tensor | slice) -> tuple[Tensor, Tensor]:
        """Rows ``idx`` of the inputs (transformed) and targets."""
        x = self.x[idx]
        return (x if self.transform is None else self.transform(x)), self.y[idx]

    def batches(self, batch_size: int, order: Tensor | None = None, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches in ``order`` (None: the split's own order), from batch number ``start`` on.

        A generator: each batch is cut when it is asked for, after the step before it has run.
        """
        n = len(self) if order is None else len(order)
        for first in range(start * batch_size, n, batch_size):
            rows = slice(first, first + batch_size)
            yield self.batch(rows if order is None else order[rows])


@dataclass
class DataBundle:
    train: Split
    val: Split
    test: Split
    task: str
    # "image" (N, C, H, W), "signal" (N, C, L) or "table" (N, F); picks the default model.
    kind: str
    # Classes for multiclass/multilabel/embedding/sequence, target columns for regression/count.
    num_outputs: int
    class_names: list[str] = field(default_factory=list)
    # Regression targets are standardised for training; metrics undo it with these.
    target_mean: float = 0.0
    target_std: float = 1.0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.train.sample_shape

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}


def existing_file(value: object, key: str = "data.path") -> Path:
    """The file a config key names (``~`` expanded, relative to the working directory), or a UserError."""
    path = Path(os.path.expanduser(str(value)))
    if not path.is_file():
        raise UserError(
            f"{key}={value}: no such file (looked for {path.resolve()}; "
            f"relative paths are taken from the working directory {Path.cwd()})"
        )
    return path


def split_indices(
    n: int, val_fraction: float, test_fraction: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/val/test index split (stratified by ``stratify`` when given)."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise UserError(
            f"data.val_fraction ({val_fraction}) and data.test_fraction ({test_fraction}) must be "
            "in (0, 1) and sum to less than 1"
        )
    held_out = val_fraction + test_fraction
    train, rest = train_test_indices(n, held_out, seed, stratify)
    rest_stratify = None if stratify is None else stratify[rest]
    val, test = train_test_indices(len(rest), test_fraction / held_out, seed, rest_stratify)
    return np.sort(train), np.sort(rest[val]), np.sort(rest[test])


def standardise(train: np.ndarray, *others: np.ndarray, axis: tuple[int, ...] | int = 0) -> list[np.ndarray]:
    """Scale every array with the training split's mean and std (constant features left at 0)."""
    mean = train.mean(axis=axis, keepdims=True)
    std = train.std(axis=axis, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return [((a - mean) / std).astype(np.float32) for a in (train, *others)]


def standardise_targets(ys: list[np.ndarray], task: str) -> tuple[list[np.ndarray], float, float]:
    """Regression targets scaled with the training split's mean and std (returned, for metrics in the
    data's units); other tasks' targets as they are, with mean 0 and std 1."""
    if task != "regression":
        return ys, 0.0, 1.0
    mean, std = float(ys[0].mean()), float(ys[0].std()) or 1.0
    return [((t - mean) / std).astype(np.float32) for t in ys], mean, std


def tensor_splits(x: list[np.ndarray], y: list[np.ndarray], y_dtype: torch.dtype) -> list[Split]:
    return [Split(torch.from_numpy(np.ascontiguousarray(a)), torch.as_tensor(b, dtype=y_dtype)) for a, b in zip(x, y)]


# ---------------------------------------------------------------- options (the dataset schemas)


@dataclass
class DataConfig:
    """Options every dataset reads."""

    name: str = ""
    batch_size: int = option(64, "samples per training step (split over the processes under torchrun)")
    # Not `seed`: runs with different seeds are compared on the same split and the same noisy labels.
    split_seed: int = option(0, "seeds the split, where the dataset draws one, and the label noise")
    label_noise: float = option(0.0, "fraction of training labels corrupted (classification tasks)")
    label_noise_mode: str = option("symmetric", "symmetric | asymmetric: how labels are corrupted")
    label_noise_splits: list[str] = option(
        help="the splits whose labels get the noise: train, val (the test split stays clean)",
        factory=lambda: ["train", "val"],
    )
    imbalance: float | None = option(None, "cut the training split to a long tail n_max/n_min (null: as loaded)")
    folds: int | None = option(None, "K-fold cross-validation over train+val (null: the dataset's own split)")
    fold: int = option(0, "the fold that validates, 0..folds-1 (with data.folds)")


@dataclass
class SplitConfig(DataConfig):
    """A dataset split at random into train/val/test."""

    val_fraction: float = option(0.15, "fraction of the whole set held out for validation")
    test_fraction: float = option(0.15, "fraction of the whole set held out for the test")


@dataclass
class GeneratedConfig(SplitConfig):
    """A generated set (digit strips, counts)."""

    num_samples: int | None = option(None, "how many samples to generate (null: the set's default)")
