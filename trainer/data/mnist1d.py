"""MNIST-1D (Greydanus & Kobak, "Scaling down deep learning with MNIST-1D", ICML 2024): ``data=mnist1d``.

Ten 1-D digit templates of 12 points, each padded, dilated, scaled, translated, given correlated
and i.i.d. noise, sheared and resampled to 40 points: 5000 signals, 4000 for training and 1000
for the test, 10 classes. The signals come from the ``mnist1d`` package's own generator,

    mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())       (default arguments, seed 42)

which reproduces the paper's published ``mnist1d_data.pkl`` (measured: same labels, signals equal
to 9e-16). Nothing is downloaded: ``mnist1d.data.get_dataset`` (which fetches that file) is never
called. Importing the package (matplotlib, scipy: 8 s) and generating (13 s) take about 20 s on one
core, so the arrays are cached as ``<data.cache_dir>/<hash>.npz`` (:func:`cache_path`) and later runs
load them in milliseconds without importing the package. The generator seeds NumPy's and
Python's global random state; both are put back as they were.

Splits: the paper's 1000 test signals are the test split; the validation split is a seeded
(``data.split_seed``), stratified ``data.val_fraction`` of the 4000 training signals (default 0.1:
3600 / 400 / 1000). Inputs are (N, 1, 40), channels first (``kind="signal"``: ``model=auto`` is
``cnn1d``), standardised with the training split's mean and std over samples and positions

    x = (x_raw - mean_train) / std_train

(one scalar pair, as images are per channel: per-position statistics would rescale each position
differently, a distortion of the signal that a convolution's shared kernel would see).

``data.shuffle_seq=true`` is the paper's spatially shuffled variant (after Zhang et al., 2017):
one fixed permutation of the 40 positions applied to every signal of every split,

    x_shuffled = x[..., perm],      perm = np.random.RandomState(42).permutation(40)

the permutation of the paper's benchmark notebook (``notebooks/mnist1d-classification.ipynb``:
``np.random.seed(42); np.random.permutation(40)``). The package's ``args.shuffle_seq`` draws
another one from the generator's stream; the notebook's is the one behind the paper's numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..registry import DATASETS
from ..schema import option
from .bundle import DataBundle, DataConfig, standardise, tensor_splits
from .vision import carve_validation

log = logging.getLogger("losslab")

NUM_CLASSES = 10
SEQ_LENGTH = 40
# The seed of the paper's benchmark notebook, np.random.seed(42), before it draws the shuffle.
SHUFFLE_SEED = 42
ARRAYS = ("x", "y", "x_test", "y_test")


@dataclass
class MNIST1DConfig(DataConfig):
    """Options of data=mnist1d: the paper's own train/test split, validation carved from train."""

    val_fraction: float = option(0.1, "fraction of the 4000 training signals held out for validation (stratified)")
    shuffle_seq: bool = option(False, "the paper's spatially shuffled variant: one fixed permutation of the 40 points")
    cache_dir: str | None = option(
        None, "folder of the generated arrays (null: $XDG_CACHE_HOME/losslab/mnist1d or ~/.cache/losslab/mnist1d)"
    )


def shuffle_permutation() -> np.ndarray:
    """The fixed permutation of the 40 positions of ``data.shuffle_seq`` (the paper notebook's)."""
    return np.random.RandomState(SHUFFLE_SEED).permutation(SEQ_LENGTH)


# ---------------------------------------------------------------- generating and caching


def package_version() -> str:
    """The installed mnist1d's version (cheap: importing the package itself takes about 8 s)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mnist1d")
    except PackageNotFoundError:
        raise UserError("data=mnist1d needs the mnist1d package: pip install 'mnist1d>=0.0.2'") from None


def cache_dir(cfg) -> Path:
    if cfg.cache_dir:
        return Path(os.path.expanduser(str(cfg.cache_dir)))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "losslab" / "mnist1d"


def cache_path(cfg) -> Path:
    """``<cache_dir>/<hash>.npz``, the hash of the generator's arguments: the package version's defaults.

    Keyed by the version, which fixes what ``get_dataset_args()`` returns, so a cache hit never imports
    the package; the arguments themselves are stored in the file (``args``, JSON) for the record.
    """
    text = json.dumps({"mnist1d": package_version(), "args": "get_dataset_args()"}, sort_keys=True)
    return cache_dir(cfg) / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is absent, cut short or not ours (then it is regenerated)."""
    if not path.is_file():
        return None
    with contextlib.suppress(OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in ARRAYS}
        if arrays["x"].shape[1:] == arrays["x_test"].shape[1:] and len(arrays["x"]) == len(arrays["y"]):
            return arrays
    log.warning("the MNIST-1D cache %s cannot be read; generating the signals again", path)
    return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray], args: dict) -> None:
    """Write atomically (a temporary file renamed over ``path``): two runs starting at once never read half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, **arrays, args=np.array(json.dumps(args, sort_keys=True)))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only or full disk: the run goes on, generating again next time
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        log.warning("cannot cache the MNIST-1D signals in %s (%s); they are generated again on every run", path, exc)


def generate() -> tuple[dict[str, np.ndarray], dict]:
    """The package's ``make_dataset(get_dataset_args())`` (x, y, x_test, y_test) and the arguments, leaving
    NumPy's and Python's global random states as they were."""
    package_version()  # a missing package is a UserError before the import fails
    import mnist1d.data

    args = mnist1d.data.get_dataset_args()
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        dataset = mnist1d.data.make_dataset(args)  # calls set_seed(args.seed): both global generators
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {k: np.asarray(dataset[k]) for k in ARRAYS}, dict(vars(args))


def raw_arrays(cfg) -> dict[str, np.ndarray]:
    """The generator's x (4000, 40), y, x_test (1000, 40), y_test: from the cache, else generated and cached."""
    path = cache_path(cfg)
    arrays = _read_cache(path)
    if arrays is None:
        log.info("generating MNIST-1D (about 20 s, once) into %s", path)
        arrays, args = generate()
        _write_cache(path, arrays, args)
    return arrays


# ---------------------------------------------------------------- the loader


@DATASETS.register("mnist1d", tasks=("multiclass",), kind="signal", schema=MNIST1DConfig)
def load_mnist1d(cfg, task: str) -> DataBundle:
    """MNIST-1D as signals (N, 1, 40): the paper's 4000/1000 train/test, validation carved from train."""
    arrays = raw_arrays(cfg)
    x, y = arrays["x"][:, None], arrays["y"].astype(np.int64)
    train, val = carve_validation(y, cfg.val_fraction, cfg.split_seed)
    xs = standardise(x[train], x[val], arrays["x_test"][:, None], axis=(0, 2))
    if cfg.shuffle_seq:  # after standardising: the statistics do not depend on the order of the positions
        perm = shuffle_permutation()
        xs = [a[..., perm] for a in xs]
    ys = [y[train], y[val], arrays["y_test"].astype(np.int64)]
    splits = tensor_splits(xs, ys, torch.long)
    return DataBundle(
        *splits, task=task, kind="signal", num_outputs=NUM_CLASSES, class_names=[str(i) for i in range(NUM_CLASSES)]
    )
