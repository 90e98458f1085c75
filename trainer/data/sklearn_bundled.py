"""scikit-learn's bundled datasets (digits, breast cancer, diabetes), read from its package folder.

scikit-learn ships these as small CSV files inside ``sklearn/datasets/data``. Reading the files
directly, instead of calling ``sklearn.datasets.load_*``, skips importing scikit-learn: about 1 s
(most of it scipy) that every default run would otherwise pay before its first step (README
"Performance"). The arrays are the ones the sklearn loaders return (tests/data/test_splits.py compares
them); diabetes comes unscaled (``load_diabetes(scaled=False)``), as losslab standardises every
table itself. Should a scikit-learn release move the files, the sklearn loader is used instead.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError


def data_folder() -> Path:
    """``sklearn/datasets/data`` of the installed scikit-learn, found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "scikit-learn is not installed, and its bundled datasets are losslab's default data: "
            "pip install scikit-learn (or pip install -e . in the losslab checkout)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _bundled(*names: str) -> list[Path] | None:
    """The paths of these files in scikit-learn's data folder, or None where any is missing."""
    paths = [data_folder() / name for name in names]
    return paths if all(path.is_file() for path in paths) else None


def _load_gzipped(path: Path, **kwargs: Any) -> np.ndarray:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return np.loadtxt(f, **kwargs)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float64 in 0..16, labels (1797,) int64): ``load_digits().images, .target``."""
    files = _bundled("digits.csv.gz")
    if files is None:
        from sklearn.datasets import load_digits

        loaded = load_digits()
        return loaded.images, loaded.target.astype(np.int64)
    table = _load_gzipped(files[0], delimiter=",")  # 64 pixels, then the label
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def breast_cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features (569, 30), labels (569,) with 1 = benign, class names): ``load_breast_cancer()``."""
    files = _bundled("breast_cancer.csv")
    if files is None:
        from sklearn.datasets import load_breast_cancer

        loaded = load_breast_cancer()
        return loaded.data, loaded.target.astype(np.int64), list(loaded.target_names)
    with files[0].open(encoding="utf-8") as f:
        class_names = f.readline().strip().split(",")[2:]  # "569,30,malignant,benign"
        table = np.loadtxt(f, delimiter=",")  # 30 features, then the label
    return table[:, :-1], table[:, -1].astype(np.int64), class_names


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    """(features (442, 10) unscaled, target (442,)): ``load_diabetes(scaled=False)``."""
    files = _bundled("diabetes_data_raw.csv.gz", "diabetes_target.csv.gz")
    if files is None:
        from sklearn.datasets import load_diabetes

        loaded = load_diabetes(scaled=False)
        return loaded.data, loaded.target
    return _load_gzipped(files[0]), _load_gzipped(files[1])
