"""scikit-learn's bundled datasets (digits, breast cancer, diabetes), read from its package folder.

scikit-learn ships these as small CSV files inside ``sklearn/datasets/data``. Reading the files
directly, instead of calling ``sklearn.datasets.load_*``, skips importing scikit-learn: about 1 s
(most of it scipy) that every default run would otherwise pay before its first step (README
"Performance"). The arrays are the ones the sklearn loaders return (tests/test_splits.py compares
them); diabetes comes unscaled (``load_diabetes(scaled=False)``), as losslab standardises every
table itself. Should a scikit-learn release move the files, the sklearn loader is used instead.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from .errors import UserError


def data_folder() -> Path:
    """``sklearn/datasets/data`` of the installed scikit-learn, found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "scikit-learn is not installed, and its bundled datasets are losslab's default data: "
            "pip install scikit-learn (or pip install -e . in the losslab checkout)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float64 in 0..16, labels (1797,) int64): ``load_digits().images, .target``."""
    path = data_folder() / "digits.csv.gz"
    if not path.is_file():
        from sklearn.datasets import load_digits

        loaded = load_digits()
        return loaded.images, loaded.target.astype(np.int64)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def breast_cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features (569, 30), labels (569,) with 1 = benign, class names): ``load_breast_cancer()``."""
    path = data_folder() / "breast_cancer.csv"
    if not path.is_file():
        from sklearn.datasets import load_breast_cancer

        loaded = load_breast_cancer()
        return loaded.data, loaded.target.astype(np.int64), list(loaded.target_names)
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().split(",")  # "569,30,malignant,benign"
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64), header[2:]


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    """(features (442, 10) unscaled, target (442,)): ``load_diabetes(scaled=False)``."""
    folder = data_folder()
    data_path, target_path = folder / "diabetes_data_raw.csv.gz", folder / "diabetes_target.csv.gz"
    if not (data_path.is_file() and target_path.is_file()):
        from sklearn.datasets import load_diabetes

        loaded = load_diabetes(scaled=False)
        return loaded.data, loaded.target
    with gzip.open(data_path, "rt", encoding="utf-8") as f:
        data = np.loadtxt(f)
    with gzip.open(target_path, "rt", encoding="utf-8") as f:
        target = np.loadtxt(f)
    return data, target
