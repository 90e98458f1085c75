"""Checks on a dataset before any training: bad data stops the run with a message that says how to fix it.

:func:`validate_bundle` runs on every :class:`~trainer.data.DataBundle` that ``build_data`` returns
(embedded, torchvision or the user's own files). It checks what would otherwise fail deep inside a
loss, or worse, train silently on garbage:

- every split has as many targets as inputs, the same input shape, and train/val are not empty;
- floating-point inputs are finite (NaN or inf features make every loss NaN);
- targets fit the task: class indices in [0, C) for multiclass and embedding, 0/1 for binary and
  multilabel (multi-hot of width C), finite values for regression, finite values >= 0 for count,
  class indices or the padding value -1 for sequence.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .errors import UserError

SEQUENCE_PAD = -1
# Tasks whose target is one class index per sample.
INDEX_TASKS = ("multiclass", "embedding")


def validate_bundle(bundle) -> None:
    """Raise a :class:`UserError` naming the split, the problem and the fix if ``bundle`` is not trainable."""
    splits = bundle.splits()
    for name in ("train", "val"):
        if len(splits[name]) == 0:
            raise UserError(
                f"the {name} split is empty; check the data file and data.val_fraction / data.test_fraction"
            )
    shape = tuple(bundle.train.x.shape[1:])
    for name, split in splits.items():
        if len(split.x) != len(split.y):
            raise UserError(
                f"the {name} split has {len(split.x)} inputs but {len(split.y)} targets; every row needs one target"
            )
        if len(split) and tuple(split.x.shape[1:]) != shape:
            raise UserError(
                f"the {name} split's inputs have shape {tuple(split.x.shape[1:])} but the train split's "
                f"have {shape}; every split needs the same features"
            )
        _check_features(name, split.x)
        if len(split):
            _check_targets(name, split.y, bundle.task, bundle.num_outputs)


def _rows(mask: Tensor, limit: int = 5) -> str:
    """'rows 3, 17, 80 (and 12 more)' for the True entries of a per-row mask."""
    rows = torch.nonzero(mask).flatten()
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _values(values: Tensor, limit: int = 5) -> str:
    unique = torch.unique(values)
    shown = ", ".join(f"{v:g}" if values.is_floating_point() else str(int(v)) for v in unique[:limit].tolist())
    return shown + (f" (and {len(unique) - limit} more distinct values)" if len(unique) > limit else "")


def _check_features(name: str, x: Tensor) -> None:
    if not x.is_floating_point():  # integer inputs (uint8 images) cannot hold NaN or inf
        return
    bad = ~torch.isfinite(x)
    if not bool(bad.any()):
        return
    per_row = bad.flatten(1).any(1) if x.dim() > 1 else bad
    nans, infs = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
    raise UserError(
        f"the {name} split's input features contain {nans} NaN and {infs} inf values, in "
        f"{int(per_row.sum())} of {len(x)} rows ({_rows(per_row)} of that split). Missing or infinite "
        "features make every loss NaN: drop those rows or fill the gaps (e.g. pandas dropna() or fillna()) "
        "before training."
    )


def _check_targets(name: str, y: Tensor, task: str, num_outputs: int) -> None:
    where = f"the {name} split's targets"
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        bad = ~torch.isfinite(y)
        per_row = bad.flatten(1).any(1) if y.dim() > 1 else bad
        raise UserError(f"{where} contain NaN or inf ({_rows(per_row)}); drop or fix those rows")

    if task in INDEX_TASKS:
        if y.is_floating_point() and not bool((y == y.round()).all()):
            raise UserError(f"{where} must be class indices for task={task}, but some are fractions ({_values(y)})")
        outside = (y < 0) | (y >= num_outputs)
        if bool(outside.any()):
            raise UserError(
                f"{where} must be class indices in [0, {num_outputs}) for task={task} with {num_outputs} "
                f"classes, but {int(outside.sum())} are outside: {_values(y[outside])}. Class indices start "
                "at 0; relabel the data (e.g. 1..C -> 0..C-1) or check the target column."
            )
    elif task in ("binary", "multilabel"):
        not01 = (y != 0) & (y != 1)
        if bool(not01.any()):
            fix = (
                "a binary task needs two classes coded 0 and 1; for more classes use task=multiclass"
                if task == "binary"
                else "a multilabel target is multi-hot: one 0/1 column per label"
            )
            raise UserError(
                f"{where} must be 0 or 1 for task={task}, but {int(not01.sum())} are not: {_values(y[not01])}; {fix}"
            )
        if task == "multilabel" and (y.dim() != 2 or y.shape[1] != num_outputs):
            raise UserError(f"{where} must have shape (N, {num_outputs}) for task=multilabel, got {tuple(y.shape)}")
    elif task == "count":
        negative = y < 0
        if bool(negative.any()):
            raise UserError(
                f"{where} must be counts (>= 0) for task=count, but {int(negative.sum())} are negative: "
                f"{_values(y[negative])}; use task=regression for targets that can be negative"
            )
    elif task == "sequence":
        outside = (y != SEQUENCE_PAD) & ((y < 0) | (y >= num_outputs))
        if bool(outside.any()):
            raise UserError(
                f"{where} must be class indices in [0, {num_outputs}) or the padding value {SEQUENCE_PAD} "
                f"for task=sequence, but {int(outside.sum())} are not: {_values(y[outside])}"
            )
