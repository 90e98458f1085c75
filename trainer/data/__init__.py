"""Datasets, registered in ``trainer.registry.DATASETS`` by the modules gathered here.

    embedded   digits, digit_strips, breast_cancer, diabetes, digit_sequences, counts (no download)
    tables     csv, parquet: the user's own tables
    npz        npz: the user's own arrays, x and y (and optionally split) in one .npz archive
    image_folder  image_folder: the user's own images, one sub-folder per class (torchvision's layout)
    custom     the user's own function returning tensors or Datasets (streamed when they do not fit)
    vision     mnist, fashion_mnist, cifar10, celeba through torchvision, from local files

``build_data`` loads one for a task, checks it (``validate``) and applies label noise.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import UserError
from ..registry import DATASETS
from . import custom, embedded, image_folder, npz, tables, vision  # noqa: F401  (each registers its datasets)
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
    """Load dataset ``cfg.name`` for ``task``: checked, with its training labels corrupted if asked."""
    from ..tasks.label_noise import check_label_noise, corrupt_labels
    from .validate import validate_bundle

    check_serves(cfg.name, task)
    if cfg.batch_size < 1:
        raise UserError(f"data.batch_size must be >= 1, got {cfg.batch_size}")
    check_label_noise(cfg.label_noise, cfg.label_noise_mode, task)
    bundle = DATASETS.get(cfg.name)(cfg, task)
    validate_bundle(bundle)  # every dataset, built in or the user's own: bad data stops here
    if not cfg.label_noise:
        return bundle
    noisy, _ = corrupt_labels(
        bundle.train.y, task, cfg.label_noise, cfg.label_noise_mode, bundle.num_outputs, cfg.split_seed
    )
    return replace(bundle, train=bundle.train.with_targets(noisy))


__all__ = ["DataBundle", "Split", "build_data", "check_serves", "datasets_for"]
