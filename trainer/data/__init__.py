"""Datasets, registered in ``trainer.registry.DATASETS`` by the modules gathered here.

    embedded   digits, digit_strips, breast_cancer, diabetes, digit_sequences, counts (no download)
    tables     csv, parquet: the user's own tables
    npz        npz: the user's own arrays, x and y (and optionally split) in one .npz archive
    image_folder  image_folder: the user's own images, one sub-folder per class (torchvision's layout)
    custom     the user's own function returning tensors or Datasets (streamed when they do not fit)
    vision     mnist, fashion_mnist, cifar10, celeba through torchvision, from local files
    mnist1d    mnist1d: MNIST-1D signals (1, 40) from the mnist1d package's generator (no download)

``build_data`` loads one for a task, checks it (``validate``) and applies label noise.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import UserError
from ..registry import DATASETS
from . import custom, embedded, image_folder, mnist1d, npz, tables, vision  # noqa: F401  (each registers its datasets)
from .bundle import DataBundle, Split


def datasets_for(task: str) -> list[str]:
    return DATASETS.names(lambda _, meta: task in meta["tasks"])


def check_serves(name: str, task: str) -> None:
    """A clear error when dataset ``name`` is unknown or cannot serve ``task``."""
    tasks = DATASETS.meta(name)["tasks"]
    if task not in tasks:
        raise UserError(
            f"dataset {name!r} does not serve task {task!r} (it serves {', '.join(tasks)}). "
            f"Datasets for {task!r}: {', '.join(datasets_for(task)) or '(none)'}"
        )


def build_data(cfg, task: str) -> DataBundle:
    """Load dataset ``cfg.name`` for ``task``: checked, re-split into folds, cut to a long tail and
    given label noise where asked, in that order."""
    from ..tasks.label_noise import NOISY_SPLITS, check_label_noise, corrupt_labels
    from .folds import check_folds, refold
    from .long_tail import check_imbalance, cut_long_tail
    from .validate import validate_bundle

    check_serves(cfg.name, task)
    if cfg.batch_size < 1:
        raise UserError(f"data.batch_size must be >= 1, got {cfg.batch_size}")
    check_label_noise(cfg.label_noise, cfg.label_noise_mode, task, list(cfg.label_noise_splits))
    check_folds(cfg.folds, cfg.fold)
    check_imbalance(cfg.imbalance, task)
    bundle = DATASETS.get(cfg.name)(cfg, task)
    validate_bundle(bundle)  # every dataset, built in or the user's own: bad data stops here
    if cfg.folds is not None:
        bundle = refold(bundle, cfg.folds, cfg.fold, cfg.split_seed)
    if cfg.imbalance is not None:
        bundle = cut_long_tail(bundle, cfg.imbalance, cfg.split_seed)
    if not cfg.label_noise:
        return bundle
    noisy = {}
    for split in cfg.label_noise_splits:  # each split its own stream: val's noise does not shift train's
        y = getattr(bundle, split).y
        seed = cfg.split_seed if split == "train" else [cfg.split_seed, NOISY_SPLITS.index(split)]
        labels, _ = corrupt_labels(y, task, cfg.label_noise, cfg.label_noise_mode, bundle.num_outputs, seed)
        noisy[split] = getattr(bundle, split).with_targets(labels)
    return replace(bundle, **noisy)


__all__ = ["DataBundle", "Split", "build_data", "check_serves", "datasets_for"]
