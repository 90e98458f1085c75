"""The user's own tables (data=csv): every task, encoding with train statistics, splits, and every clear error."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import compose, read_metrics, run_cli

from trainer.data import build_data
from trainer.errors import UserError


def make_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(5.0, 2.0, n),
            "x2": rng.integers(0, 100, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "flag": rng.choice([True, False], n),
            "id": [f"row{i}" for i in range(n)],
        }
    )
    frame["species"] = np.where(frame.x1 > 5.5, "setosa", np.where(frame.x1 > 4.5, "virginica", "versicolor"))
    frame["digit"] = rng.integers(3, 7, n)  # integer classes that do not start at 0
    frame["sick"] = (frame.x1 > 5).astype(int)
    frame["answer"] = np.where(frame.x1 > 5, "yes", "no")
    frame["cat"] = (frame.x2 > 50).astype(int)
    frame["dog"] = rng.integers(0, 2, n)
    frame["tags"] = ["|".join(t for t, on in (("cat", c), ("dog", d)) if on) for c, d in zip(frame.cat, frame.dog)]
    frame["price"] = 3.0 * frame.x1 + 100.0
    frame["visits"] = rng.poisson(2.0, n)
    return frame


NOT_FEATURES = "data.drop=[id,species,digit,sick,answer,cat,dog,tags,price,visits]"


def load(tmp_path, frame: pd.DataFrame, task: str, *overrides: str, name: str = "t.csv", **to_file):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, **to_file)
    cfg = compose(
        f"task={task}", "data=csv" if not name.endswith(".parquet") else "data=parquet", f"data.path={path}", *overrides
    )
    return build_data(cfg.data, task)


# ---------------------------------------------------------------- every task


def test_multiclass_from_a_text_column(tmp_path):
    data = load(tmp_path, make_table(), "multiclass", "data.target=species", NOT_FEATURES)
    assert data.class_names == ["setosa", "versicolor", "virginica"] and data.num_outputs == 3
    assert data.train.y.dtype == torch.long and data.kind == "table"
    # 2 numeric + 3 one-hot colours + 1 boolean (numeric) = 6 features; 70/15/15 of 120 rows.
    assert data.input_shape == (6,) and (len(data.train), len(data.val), len(data.test)) == (84, 18, 18)


def test_multiclass_from_an_integer_column_maps_sorted_values_to_indices(tmp_path):
    frame = make_table()
    data = load(tmp_path, frame, "multiclass", "data.target=digit", NOT_FEATURES)
    assert data.class_names == ["3", "4", "5", "6"]
    all_y = torch.cat([data.train.y, data.val.y, data.test.y])
    assert sorted(all_y.tolist()) == sorted((frame.digit - 3).tolist())


def test_binary_from_0_1_or_from_two_text_values(tmp_path):
    frame = make_table()
    data = load(tmp_path, frame, "binary", "data.target=sick", NOT_FEATURES)
    assert data.num_outputs == 1 and data.train.y.dtype == torch.float32 and data.class_names == ["0", "1"]
    text = load(tmp_path, frame, "binary", "data.target=answer", NOT_FEATURES)
    assert text.class_names == ["no", "yes"]  # the second in sorted order is the positive class
    torch.testing.assert_close(text.train.y, data.train.y)  # same seeded split, yes <=> sick


def test_multilabel_from_0_1_columns_or_one_delimited_column(tmp_path):
    frame = make_table()
    cols = load(tmp_path, frame, "multilabel", "data.target=[cat,dog]", NOT_FEATURES)
    assert cols.class_names == ["cat", "dog"] and cols.train.y.shape == (84, 2)
    joined = load(tmp_path, frame, "multilabel", "data.target=tags", "data.delimiter='|'", NOT_FEATURES)
    assert joined.class_names == ["cat", "dog"]  # empty cells (no label) are rows of zeros
    torch.testing.assert_close(joined.train.y, cols.train.y)


def test_regression_target_standardised_with_train_statistics(tmp_path):
    frame = make_table()
    data = load(tmp_path, frame, "regression", "data.target=price", NOT_FEATURES)
    raw_train = data.train.y * data.target_std + data.target_mean
    assert abs(float(data.train.y.mean())) < 1e-5 and abs(float(data.train.y.std(unbiased=False)) - 1) < 1e-4
    gaps = np.abs(raw_train.numpy()[:, None] - frame.price.to_numpy()[None, :]).min(axis=1)
    assert gaps.max() < 1e-3  # undoing the scaling gives back the file's prices


def test_count_target_stays_raw(tmp_path):
    frame = make_table()
    data = load(tmp_path, frame, "count", "data.target=visits", NOT_FEATURES)
    all_y = torch.cat([data.train.y, data.val.y, data.test.y])
    assert sorted(all_y.tolist()) == sorted(frame.visits.astype(float).tolist())


# ---------------------------------------------------------------- features and splits


def test_numeric_features_use_train_statistics_and_categories_are_one_hot(tmp_path):
    frame = make_table()
    frame.loc[frame.index[-1], "color"] = "purple"  # only in the last row, whichever split it lands in
    frame["split"] = ["train"] * 80 + ["val"] * 20 + ["test"] * 20
    data = load(tmp_path, frame, "binary", "data.target=sick", NOT_FEATURES, "data.split_column=split")
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 20)
    train_raw = frame.x1.to_numpy()[:80]
    mean, std = train_raw.mean(), train_raw.std()
    # Column 0 is x1 standardised with the train rows' mean and std, also in val and test.
    np.testing.assert_allclose(data.val.x[:, 0].numpy(), (frame.x1.to_numpy()[80:100] - mean) / std, rtol=1e-5)
    # One-hot colours (blue, green, red from the train split); "purple" was never seen in training: all zeros.
    onehot = data.test.x[:, 3:6]
    assert onehot[-1].abs().sum() == 0 and bool((onehot[:-1].sum(1) == 1).all())


def test_split_column_accepts_only_train_val_test(tmp_path):
    frame = make_table()
    frame["split"] = ["train"] * 100 + ["holdout"] * 20
    with pytest.raises(UserError, match=r"train, val or test; found \['holdout'\]"):
        load(tmp_path, frame, "binary", "data.target=sick", NOT_FEATURES, "data.split_column=split")


def test_tsv_and_reader_options(tmp_path):
    frame = make_table()
    (tmp_path / "t.tsv").write_text(frame.to_csv(sep="\t", index=False))
    cfg = compose("task=binary", "data=csv", f"data.path={tmp_path / 't.tsv'}", "data.target=sick", NOT_FEATURES)
    assert build_data(cfg.data, "binary").input_shape == (6,)
    semi = load(tmp_path, frame, "binary", "data.target=sick", NOT_FEATURES, "+data.options.sep=';'", sep=";")
    assert semi.input_shape == (6,)


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow is not installed")
def test_parquet(tmp_path):
    data = load(tmp_path, make_table(), "multiclass", "data.target=species", NOT_FEATURES, name="t.parquet")
    assert data.num_outputs == 3


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "task, overrides, change, message",
    [
        ("binary", ["data.target=nope"], None, r"no column 'nope' in the table\. Columns: x1, x2, color"),
        ("binary", ["data.target=sick", "data.drop=[ghost]"], None, r"data\.drop: no column 'ghost'"),
        ("binary", ["data.target=species"], None, r"exactly two values; column 'species' has 3"),
        ("multilabel", ["data.target=[cat,x2]"], None, r"labels out of range: .* column 'x2' also has 2, 3"),
        ("multilabel", ["data.target=tags"], None, r"data\.delimiter"),
        ("multiclass", ["data.target=x1"], None, r"fractional values .* task=regression"),
        ("regression", ["data.target=species"], None, r"numeric target; column 'species' holds text"),
        ("regression", ["data.target=[price,x1]"], None, r"one target column"),
        ("count", ["data.target=x1"], None, r"non-negative integer counts"),
        ("binary", ["data.target=sick"], None, r"'id' holds text with 120 distinct values .* data\.drop=\[id\]"),
        ("binary", ["data.target=sick", NOT_FEATURES], "nan", r"'x1' has 1 missing \(NaN\) or infinite values"),
        ("binary", ["data.target=sick", NOT_FEATURES], "inf", r"'x2' has 1 missing \(NaN\) or infinite values"),
        ("binary", ["data.target=sick", NOT_FEATURES], "marker", r"'x2' is numeric except for values such as \['\?'\]"),
        ("binary", ["data.target=sick", NOT_FEATURES], "nan_target", r"target column 'sick' has 1 missing values"),
    ],
)
def test_clear_errors(tmp_path, task, overrides, change, message):
    frame = make_table()
    if change == "nan":
        frame.loc[7, "x1"] = np.nan
    elif change == "inf":
        frame["x2"] = frame.x2.astype(float)
        frame.loc[7, "x2"] = np.inf
    elif change == "marker":
        frame["x2"] = frame.x2.astype(str)
        frame.loc[7, "x2"] = "?"
    elif change == "nan_target":
        frame["sick"] = frame.sick.astype(float)
        frame.loc[3, "sick"] = np.nan
    with pytest.raises(UserError, match=message):
        load(tmp_path, frame, task, *overrides)


def test_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose("task=binary", "data=csv", "data.path=missing.csv", "data.target=y")
    with pytest.raises(UserError, match=f"looked for {tmp_path / 'missing.csv'}"):
        build_data(cfg.data, "binary")
    with pytest.raises(UserError, match=r"needs data\.path"):
        build_data(compose("task=binary", "data=csv").data, "binary")


def test_cli_trains_on_a_csv_and_reports_errors_without_traceback(tmp_path):
    path = tmp_path / "t.csv"
    make_table(200).to_csv(path, index=False)
    common = ("task=binary", "data=csv", f"data.path={path}", NOT_FEATURES, "trainer.max_epochs=6", "optim.lr=0.03")
    ok = run_cli(*common, "data.target=sick", f"hydra.run.dir={tmp_path / 'run'}")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert read_metrics(tmp_path / "run")["test/acc"] >= 0.85  # sick = (x1 > 5) is learnable from x1
    bad = run_cli(*common, "data.target=species", f"hydra.run.dir={tmp_path / 'bad'}")
    assert bad.returncode == 2 and bad.stderr.startswith("error: task=binary needs a target with exactly two")
    assert "Traceback" not in bad.stderr
