"""The user's own arrays: ``data=npz data.path=arrays.npz``.

The file is a NumPy ``.npz`` archive, as ``np.savez(path, x=inputs, y=targets)`` (or
``np.savez_compressed``) writes it, read with ``allow_pickle=False`` (text is a string array,
``np.array(labels, dtype=str)``, never Python objects). Its arrays:

- ``x``: the inputs, one row per sample. (N, F) numbers are a table; (N, C, H, W) images, or
  (N, H, W) images that get a channel dimension, are images (channels first).
- ``y``: the targets, one row per sample, as the task takes them (below).
- ``split`` (optional): each row's split, as strings ``train``/``val``/``test`` (``valid`` and
  ``validation`` also mean val) or integers 0/1/2. Without it the split is seeded
  (``data.val_fraction``, ``data.test_fraction``, ``data.split_seed``) and stratified by class for
  multiclass, embedding and binary targets where every class has enough rows.

Targets, by task:

- multiclass, embedding: one class label per row (N,) or (N, 1): integers or strings; classes are
  the sorted distinct values, mapped to 0..C-1 (``class_names`` holds the values).
- binary: exactly two distinct values; the second in sorted order is the positive class (1.0).
- multilabel: (N, C) of 0/1, one column per label.
- regression: one number per row, (N,) or (N, 1), standardised with the training split's mean and
  std for training (metrics are reported in its own units).
- count: non-negative integers, (N,) or (N, 1), kept as they are (as floats).
- sequence: (N, L) integer class indices padded at the end with -1; the classes are 0..max label.

Inputs: table features are standardised with the training split's mean and std; uint8 images stay
uint8 and are normalised per batch on the device by an :class:`~trainer.data.vision.ImageTransform`
(the training split's channel statistics); other images are standardised per channel with the
training split's statistics.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..registry import DATASETS
from ..schema import option
from ..tasks import TASK_NAMES
from .bundle import DataBundle, Split, SplitConfig, existing_file, split_indices, standardise, standardise_targets
from .tables import SPLIT_NAMES
from .vision import ImageTransform, channel_stats

SAVE_HINT = "save the arrays with np.savez(path, x=inputs, y=targets)"


@dataclass
class NpzConfig(SplitConfig):
    """Options of data=npz."""

    path: str | None = option(None, "the .npz archive: arrays x (inputs), y (targets) and optionally split")


# ---------------------------------------------------------------- reading the archive


def read_arrays(cfg) -> tuple[Path, dict[str, np.ndarray]]:
    """The resolved path and the arrays x, y (and split, if present) of the archive at ``data.path``."""
    if not cfg.path:
        raise UserError(f"data=npz needs data.path=<file.npz> holding arrays x and y; {SAVE_HINT}")
    path = existing_file(cfg.path)
    path = path.resolve()
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:  # not an npz, truncated, or pickled
        raise UserError(f"cannot read {path} as an .npz archive ({type(exc).__name__}: {exc}); {SAVE_HINT}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a single .npy array
        raise UserError(f"{path} holds a single array (.npy), not an .npz archive of x and y; {SAVE_HINT}")
    with archive:
        for key in ("x", "y"):
            if key not in archive.files:
                raise UserError(
                    f"{path} has no array {key!r} (it has {', '.join(archive.files) or 'no arrays'}); {SAVE_HINT}"
                )
        arrays = {}
        for key in ("x", "y", "split"):
            if key not in archive.files:
                continue
            try:
                arrays[key] = archive[key]
            except ValueError as exc:  # an object array, refused without pickle
                raise UserError(
                    f"array {key!r} in {path} cannot be read without pickle ({exc}); save text as a string "
                    "array, np.array(values, dtype=str), and numbers as numeric arrays"
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise UserError(
                    f"array {key!r} in {path} is corrupt ({type(exc).__name__}: {exc}); {SAVE_HINT}"
                ) from None
    return path, arrays


def _check_lengths(path: Path, arrays: dict[str, np.ndarray]) -> int:
    x, y = arrays["x"], arrays["y"]
    for key in ("x", "y"):
        if arrays[key].ndim == 0:
            raise UserError(f"array {key!r} in {path} is a single value; it needs one row per sample")
    n = len(x)
    if len(y) != n:
        raise UserError(
            f"x has {n} rows but y has {len(y)} in {path}; x and y need one row per sample, in the same order"
        )
    if "split" in arrays and (arrays["split"].ndim != 1 or len(arrays["split"]) != n):
        raise UserError(
            f"split in {path} has shape {arrays['split'].shape} but x has {n} rows; give one split value per row"
        )
    if n < 3:
        raise UserError(f"{path} has {n} rows; train, val and test need at least one each")
    return n


# ---------------------------------------------------------------- targets


def _one_per_row(y: np.ndarray, task: str) -> np.ndarray:
    """(N,) or (N, 1) -> (N,); anything wider is refused with the task that takes it."""
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    if y.ndim != 1:
        fix = (
            "train on one column at a time, y[:, k]"
            if task in ("regression", "count")
            else "use task=multilabel for one 0/1 column per label, or y.argmax(1) for one-hot labels"
        )
        raise UserError(f"task={task} takes one target per sample, y of shape (N,) or (N, 1); got {y.shape}: {fix}")
    return y


def _numbers(y: np.ndarray, task: str) -> np.ndarray:
    """y as float64, refusing text and NaN/inf."""
    if y.dtype.kind not in "biuf":
        raise UserError(f"task={task} needs numeric targets, but y holds {y.dtype} values such as {y.flat[0]!r}")
    values = y.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(values), -1).any(1))
        raise UserError(
            f"y has {int(bad.sum())} NaN or inf values (first rows {rows[:5].tolist()}); drop or fix those rows"
        )
    return values


def _shown(values: list, limit: int = 10) -> str:
    return ", ".join(map(str, values[:limit])) + (" ..." if len(values) > limit else "")


def _class_labels(y: np.ndarray, task: str) -> tuple[np.ndarray, list[str]]:
    """(index in 0..C-1 per row, class names) from labels that are integers, whole floats or strings."""
    y = _one_per_row(y, task)
    if y.dtype.kind == "S":  # bytes strings: decoded, so class names read as text
        y = y.astype(str)
    if y.dtype.kind in "fc":
        values = _numbers(y, task)
        fractional = values != np.round(values)
        if fractional.any():
            raise UserError(
                f"task={task} needs class labels (integers or strings), but y has fractional values such as "
                f"{values[fractional][0]:g}; for a real-valued target use task=regression"
            )
        y = values.astype(np.int64)  # whole floats name their classes "3", not "3.0"
    elif y.dtype.kind not in "biuU":
        raise UserError(f"task={task} needs class labels (integers or strings); y holds {y.dtype} values")
    classes, index = np.unique(y, return_inverse=True)
    return index.reshape(-1).astype(np.int64), [str(c) for c in classes.tolist()]


def _target(y: np.ndarray, task: str) -> tuple[np.ndarray, int, list[str], np.ndarray | None, torch.dtype]:
    """(y, num_outputs, class_names, stratify labels or None, y dtype) for ``task``."""
    if task in ("multiclass", "embedding"):
        index, names = _class_labels(y, task)
        if len(names) < 2:
            raise UserError(f"task={task} needs at least 2 classes; y has only {names}. Add samples of other classes")
        return index, len(names), names, index, torch.long

    if task == "binary":
        index, names = _class_labels(y, task)
        if len(names) != 2:
            fix = "Use task=multiclass for more classes" if len(names) > 2 else "Add samples of the other class"
            raise UserError(
                f"task=binary needs a target with exactly two values; y has {len(names)}: {_shown(names)}. {fix}"
            )
        # The second value in sorted order is the positive class (0/1 stay as they are).
        return index.astype(np.float32), 1, names, index, torch.float32

    if task == "multilabel":
        if y.ndim != 2:
            raise UserError(
                f"task=multilabel needs y of shape (N, C), one 0/1 column per label; got {y.shape}. "
                "For one class label per sample use task=multiclass"
            )
        values = _numbers(y, task)
        outside = (values != 0) & (values != 1)
        if outside.any():
            bad = [f"{v:g}" for v in np.unique(values[outside]).tolist()]
            raise UserError(
                f"labels out of range: multilabel targets must be 0/1, but y also has {_shown(bad, 5)}; "
                "give one 0/1 column per label"
            )
        return values.astype(np.float32), y.shape[1], [str(i) for i in range(y.shape[1])], None, torch.float32

    if task == "sequence":
        if y.ndim != 2:
            raise UserError(
                f"task=sequence needs y of shape (N, L): class indices padded at the end with -1; got {y.shape}"
            )
        values = _numbers(y, task)
        bad = (values != np.round(values)) | (values < -1)
        if bad.any():
            raise UserError(
                f"task=sequence needs class indices >= 0 padded with -1, but y has values such as "
                f"{values[bad][0]:g}; relabel the classes as 0..C-1"
            )
        seq = values.astype(np.int64)
        if (seq < 0).all():
            raise UserError("task=sequence: every entry of y is the padding -1; give each sample its labels")
        pad = seq < 0
        early = (pad[:, :-1] & ~pad[:, 1:]).any(1)  # a label after padding in the same row
        if early.any():
            rows = np.flatnonzero(early)[:5].tolist()
            raise UserError(
                f"task=sequence: y rows {rows} have -1 padding before a label; pad each sequence at the end, "
                "e.g. [3, 1, -1, -1]"
            )
        classes = int(seq.max()) + 1
        return seq, classes, [str(i) for i in range(classes)], None, torch.long

    # regression, count: one number per row
    values = _numbers(_one_per_row(y, task), task)
    if task == "count" and ((values < 0).any() or not np.all(values == np.round(values))):
        bad = values[(values < 0) | (values != np.round(values))][0]
        raise UserError(
            f"task=count needs non-negative integer counts, but y has e.g. {bad:g}; for other real values use "
            "task=regression"
        )
    return values.astype(np.float32), 1, [], None, torch.float32


# ---------------------------------------------------------------- splits


def _given_split(path: Path, split: np.ndarray) -> list[np.ndarray]:
    """Row indices of train, val and test from the archive's ``split`` array."""
    if split.dtype.kind in "US":
        names = np.char.lower(np.char.strip(split.astype(str)))
        unknown = sorted(set(names.tolist()) - set(SPLIT_NAMES))
        codes = np.array([SPLIT_NAMES.get(s, -1) for s in names.tolist()], dtype=np.int64)
    elif split.dtype.kind in "iuf":
        codes = split.astype(np.float64)
        unknown = sorted({f"{v:g}" for v in codes.tolist() if v not in (0, 1, 2)})
        codes = np.where(np.isin(codes, (0, 1, 2)), codes, -1).astype(np.int64)
    else:
        unknown = [f"{split.dtype} values"]
    if unknown:
        raise UserError(
            f"split in {path} must hold train, val or test (or 0, 1, 2) for every row; found {unknown[:5]}. "
            "Fix those entries, or leave split out for a seeded split"
        )
    parts = [np.flatnonzero(codes == i) for i in range(3)]
    for part, which in zip(parts, ("train", "val", "test")):
        if len(part) == 0:
            raise UserError(f"split in {path} assigns no row to the {which!r} split; give it at least one row")
    return parts


def _seeded_split(cfg, n: int, stratify: np.ndarray | None) -> list[np.ndarray]:
    try:
        return list(split_indices(n, cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify))
    except ValueError:  # stratification needs >= 2 rows per class in every part
        try:
            return list(split_indices(n, cfg.val_fraction, cfg.test_fraction, cfg.split_seed))
        except ValueError as exc:
            raise UserError(f"cannot split {n} rows into train/val/test: {exc}; give more rows") from None


# ---------------------------------------------------------------- inputs


def _inputs(x: np.ndarray, parts: list[np.ndarray]) -> tuple[list[Split], str]:
    """Per-split inputs (with their transform) and the data's kind, scaled with the training split's statistics."""
    if x.dtype.kind not in "biuf":
        raise UserError(
            f"x must hold numbers, got {x.dtype} values; encode text as numbers first (data=csv one-hot encodes "
            "text columns)"
        )
    if x.ndim == 3:  # (N, H, W) grey images
        x = x[:, None]
    if x.ndim not in (2, 4):
        raise UserError(
            f"x must be (N, F) features or (N, C, H, W) / (N, H, W) images; got shape {x.shape}. "
            "Reshape it, e.g. x.reshape(len(x), -1) for features"
        )
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(x), -1).any(1))
            raise UserError(
                f"x has {int(bad.sum())} NaN or inf values in {len(rows)} rows (first rows {rows[:5].tolist()}); "
                "drop or fill those rows"
            )
    if x.ndim == 2:
        xs = standardise(*[x[p].astype(np.float64) for p in parts])
        return [Split(torch.from_numpy(a), torch.empty(0)) for a in xs], "table"
    if x.dtype == np.uint8:  # kept 4x smaller than floats; normalised per batch on the device
        images = [torch.from_numpy(np.ascontiguousarray(x[p])) for p in parts]
        mean, std = channel_stats(images[0])
        transform = ImageTransform(mean, std)
        return [Split(a, torch.empty(0), transform) for a in images], "image"
    xs = standardise(*[x[p].astype(np.float64) for p in parts], axis=(0, 2, 3))
    return [Split(torch.from_numpy(a), torch.empty(0)) for a in xs], "image"


# ---------------------------------------------------------------- the loader


# kind=None: images or a table, as the file holds; model=auto is resolved once it is read.
@DATASETS.register("npz", tasks=TASK_NAMES, kind=None, schema=NpzConfig)
def load_npz(cfg, task: str) -> DataBundle:
    """Arrays from an .npz archive as a DataBundle (see the module docstring for what each task expects)."""
    path, arrays = read_arrays(cfg)
    n = _check_lengths(path, arrays)
    y, num_outputs, class_names, stratify, y_dtype = _target(arrays["y"], task)
    parts = _given_split(path, arrays["split"]) if "split" in arrays else _seeded_split(cfg, n, stratify)
    splits, kind = _inputs(arrays["x"], parts)

    ys = [y[p] for p in parts]
    ys, mean, std = standardise_targets(ys, task)
    train, val, test = (
        Split(s.x, torch.as_tensor(np.ascontiguousarray(t), dtype=y_dtype), s.transform) for s, t in zip(splits, ys)
    )
    return DataBundle(
        train,
        val,
        test,
        task=task,
        kind=kind,
        num_outputs=num_outputs,
        class_names=class_names,
        target_mean=mean,
        target_std=std,
    )
