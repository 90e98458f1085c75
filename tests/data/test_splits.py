"""The embedded data and its splits without importing scikit-learn, checked against scikit-learn itself.

Every split losslab makes must stay what sklearn's ``train_test_split`` drew before (results and the
README's tables depend on it), and the bundled files must read as sklearn's loaders read them.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.model_selection import train_test_split

from trainer.data import sklearn_bundled
from trainer.data.bundle import split_indices, standardise
from trainer.data.splits import train_test_indices


def _sklearn(n, fraction, seed, stratify=None):
    return train_test_split(np.arange(n), test_size=fraction, random_state=seed, stratify=stratify)


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
@pytest.mark.parametrize("n,fraction", [(10, 0.3), (97, 0.25), (569, 0.3), (1797, 0.15), (50, 0.02)])
def test_plain_split_draws_the_same_indices_as_sklearn(n, fraction, seed):
    train, test = train_test_indices(n, fraction, seed)
    expected_train, expected_test = _sklearn(n, fraction, seed)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(test, expected_test)


@pytest.mark.parametrize("seed", [0, 3, 2024])
@pytest.mark.parametrize(
    "labels",
    [
        np.repeat([0, 1], [212, 357]),  # breast cancer's class sizes
        np.arange(1797) % 10,  # balanced, 10 classes
        np.repeat([0, 1, 2, 3], [2, 3, 40, 55]),  # tiny classes: remainders decide, ties drawn at random
        np.array(["b", "a", "c"] * 11),  # string labels
        np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 9),  # multi-label rows: one stratum per distinct row
    ],
    ids=["two-classes", "ten-balanced", "tiny-classes", "strings", "multilabel-rows"],
)
def test_stratified_split_draws_the_same_indices_as_sklearn(labels, seed):
    train, test = train_test_indices(len(labels), 0.3, seed, stratify=labels)
    expected_train, expected_test = _sklearn(len(labels), 0.3, seed, stratify=labels)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(test, expected_test)


def test_three_way_split_is_a_stratified_partition():
    labels = np.repeat([0, 1, 2], [30, 60, 90])
    train, val, test = split_indices(len(labels), 0.2, 0.2, seed=5, stratify=labels)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(len(labels)))
    for part, size in ((val, 36), (test, 36)):
        assert len(part) == size
        np.testing.assert_array_equal(np.bincount(labels[part]), [6, 12, 18])  # the class mix of the whole


@pytest.mark.parametrize(
    "labels,fraction,match",
    [
        (np.array([0, 0, 0, 1]), 0.5, "single sample"),
        (np.repeat(np.arange(5), 2), 0.3, "cannot hold all 5 classes"),
        (np.array([0, 1, 0, 1]), 1.0, "would be empty"),
    ],
)
def test_unstratifiable_labels_raise_value_error_where_sklearn_does(labels, fraction, match):
    with pytest.raises(ValueError):
        _sklearn(len(labels), fraction, 0, stratify=labels)
    with pytest.raises(ValueError, match=match):
        train_test_indices(len(labels), fraction, 0, stratify=labels)


def test_bundled_files_read_as_sklearns_loaders_read_them():
    images, labels = sklearn_bundled.digits()
    expected = load_digits()
    np.testing.assert_array_equal(images, expected.images)
    np.testing.assert_array_equal(labels, expected.target)

    x, y, names = sklearn_bundled.breast_cancer()
    expected = load_breast_cancer()
    np.testing.assert_array_equal(x, expected.data)
    np.testing.assert_array_equal(y, expected.target)
    assert names == list(expected.target_names) == ["malignant", "benign"]

    x, y = sklearn_bundled.diabetes()
    expected = load_diabetes(scaled=False)
    np.testing.assert_array_equal(x, expected.data)
    np.testing.assert_array_equal(y, expected.target)
    # losslab standardises the unscaled features; sklearn's scaled ones standardise to the same values.
    ours = standardise(x)[0]
    theirs = standardise(load_diabetes().data)[0]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_loaders_fall_back_to_sklearn_when_the_files_are_not_where_expected(monkeypatch, tmp_path):
    monkeypatch.setattr(sklearn_bundled, "data_folder", lambda: tmp_path)  # an empty folder
    images, labels = sklearn_bundled.digits()
    assert images.shape == (1797, 8, 8) and labels.dtype == np.int64
    x, y, names = sklearn_bundled.breast_cancer()
    assert x.shape == (569, 30) and names == ["malignant", "benign"]
    x, y = sklearn_bundled.diabetes()
    assert x.shape == (442, 10) and y.shape == (442,)
    np.testing.assert_array_equal(x, load_diabetes(scaled=False).data)


def test_a_default_run_builds_its_data_without_importing_sklearn():
    code = (
        "import sys; from omegaconf import OmegaConf; from trainer.data import build_data; "
        "from trainer.data.bundle import SplitConfig; "
        "[build_data(OmegaConf.merge(OmegaConf.structured(SplitConfig), {'name': n}), t) for n, t in "
        "[('digits', 'multiclass'), ('breast_cancer', 'binary'), ('diabetes', 'regression')]]; "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_missing_scikit_learn_is_named_with_the_install_command(monkeypatch):
    from trainer.errors import UserError

    monkeypatch.setattr(sklearn_bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install scikit-learn"):
        sklearn_bundled.digits()
