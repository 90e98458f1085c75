"""Synthetic label noise on the training split, to study noise-robust losses (gce, sce, nce_rce).

``data.label_noise`` = eta in [0, 1) is the fraction of training labels corrupted;
``data.label_noise_mode`` says how. Validation and test labels are never touched.

multiclass (C classes; in each class, round(eta * n_c) samples chosen at random are relabelled):
    symmetric   to one of the other C - 1 classes, uniformly (Ma et al. 2020's symmetric noise)
    asymmetric  class i -> (i + 1) mod C (a fixed class-flip mapping, as Ma et al. use for CIFAR-100)
binary (labels 0/1):
    symmetric   round(eta * n_c) labels of each class flipped (0 <-> 1)
    asymmetric  round(eta * n_1) positives flipped to 0 (one-sided noise: missed positives)
multilabel (multi-hot (N, C)):
    symmetric   round(eta * N * C) label bits, chosen uniformly, flipped (0 <-> 1)
    asymmetric  round(eta * P) of the P positive bits dropped to 0 (missing labels)

The noise is seeded by ``data.split_seed`` (its own random stream, not the split's), not by
``seed``: runs that differ only in ``seed`` see the same noisy labels, as they see the same split.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from .data import DataBundle
from .errors import UserError

MODES = ("symmetric", "asymmetric")
NOISY_TASKS = ("multiclass", "binary", "multilabel")
_NOISE_STREAM = 0x4E4F495345  # separates the noise's random stream from the split's (same split_seed)


def check_label_noise(fraction: float, mode: str, task: str) -> None:
    """Clear errors for a bad fraction or mode, or a task without class labels."""
    if not 0.0 <= fraction < 1.0:
        raise UserError(f"data.label_noise is the fraction of training labels to corrupt, in [0, 1); got {fraction}")
    if mode not in MODES:
        raise UserError(f"data.label_noise_mode must be one of {', '.join(MODES)}; got {mode!r}")
    if fraction > 0 and task not in NOISY_TASKS:
        raise UserError(
            f"data.label_noise applies to class labels ({', '.join(NOISY_TASKS)} tasks), not to task {task!r}; "
            "set data.label_noise=0"
        )


def corrupt_labels(
    labels: Tensor, task: str, fraction: float, mode: str, num_classes: int, seed: int
) -> tuple[Tensor, Tensor]:
    """The noisy labels (same dtype and shape) and a boolean mask of the entries that changed."""
    check_label_noise(fraction, mode, task)
    rng = np.random.default_rng([seed, _NOISE_STREAM])
    y = labels.cpu().numpy().copy()
    if fraction > 0:
        if task == "multiclass":
            y = _multiclass(y, fraction, mode, num_classes, rng)
        elif task == "binary":
            y = _binary(y, fraction, mode, rng)
        else:
            y = _multilabel(y, fraction, mode, rng)
    noisy = torch.as_tensor(y, dtype=labels.dtype).to(labels.device)
    return noisy, noisy != labels


def _pick(indices: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(indices)[: int(round(fraction * len(indices)))]


def _multiclass(y: np.ndarray, fraction: float, mode: str, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    if num_classes < 2:
        raise UserError("data.label_noise needs at least 2 classes")
    noisy = y.copy()
    for c in range(num_classes):
        chosen = _pick(np.flatnonzero(y == c), fraction, rng)
        if mode == "symmetric":  # a uniformly drawn *other* class
            noisy[chosen] = (c + rng.integers(1, num_classes, size=len(chosen))) % num_classes
        else:
            noisy[chosen] = (c + 1) % num_classes
    return noisy


def _binary(y: np.ndarray, fraction: float, mode: str, rng: np.random.Generator) -> np.ndarray:
    noisy = y.copy()
    for c in (0, 1) if mode == "symmetric" else (1,):
        chosen = _pick(np.flatnonzero(y == c), fraction, rng)
        noisy[chosen] = 1 - c
    return noisy


def _multilabel(y: np.ndarray, fraction: float, mode: str, rng: np.random.Generator) -> np.ndarray:
    flat = y.reshape(-1).copy()
    candidates = np.arange(flat.size) if mode == "symmetric" else np.flatnonzero(flat > 0.5)
    chosen = _pick(candidates, fraction, rng)
    flat[chosen] = 1 - flat[chosen]
    return flat.reshape(y.shape)


def apply_label_noise(bundle: DataBundle, cfg) -> DataBundle:
    """``bundle`` with its training labels corrupted as ``cfg`` (the data config) asks; val/test untouched."""
    fraction = float(cfg.get("label_noise", 0.0) or 0.0)
    mode = cfg.get("label_noise_mode", "symmetric")
    check_label_noise(fraction, mode, bundle.task)
    if fraction == 0:
        return bundle
    noisy, _ = corrupt_labels(bundle.train.y, bundle.task, fraction, mode, bundle.num_outputs, cfg.split_seed)
    return replace(bundle, train=replace(bundle.train, y=noisy))
