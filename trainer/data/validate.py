"""Checks on a dataset before any training: bad data stops the run with a message that says how to fix it.

:func:`validate_bundle` runs on every :class:`~trainer.data.DataBundle` that ``build_data`` returns
(embedded, torchvision or the user's own files). It checks what would otherwise fail deep inside a
loss, or worse, train silently on garbage:

- every split has as many targets as inputs, the same input shape, and train/val are not empty;
- floating-point inputs and targets are finite (NaN or inf make every loss NaN);
- targets fit the task: each task's ``check_targets`` (class indices in [0, C) for multiclass,
  0/1 for binary and multilabel, counts >= 0, ...).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UserError
from ..registry import TASKS


def validate_bundle(bundle) -> None:
    """Raise a :class:`UserError` naming the split, the problem and the fix if ``bundle`` is not trainable."""
    splits = bundle.splits()
    for name in ("train", "val"):
        if len(splits[name]) == 0:
            raise UserError(
                f"the {name} split is empty; check the data file and data.val_fraction / data.test_fraction"
            )
    shape = bundle.train.sample_shape
    task = TASKS.get(bundle.task)
    for name, split in splits.items():
        if not hasattr(split, "x"):  # streamed from a Dataset: its targets are checked, its inputs as read
            if len(split) and tuple(split.sample_shape) != shape:
                raise UserError(
                    f"the {name} split's inputs have shape {tuple(split.sample_shape)} but the train split's "
                    f"have {shape}; every split needs the same features"
                )
            if len(split):
                _check_finite_targets(f"the {name} split's targets", split.y)
                task.check_targets(split.y, bundle.num_outputs, f"the {name} split's targets")
            continue
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
            where = f"the {name} split's targets"
            _check_finite_targets(where, split.y)
            task.check_targets(split.y, bundle.num_outputs, where)


def _rows(mask: Tensor, limit: int = 5) -> str:
    """'rows 3, 17, 80 (and 12 more)' for the True entries of a per-row mask."""
    rows = torch.nonzero(mask).flatten()
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


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


def _check_finite_targets(where: str, y: Tensor) -> None:
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        bad = ~torch.isfinite(y)
        per_row = bad.flatten(1).any(1) if y.dim() > 1 else bad
        raise UserError(f"{where} contain NaN or inf ({_rows(per_row)}); drop or fix those rows")
