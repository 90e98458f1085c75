"""The user's own tables: ``data=csv data.path=table.csv data.target=<column(s)>``.

``csv`` and ``parquet`` are the same loader, registered under both names. The file
is read with pandas: ``.parquet``/``.pq`` with ``pandas.read_parquet`` (needs pyarrow), ``.tsv``
tab-separated, anything else with ``pandas.read_csv``; ``data.options`` are passed to the reader
(e.g. ``+data.options.sep=';'``, ``+data.options.na_values=['?']``).

Targets, by task:

- multiclass: one column of strings or integers; classes are its sorted distinct values.
- binary: one column with exactly two distinct values; 0/1 (or false/true) as they are, otherwise
  the second in sorted order is the positive class (``class_names`` says which).
- multilabel: several 0/1 columns (``data.target=[a,b,c]``), or one column of labels joined by
  ``data.delimiter`` (``"cat|dog"``; an empty cell means no label).
- regression: one numeric column, standardised with the training split's mean and std for training
  (metrics are reported in its own units).
- count: one column of non-negative integers, kept as they are.

Features are every other column except ``data.split_column`` and ``data.drop``: numeric and boolean
columns are standardised with the training split's statistics; text columns are one-hot encoded
with the categories seen in the training split (an unseen or missing category is all zeros). The
split is seeded (``data.split_seed``, stratified for classes) or given per row by
``data.split_column`` (values ``train``, ``val``, ``test``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from ..errors import UserError
from ..registry import DATASETS
from ..schema import option
from .bundle import DataBundle, Split, SplitConfig, existing_file, split_indices, standardise, standardise_targets

SPLIT_NAMES = {"train": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}
TASKS = ("multiclass", "binary", "multilabel", "regression", "count")


@dataclass
class TableConfig(SplitConfig):
    """Options of data=csv and data=parquet."""

    path: str | None = option(None, "the table: a .csv, .tsv or .parquet file")
    target: Any = option(None, "the target column, or [col1,col2] for multilabel")
    delimiter: str | None = option(None, "multilabel from one column of labels joined by this, e.g. '|'")
    split_column: str | None = option(None, "a column whose values (train/val/test) give the split")
    drop: list[str] = option(help="columns that are not features (ids, free text)", factory=list)
    max_categories: int = option(50, "text columns with more distinct values are refused, not one-hot encoded")
    options: dict[str, Any] = option(
        help="keyword arguments for the pandas reader, e.g. +data.options.sep=';'", factory=dict
    )


def read_table(cfg):
    """The table at ``data.path`` as a pandas DataFrame; clear errors for a missing or unreadable file."""
    import pandas as pd

    if not cfg.path:
        raise UserError(f"data={cfg.name} needs data.path=<file> (CSV, TSV or Parquet) and data.target=<column>")
    path = existing_file(cfg.path)
    options = OmegaConf.to_container(cfg.options, resolve=True) if isinstance(cfg.options, DictConfig) else cfg.options
    options = dict(options or {})
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path, **options)
        if suffix == ".tsv":
            options.setdefault("sep", "\t")
        return pd.read_csv(path, **options)
    except ImportError as exc:
        raise UserError(f"reading {path.name} needs a Parquet engine: pip install pyarrow ({exc})") from None
    except (ValueError, OSError, TypeError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        raise UserError(f"cannot read {path} as a table ({type(exc).__name__}: {exc})") from None


def _columns(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, ListConfig | list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _check_columns(frame, names: list[str], what: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise UserError(
            f"{what}: no column {', '.join(map(repr, missing))} in the table. "
            f"Columns: {', '.join(map(str, frame.columns))}"
        )


def _sorted_values(values) -> list:
    """Distinct non-missing values, sorted (numbers numerically, anything mixed as text)."""
    unique = list(dict.fromkeys(v for v in values if v == v and v is not None))  # v == v drops NaN
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def _is_01(values: np.ndarray) -> bool:
    return bool(np.isin(values.astype(np.float64), (0.0, 1.0)).all())


def _numeric(series) -> np.ndarray | None:
    """The series as float64 if it is numeric or boolean, else None."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return None


# ---------------------------------------------------------------- targets


def _target(frame, columns: list[str], task: str, delimiter: str | None):
    """(y, num_outputs, class_names, stratify labels or None, y dtype) for ``task`` from ``columns``."""
    one = len(columns) == 1
    if task != "multilabel" and not one:
        raise UserError(f"task={task} takes one target column; got data.target={columns}")
    if task == "multilabel" and one and delimiter is None:
        raise UserError(
            f"task=multilabel needs several 0/1 target columns (data.target=[a,b,c]) or one column of "
            f"labels joined by a delimiter (data.delimiter='|'); got the single column {columns[0]!r}"
        )
    if task != "multilabel":
        series = frame[columns[0]]
        missing = series.isna().to_numpy()
        if missing.any():
            rows = np.flatnonzero(missing)[:5].tolist()
            raise UserError(
                f"target column {columns[0]!r} has {int(missing.sum())} missing values (first rows {rows}); "
                "drop those rows or fill them"
            )
    name = columns[0]

    if task == "multiclass":
        values = frame[name].to_numpy()
        numeric = _numeric(frame[name])
        if numeric is not None:
            if not np.all(numeric == np.round(numeric)):
                raise UserError(
                    f"task=multiclass needs class labels (integers or text), but column {name!r} has fractional "
                    f"values such as {numeric[numeric != np.round(numeric)][0]}; for a real-valued target use "
                    "task=regression"
                )
            values = numeric.astype(np.int64)  # integer labels, even if pandas read them as floats
        classes = _sorted_values(values.tolist())
        if len(classes) < 2:
            raise UserError(f"task=multiclass needs at least 2 classes; column {name!r} has only {classes}")
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[v] for v in values.tolist()], dtype=np.int64)
        return y, len(classes), [str(c) for c in classes], y, torch.long

    if task == "binary":
        values = frame[name].to_numpy()
        classes = _sorted_values(values.tolist())
        if len(classes) != 2:
            shown = ", ".join(map(str, classes[:10])) + (" ..." if len(classes) > 10 else "")
            raise UserError(
                f"task=binary needs a target with exactly two values; column {name!r} has {len(classes)}: "
                f"{shown}. Use task=multiclass for more classes"
            )
        numeric = _numeric(frame[name])
        if numeric is not None and _is_01(numeric):
            y = numeric
        else:  # two arbitrary values: the second in sorted order is the positive class
            y = np.array([float(v == classes[1]) for v in values.tolist()])
        return y.astype(np.float32), 1, [str(c) for c in classes], y.astype(np.int64), torch.float32

    if task == "multilabel":
        if one:  # one column of delimited labels; an empty cell means no label
            cells = ["" if v != v or v is None else str(v) for v in frame[name].tolist()]
            sets = [{t.strip() for t in c.split(delimiter) if t.strip()} for c in cells]
            labels = sorted(set().union(*sets))
            if not labels:
                raise UserError(f"column {name!r} holds no labels when split on data.delimiter={delimiter!r}")
            index = {lab: i for i, lab in enumerate(labels)}
            y = np.zeros((len(cells), len(labels)), dtype=np.float32)
            for row, labs in enumerate(sets):
                y[row, [index[lab] for lab in labs]] = 1.0
            return y, len(labels), labels, None, torch.float32
        blocks = []
        for col in columns:
            numeric = _numeric(frame[col])
            if numeric is None or np.isnan(numeric).any() or not _is_01(numeric):
                bad = _sorted_values(frame[col].tolist()) if numeric is None else _sorted_values(numeric.tolist())
                bad = [f"{v:g}" if isinstance(v, float) else v for v in bad if v not in (0, 1)] or ["missing values"]
                raise UserError(
                    f"labels out of range: multilabel target columns must hold 0/1, but column {col!r} also has "
                    f"{', '.join(map(str, bad[:5]))}"
                )
            blocks.append(numeric)
        return np.stack(blocks, axis=1).astype(np.float32), len(columns), columns, None, torch.float32

    # regression, count: one numeric column
    numeric = _numeric(frame[name])
    if numeric is None:
        example = frame[name].iloc[0]
        raise UserError(f"task={task} needs a numeric target; column {name!r} holds text such as {example!r}")
    if not np.isfinite(numeric).all():
        raise UserError(f"target column {name!r} has infinite values; drop or fix those rows")
    if task == "count" and ((numeric < 0).any() or not np.all(numeric == np.round(numeric))):
        raise UserError(f"task=count needs non-negative integer counts; column {name!r} has e.g. {numeric[0]}")
    return numeric.astype(np.float32), 1, [], None, torch.float32


# ---------------------------------------------------------------- features


def _encode_features(frame, columns: list[str], train_rows: np.ndarray, max_categories: int) -> tuple[np.ndarray, int]:
    """Feature matrix (N, F): numeric columns first (unscaled), then one-hot blocks; returns it and #numeric."""
    import pandas as pd

    numeric_blocks, onehot_blocks = [], []
    for col in columns:
        series = frame[col]
        values = _numeric(series)
        if values is not None:
            bad = ~np.isfinite(values)
            if bad.any():
                rows = np.flatnonzero(bad)[:5].tolist()
                raise UserError(
                    f"feature column {col!r} has {int(bad.sum())} missing (NaN) or infinite values "
                    f"(first rows {rows}); fill or drop those rows, or leave the column out with data.drop=[{col}]"
                )
            numeric_blocks.append(values)
            continue
        if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
            raise UserError(
                f"feature column {col!r} holds dates/times, which cannot be used as they are; derive numeric "
                f"features from it or leave it out with data.drop=[{col}]"
            )
        text = series.astype("string")
        distinct = text.dropna().unique()
        if len(distinct) > max_categories:
            as_numbers = pd.to_numeric(series.dropna(), errors="coerce")
            if as_numbers.notna().mean() >= 0.9:  # numbers with a few stray markers such as "?" or "n/a"
                odd = series.dropna()[as_numbers.isna()].astype(str).unique()[:5].tolist()
                raise UserError(
                    f"feature column {col!r} is numeric except for values such as {odd}; clean them, or read "
                    f"them as missing with +data.options.na_values={odd} and fill them"
                )
            raise UserError(
                f"feature column {col!r} holds text with {len(distinct)} distinct values (more than "
                f"data.max_categories={max_categories}), so it cannot be one-hot encoded; leave it out with "
                f"data.drop=[{col}] (ids, free text), or raise data.max_categories"
            )
        categories = sorted(text.iloc[train_rows].dropna().unique().tolist())
        onehot = np.stack([(text == c).fillna(False).to_numpy(dtype=np.float64) for c in categories], axis=1)
        onehot_blocks.append(onehot.reshape(len(frame), len(categories)))
    n = len(frame)
    numeric = np.stack(numeric_blocks, axis=1) if numeric_blocks else np.zeros((n, 0))
    onehot = np.concatenate(onehot_blocks, axis=1) if onehot_blocks else np.zeros((n, 0))
    return np.concatenate([numeric, onehot], axis=1), numeric.shape[1]


# ---------------------------------------------------------------- splits


def _split_rows(frame, cfg, stratify: np.ndarray | None) -> list[np.ndarray]:
    if cfg.split_column:
        _check_columns(frame, [cfg.split_column], "data.split_column")
        names = frame[cfg.split_column].astype("string").str.strip().str.lower()
        unknown = sorted(set(names.dropna().unique()) - set(SPLIT_NAMES)) + (["(empty)"] if names.isna().any() else [])
        if unknown:
            raise UserError(
                f"data.split_column={cfg.split_column}: values must be train, val or test; found {unknown[:5]}"
            )
        codes = names.map(SPLIT_NAMES).to_numpy(dtype=np.int64)
        parts = [np.flatnonzero(codes == i) for i in range(3)]
        for part, which in zip(parts, ("train", "val", "test")):
            if len(part) == 0:
                raise UserError(f"data.split_column={cfg.split_column} assigns no row to the {which!r} split")
        return parts
    try:
        return list(split_indices(len(frame), cfg.val_fraction, cfg.test_fraction, cfg.split_seed, stratify))
    except ValueError:  # stratification needs >= 2 rows per class in every part
        try:
            return list(split_indices(len(frame), cfg.val_fraction, cfg.test_fraction, cfg.split_seed))
        except ValueError as exc:
            raise UserError(f"cannot split {len(frame)} rows into train/val/test: {exc}") from None


# ---------------------------------------------------------------- the loader


def load_table(cfg, task: str) -> DataBundle:
    """A table from disk as a DataBundle (see the module docstring for what each task expects)."""
    frame = read_table(cfg)
    targets = _columns(cfg.target)
    if not targets:
        raise UserError(
            f"data={cfg.name} needs data.target=<column> (or [col1,col2] for multilabel). "
            f"Columns: {', '.join(map(str, frame.columns))}"
        )
    _check_columns(frame, targets, "data.target")
    drop = _columns(cfg.drop)
    _check_columns(frame, drop, "data.drop")
    excluded = set(targets) | set(drop) | ({cfg.split_column} if cfg.split_column else set())
    features = [c for c in frame.columns if c not in excluded]
    if not features:
        raise UserError("no feature columns left after removing the target, data.split_column and data.drop")
    if len(frame) < 3:
        raise UserError(f"{cfg.path} has {len(frame)} rows; train, val and test need at least one each")

    y, num_outputs, class_names, stratify, y_dtype = _target(frame, targets, task, cfg.delimiter)
    parts = _split_rows(frame, cfg, stratify)
    x, num_numeric = _encode_features(frame, features, parts[0], cfg.max_categories)

    # Standardise the numeric columns with the training split's statistics; one-hot columns stay 0/1.
    xs = [x[p].astype(np.float32) for p in parts]
    if num_numeric:
        scaled = standardise(*[part[:, :num_numeric] for part in xs])
        xs = [np.concatenate([s, part[:, num_numeric:]], axis=1) for s, part in zip(scaled, xs)]
    ys = [y[p] for p in parts]
    ys, mean, std = standardise_targets(ys, task)
    train, val, test = (
        Split(torch.from_numpy(np.ascontiguousarray(a)), torch.as_tensor(b, dtype=y_dtype)) for a, b in zip(xs, ys)
    )
    return DataBundle(
        train,
        val,
        test,
        task=task,
        kind="table",
        num_outputs=num_outputs,
        class_names=class_names,
        target_mean=mean,
        target_std=std,
    )


DATASETS.register("csv", load_table, tasks=TASKS, kind="table", schema=TableConfig)
DATASETS.register("parquet", load_table, tasks=TASKS, kind="table", schema=TableConfig)
