"""Datasets as tensors: the embedded default sets and the registry that picks one by name.

Every builder returns a ``DataBundle`` with fixed, seeded train/val/test splits whose features are
standardised with statistics of the training split only. The embedded sets come from scikit-learn's
bundled data (no download), so every default run works offline; they are read from its files
without importing scikit-learn (``sklearn_bundled``), and split with the same draws as its
``train_test_split`` (``splits``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from . import sklearn_bundled
from .errors import UserError
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

    def batch(self, idx: Tensor | slice) -> tuple[Tensor, Tensor]:
        """Rows ``idx`` of the inputs (transformed) and targets."""
        x = self.x[idx]
        return (x if self.transform is None else self.transform(x)), self.y[idx]


@dataclass
class DataBundle:
    train: Split
    val: Split
    test: Split
    task: str
    # "image" (N, C, H, W) or "table" (N, F); picks the default model.
    kind: str
    # Classes for multiclass/multilabel/embedding/sequence, target columns for regression/count.
    num_outputs: int
    class_names: list[str] = field(default_factory=list)
    # Regression targets are standardised for training; metrics undo it with these.
    target_mean: float = 0.0
    target_std: float = 1.0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}


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


def _tensor_splits(x: list[np.ndarray], y: list[np.ndarray], y_dtype: torch.dtype) -> list[Split]:
    return [Split(torch.from_numpy(np.ascontiguousarray(a)), torch.as_tensor(b, dtype=y_dtype)) for a, b in zip(x, y)]


# ---------------------------------------------------------------- embedded sets (scikit-learn)


def _digits(cfg, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """sklearn's 8x8 digits split into train/val/test images (N, 1, 8, 8) in [0, 1] and labels."""
    raw_images, labels = sklearn_bundled.digits()
    images = (raw_images / 16.0).astype(np.float32)[:, None]
    parts = split_indices(len(labels), cfg.val_fraction, cfg.test_fraction, seed, stratify=labels)
    return [images[p] for p in parts], [labels[p] for p in parts]


def load_digits_multiclass(cfg, task: str) -> DataBundle:
    images, labels = _digits(cfg, cfg.split_seed)
    images = standardise(*images, axis=(0, 2, 3))
    train, val, test = _tensor_splits(images, labels, torch.long)
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


def load_digit_strips_multilabel(cfg, task: str) -> DataBundle:
    """Strips of 1 to 3 digits; the target is the multi-hot set of digits present."""
    strips, sequences = digit_strips(cfg, max_digits=3)
    targets = []
    for seqs in sequences:
        multi_hot = np.zeros((len(seqs), 10), dtype=np.float32)
        for row, seq in enumerate(seqs):
            multi_hot[row, seq] = 1.0
        targets.append(multi_hot)
    train, val, test = _tensor_splits(strips, targets, torch.float32)
    return DataBundle(
        train, val, test, task=task, kind="image", num_outputs=10, class_names=[str(i) for i in range(10)]
    )


def load_breast_cancer_binary(cfg, task: str) -> DataBundle:
    """sklearn's breast-cancer table: 30 features, 1 = benign, 0 = malignant."""
    x, y, class_names = sklearn_bundled.breast_cancer()
    parts = split_indices(len(y), cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify=y)
    xs = standardise(*[x[p] for p in parts])
    ys = [y[p] for p in parts]
    if task == "multiclass":
        train, val, test = _tensor_splits(xs, ys, torch.long)
        return DataBundle(train, val, test, task=task, kind="table", num_outputs=2, class_names=class_names)
    train, val, test = _tensor_splits(xs, ys, torch.float32)
    return DataBundle(train, val, test, task=task, kind="table", num_outputs=1, class_names=class_names)


def load_diabetes_regression(cfg, task: str) -> DataBundle:
    """sklearn's diabetes table: 10 features, disease progression after one year as the target."""
    x, y = sklearn_bundled.diabetes()
    parts = split_indices(len(y), cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    xs = standardise(*[x[p] for p in parts])
    ys = [y[p] for p in parts]
    mean, std = float(ys[0].mean()), float(ys[0].std())
    ys = [((t - mean) / std).astype(np.float32) for t in ys]
    train, val, test = _tensor_splits(xs, ys, torch.float32)
    return DataBundle(train, val, test, task=task, kind="table", num_outputs=1, target_mean=mean, target_std=std)


# ---------------------------------------------------------------- registry

DatasetBuilder = Callable[..., DataBundle]

# name -> (builder, tasks it can serve)
DATASETS: dict[str, tuple[DatasetBuilder, tuple[str, ...]]] = {
    "digits": (load_digits_multiclass, ("multiclass", "embedding")),
    "digit_strips": (load_digit_strips_multilabel, ("multilabel",)),
    "breast_cancer": (load_breast_cancer_binary, ("binary", "multiclass")),
    "diabetes": (load_diabetes_regression, ("regression",)),
}


def build_data(cfg, task: str) -> DataBundle:
    """Load dataset ``cfg.name`` for ``task``; clear errors for unknown names and mismatched tasks."""
    if cfg.name not in DATASETS:
        raise UserError(f"unknown dataset {cfg.name!r}. Datasets: {', '.join(sorted(DATASETS))}")
    builder, tasks = DATASETS[cfg.name]
    if task not in tasks:
        fitting = sorted(n for n, (_, t) in DATASETS.items() if task in t)
        raise UserError(
            f"dataset {cfg.name!r} does not serve task {task!r} (it serves {', '.join(tasks)}). "
            f"Datasets for {task!r}: {', '.join(fitting) or '(none)'}"
        )
    if cfg.batch_size < 1:
        raise UserError(f"data.batch_size must be >= 1, got {cfg.batch_size}")
    from .label_noise import apply_label_noise, check_label_noise  # data.label_noise: training labels only

    check_label_noise(cfg.get("label_noise", 0.0), cfg.get("label_noise_mode", "symmetric"), task)
    from .validate import validate_bundle  # every dataset, built in or the user's own: bad data stops here

    bundle = builder(cfg, task)
    validate_bundle(bundle)
    return apply_label_noise(bundle, cfg)


# The sequence and count sets live in their own module, which adds them to DATASETS on import;
# so do the datasets read from disk (torchvision sets: vision_data; the user's own tables: tabular_data).
from . import data_extra, tabular_data, vision_data  # noqa: E402, F401
