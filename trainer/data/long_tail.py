"""``data.imbalance=<ratio>``: the training split cut to an exponential long-tail profile.

With C classes, n_max the largest class of the training split and rho the ratio (Cui et al. 2019,
"Class-Balanced Loss Based on Effective Number of Samples"; Cao et al. 2019, LDAM), class c keeps

    n_c = floor(n_max * rho ** (-c / (C - 1)))        c = 0 .. C-1, at least 1

samples, drawn at random (seeded by ``data.split_seed``), so class 0 is the head and class C-1 the
tail with n_max / rho samples. A class with fewer samples than its n_c keeps all of them. Only the
training split is cut: validation and test stay as loaded (balanced on the built-in data), and
label noise, if any, applies after the cut.

Multilabel, the analogous cut on positives: label c's target is n_c positives (n_max: the most
positives of any label). Labels are visited from the tail (c = C-1) to the head; while label c has
more positives than its target, random samples holding it are dropped, first those that hold no
rarer label. A dropped sample takes its other labels' positives with it, so every label ends at
or below its target, and a label is below it only where its positives co-occur with a head
label's so often that no other sample was left to drop (tests/data/test_long_tail_and_folds.py
measures it on the embedded multilabel set).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .bundle import DataBundle

_LONG_TAIL_STREAM = 0x4C54  # the cut's own random stream: the split and the label noise use others
TASKS = ("multiclass", "multilabel")


def profile(n_max: int, num_classes: int, ratio: float) -> np.ndarray:
    """n_c = floor(n_max * ratio^(-c/(C-1))), at least 1, for c = 0..C-1."""
    c = np.arange(num_classes)
    exponent = -c / max(num_classes - 1, 1)
    return np.maximum(np.floor(n_max * ratio**exponent + 1e-9), 1).astype(np.int64)


def check_imbalance(ratio: float | None, task: str) -> None:
    if ratio is None:
        return
    if task not in TASKS:
        raise UserError(
            f"data.imbalance cuts the classes of a classification set ({', '.join(TASKS)}), not task {task!r}; "
            "set data.imbalance=null"
        )
    if not ratio >= 1:
        raise UserError(f"data.imbalance is n_max / n_min of the training split, at least 1; got {ratio}")


def long_tail_rows(y: np.ndarray, task: str, num_classes: int, ratio: float, seed: int) -> np.ndarray:
    """The sorted rows of the training split that the cut keeps."""
    rng = np.random.default_rng([seed, _LONG_TAIL_STREAM])
    if task == "multiclass":
        counts = np.bincount(y, minlength=num_classes)
        target = profile(int(counts.max()), num_classes, ratio)
        keep = [rng.permutation(np.flatnonzero(y == c))[: target[c]] for c in range(num_classes)]
        return np.sort(np.concatenate(keep))
    positives = y.reshape(len(y), -1) > 0.5
    target = profile(int(positives.sum(axis=0).max()), positives.shape[1], ratio)
    kept = np.ones(len(y), dtype=bool)
    for c in reversed(range(positives.shape[1])):
        holders = rng.permutation(np.flatnonzero(kept & positives[:, c]))
        excess = len(holders) - int(target[c])
        if excess > 0:
            # Drop first the samples holding no rarer label: the labels already cut keep their counts.
            rarer = positives[holders][:, c + 1 :].any(axis=1)
            kept[np.concatenate([holders[~rarer], holders[rarer]])[:excess]] = False
    return np.flatnonzero(kept)


def cut_long_tail(bundle: DataBundle, ratio: float, seed: int) -> DataBundle:
    """The bundle with its training split cut to the long-tail profile (validation and test as they are)."""
    from dataclasses import replace

    y = bundle.train.y.cpu().numpy()
    rows = long_tail_rows(y, bundle.task, bundle.num_outputs, ratio, seed)
    return replace(bundle, train=bundle.train.part(torch.from_numpy(rows)))


def shot_groups(counts: np.ndarray) -> dict[str, np.ndarray]:
    """The classes in thirds by training count: many (the most samples), medium, few."""
    order = np.argsort(-counts, kind="stable")
    many, medium, few = np.array_split(order, 3)
    return {"many": many, "medium": medium, "few": few}
