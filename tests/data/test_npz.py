"""The user's own arrays (data=npz): every task's targets, inputs scaled with train statistics, splits, clear errors."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose
from omegaconf import OmegaConf

from trainer.data import build_data
from trainer.data.vision import ImageTransform
from trainer.errors import UserError

N = 60
GIVEN = np.array([0] * 40 + [1] * 10 + [2] * 10)  # rows 0-39 train, 40-49 val, 50-59 test


def arrays(n: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, (n, 4))
    return {
        "x": x,
        "animal": rng.permutation(np.repeat(np.array(["eel", "cat", "dog"]), n // 3)),
        "digit": rng.permutation(np.repeat([3, 5, 7], n // 3)),
        "answer": np.where(x[:, 0] > 3, "yes", "no"),
        "tags": rng.integers(0, 2, (n, 3)),
        "price": 3.0 * x[:, 0] + 100.0,
        "visits": rng.poisson(2.0, n),
    }


def save(tmp_path: Path, name: str = "a.npz", **contents: np.ndarray) -> Path:
    path = tmp_path / name
    np.savez(path, **contents)
    return path


@functools.cache
def npz_options():
    """conf/data/npz.yaml as composed; once per module, as composing takes a second on a slow machine."""
    return compose("data=npz").data


def load(path: Path | None, task: str, **options):
    """The bundle for ``task``, as data=npz data.path=<path> and ``options`` (data.<key>=<value>) give it."""
    cfg = OmegaConf.merge(npz_options(), {"path": None if path is None else str(path), **options})
    return build_data(cfg, task)


def all_rows(data) -> list:
    return [data.train, data.val, data.test]


# ---------------------------------------------------------------- targets of every task, seeded splits


def test_multiclass_from_strings_seeded_stratified_and_reproducible(tmp_path):
    a = arrays()
    path = save(tmp_path, x=a["x"], y=a["animal"])
    data = load(path, "multiclass")
    assert data.kind == "table" and data.input_shape == (4,) and data.train.x.dtype == torch.float32
    assert data.class_names == ["cat", "dog", "eel"] and data.num_outputs == 3 and data.train.y.dtype == torch.long
    assert [len(s) for s in all_rows(data)] == [42, 9, 9]  # 70/15/15 of 60
    # Stratified: each class (20 rows) has 14/3/3 rows in train/val/test.
    for split, per_class in zip(all_rows(data), (14, 3, 3)):
        assert torch.bincount(split.y, minlength=3).tolist() == [per_class] * 3
    # The same seed gives the same split; another split_seed another one.
    again = load(path, "multiclass")
    assert torch.equal(again.val.x, data.val.x) and torch.equal(again.val.y, data.val.y)
    assert not torch.equal(load(path, "multiclass", split_seed=1).val.x, data.val.x)


def test_integer_labels_map_to_sorted_indices_and_embedding_takes_them_too(tmp_path):
    a = arrays()
    path = save(tmp_path, x=a["x"], y=a["digit"][:, None], split=GIVEN)  # (N, 1) is one label per row
    for task in ("multiclass", "embedding"):
        data = load(path, task)
        assert data.class_names == ["3", "5", "7"] and data.num_outputs == 3
        assert data.val.y.tolist() == [[3, 5, 7].index(v) for v in a["digit"][40:50]]


def test_binary_maps_the_second_sorted_value_to_1(tmp_path):
    a = arrays()
    data = load(save(tmp_path, x=a["x"], y=a["answer"], split=GIVEN), "binary")
    assert data.num_outputs == 1 and data.class_names == ["no", "yes"] and data.train.y.dtype == torch.float32
    torch.testing.assert_close(data.test.y, torch.from_numpy((a["answer"][50:] == "yes").astype(np.float32)))


def test_multilabel_count_and_sequence_targets(tmp_path):
    a = arrays()
    multilabel = load(save(tmp_path, x=a["x"], y=a["tags"], split=GIVEN), "multilabel")
    assert multilabel.num_outputs == 3 and multilabel.train.y.shape == (40, 3)
    assert multilabel.train.y.dtype == torch.float32
    assert torch.equal(multilabel.val.y, torch.from_numpy(a["tags"][40:50]).float())

    count = load(save(tmp_path, x=a["x"], y=a["visits"], split=GIVEN), "count")
    assert count.train.y.dtype == torch.float32 and count.num_outputs == 1
    assert count.test.y.tolist() == a["visits"][50:].astype(float).tolist()  # raw counts, not scaled

    seq = np.full((N, 4), -1)
    for row in range(N):
        seq[row, : row % 4 + 1] = np.arange(row % 4 + 1) + row % 3  # 1 to 4 labels, classes 0..5
    sequence = load(save(tmp_path, x=a["x"], y=seq, split=GIVEN), "sequence")
    assert sequence.num_outputs == 6 and sequence.train.y.dtype == torch.long
    assert torch.equal(sequence.val.y, torch.from_numpy(seq[40:50]))


def test_regression_target_standardised_with_train_statistics(tmp_path):
    a = arrays()
    data = load(save(tmp_path, x=a["x"], y=a["price"][:, None], split=GIVEN), "regression")
    train_y = a["price"][:40]
    assert data.target_mean == pytest.approx(train_y.mean()) and data.target_std == pytest.approx(train_y.std())
    assert data.val.y.shape == (10,)
    np.testing.assert_allclose(data.val.y.numpy(), (a["price"][40:50] - train_y.mean()) / train_y.std(), rtol=1e-5)


# ---------------------------------------------------------------- inputs and given splits


def test_table_features_standardised_with_train_statistics(tmp_path):
    a = arrays()
    names = np.array(["train"] * 40 + ["val"] * 5 + ["valid"] * 5 + [" Test "] * 10)  # names, any case and padding
    data = load(save(tmp_path, x=a["x"], y=a["animal"], split=names), "multiclass")
    assert [len(s) for s in all_rows(data)] == [40, 10, 10]  # the given split, in file order
    mean, std = a["x"][:40].mean(axis=0), a["x"][:40].std(axis=0)
    np.testing.assert_allclose(data.train.x.numpy(), (a["x"][:40] - mean) / std, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(data.test.x.numpy(), (a["x"][50:] - mean) / std, rtol=1e-4, atol=1e-5)
    assert data.val.y.tolist() == [["cat", "dog", "eel"].index(v) for v in a["animal"][40:50]]


def test_uint8_images_stay_uint8_and_float_images_are_standardised_per_channel(tmp_path):
    rng = np.random.default_rng(1)
    a = arrays()
    grey = rng.integers(0, 256, (N, 6, 5), dtype=np.uint8)  # (N, H, W): a channel is added
    data = load(save(tmp_path, x=grey, y=a["animal"], split=GIVEN), "multiclass")
    assert data.kind == "image" and data.input_shape == (1, 6, 5) and data.train.x.dtype == torch.uint8
    assert isinstance(data.val.transform, ImageTransform)
    assert float(data.train.transform.mean[0]) == pytest.approx(grey[:40].mean() / 255, rel=1e-5)
    batch, _ = data.train.batch(slice(None))
    assert abs(float(batch.mean())) < 1e-5 and abs(float(batch.std(unbiased=False)) - 1) < 1e-4

    colour = rng.normal([[[1.0]], [[5.0]]], [[[1.0]], [[3.0]]], (N, 2, 3, 3))  # channels with their own scales
    data = load(save(tmp_path, x=colour, y=a["animal"], split=GIVEN), "multiclass")
    assert data.kind == "image" and data.input_shape == (2, 3, 3) and data.train.transform is None
    mean, std = colour[:40].mean(axis=(0, 2, 3), keepdims=True), colour[:40].std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(data.val.x.numpy(), ((colour[40:50] - mean) / std), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- errors


def test_missing_and_unreadable_files_say_where_they_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = f"looked for {re.escape(str(tmp_path / 'missing.npz'))}; .* working directory {re.escape(str(tmp_path))}"
    with pytest.raises(UserError, match=missing):
        load(Path("missing.npz"), "multiclass")
    with pytest.raises(UserError, match=r"data=npz needs data\.path=<file\.npz>"):
        load(None, "multiclass")
    (tmp_path / "text.npz").write_text("not numpy")
    with pytest.raises(UserError, match=rf"cannot read {re.escape(str(tmp_path / 'text.npz'))} as an \.npz archive"):
        load(tmp_path / "text.npz", "multiclass")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(UserError, match=r"single array \(\.npy\), not an \.npz archive .* np\.savez"):
        load(tmp_path / "one.npy", "multiclass")


@pytest.mark.parametrize(
    "task, contents, message",
    [
        ("multiclass", {"inputs": "x", "y": "animal"}, r"has no array 'x' \(it has inputs, y\); save the arrays with"),
        ("multiclass", {"x": "x", "labels": "animal"}, r"has no array 'y' \(it has x, labels\)"),
        ("multiclass", {"x": "x", "y": "short"}, r"x has 60 rows but y has 59 .* one row per sample"),
        ("multiclass", {"x": "x", "y": "animal", "split": "bad_names"}, r"train, val or test .* found \['holdout'\]"),
        ("multiclass", {"x": "x", "y": "animal", "split": "bad_codes"}, r"\(or 0, 1, 2\) for every row; found \['3'\]"),
        ("multiclass", {"x": "x", "y": "animal", "split": "no_test"}, r"assigns no row to the 'test' split"),
        ("binary", {"x": "x", "y": "animal"}, r"exactly two values; y has 3: cat, dog, eel\. Use task=multiclass"),
        ("multiclass", {"x": "x", "y": "price"}, r"fractional values such as .* use task=regression"),
        ("multilabel", {"x": "x", "y": "bad_tags"}, r"labels out of range: .* y also has 2"),
        ("multilabel", {"x": "x", "y": "animal"}, r"shape \(N, C\).* task=multiclass"),
        ("regression", {"x": "x", "y": "animal"}, r"needs numeric targets"),
        ("regression", {"x": "x", "y": "tags"}, r"one target per sample.* got \(60, 3\)"),
        ("count", {"x": "x", "y": "negative"}, r"non-negative integer counts, but y has e\.g\. -1"),
        ("sequence", {"x": "x", "y": "early_pad"}, r"rows \[0\] have -1 padding before a label"),
        ("multiclass", {"x": "flat", "y": "animal"}, r"x must be \(N, F\) features .* got shape \(60,\)"),
        ("multiclass", {"x": "nan_x", "y": "animal"}, r"x has 1 NaN or inf values in 1 rows \(first rows \[7\]\)"),
        ("multiclass", {"x": "x", "y": "objects"}, r"cannot be read without pickle .* dtype=str"),
    ],
)
def test_clear_errors(tmp_path, task, contents, message):
    a = arrays()
    seq = np.full((N, 3), -1)
    seq[:, 0] = 1
    seq[0] = [-1, 2, -1]
    nan_x = a["x"].copy()
    nan_x[7, 2] = np.nan
    sources = {
        **a,
        "short": a["animal"][:-1],
        "bad_names": np.array(["train"] * 50 + ["holdout"] * 10),
        "bad_codes": np.array([0] * 40 + [1] * 10 + [3] * 10),
        "no_test": np.array([0] * 50 + [1] * 10),
        "bad_tags": np.where(np.arange(N * 3).reshape(N, 3) == 4, 2, a["tags"]),
        "negative": np.where(np.arange(N) == 3, -1, a["visits"]),
        "early_pad": seq,
        "flat": a["x"][:, 0],
        "nan_x": nan_x,
        "objects": np.array([{"a": 1}] * N, dtype=object),
    }
    path = save(tmp_path, **{key: sources[source] for key, source in contents.items()})
    with pytest.raises(UserError, match=message) as err:
        load(path, task)
    assert "\n" not in str(err.value)  # one line


# ---------------------------------------------------------------- end to end


def test_one_epoch_on_an_npz_table(tmp_path):
    from trainer.train import train

    a = arrays(120)
    path = save(tmp_path, x=a["x"], y=a["answer"])
    cfg = compose(
        "task=binary",
        "data=npz",
        f"data.path={path}",
        "data.batch_size=32",
        "trainer.max_epochs=1",
        "trainer.test=true",
        "trainer.device=cpu",
        "trainer.progress=false",
        "trainer.num_threads=1",
    )
    results = train(cfg, tmp_path / "run")
    assert results["epochs"] == 1 and np.isfinite(results["val/loss"]) and np.isfinite(results["test/loss"])
