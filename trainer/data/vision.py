"""torchvision datasets read from disk: MNIST, FashionMNIST, CIFAR-10 and CelebA.

Files are read through the real torchvision
classes (``torchvision.datasets.MNIST`` and friends) from ``data.root``; nothing is downloaded
unless ``data.download=true``. The images are kept as uint8 tensors (N, C, H, W), 4x smaller than
floats (CIFAR-10's 50k training images: 150 MB), and every batch is turned into floats on the
device by an :class:`ImageTransform`:

    x = (x_uint8 / 255 - mean_c) / std_c        mean_c, std_c: per-channel statistics of the training split

with, for the training split only, a random crop after zero padding (``data.random_crop_padding``)
and a random horizontal flip (``data.random_flip``).

Splits: MNIST, FashionMNIST and CIFAR-10 have a train and a test set; the validation split is a
seeded, stratified ``data.val_fraction`` of the train set (seed ``data.split_seed``). CelebA has
its own train/valid/test partition (``list_eval_partition.txt``), used as is. CelebA's 200k JPEGs
are decoded once, resized to ``data.image_size`` (default 64: 2.5 GB as uint8), and cached next to
the data as ``celeba/losslab_<size>px.pt``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UserError
from ..registry import DATASETS
from ..schema import option
from .bundle import DataBundle, DataConfig, Split
from .splits import train_test_indices


@dataclass
class ImageFilesConfig(DataConfig):
    """Options of the image sets read from disk."""

    root: str | None = option("data", "the folder holding the dataset's files")
    download: bool = option(False, "fetch the files into data.root if they are missing")
    random_crop_padding: int = option(0, "training split: random crop of the original size after zero padding")
    random_flip: bool = option(False, "training split: random horizontal flip")


@dataclass
class TorchvisionConfig(ImageFilesConfig):
    """MNIST, Fashion-MNIST, CIFAR-10: the validation split is carved from the train set."""

    val_fraction: float = option(0.1, "fraction of the train set held out for validation (stratified)")


@dataclass
class CelebAConfig(ImageFilesConfig):
    """CelebA: its own train/valid/test partition."""

    image_size: int = option(64, "images resized and centre-cropped to this square size")
    attribute: str | None = option(None, "task=binary: the attribute to predict, by name (e.g. Smiling)")


@dataclass
class ImageTransform:
    """uint8 images (N, C, H, W) -> normalised floats, with optional random crop and flip (batched, on device)."""

    mean: Tensor  # (C,) in [0, 1] units
    std: Tensor  # (C,)
    crop_padding: int = 0
    flip: bool = False

    def to(self, device: torch.device | str) -> ImageTransform:
        return replace(self, mean=self.mean.to(device), std=self.std.to(device))

    def __call__(self, x: Tensor) -> Tensor:
        x = x.float() / 255.0
        if self.crop_padding > 0:
            x = random_crop(x, self.crop_padding)
        if self.flip:
            x = random_hflip(x)
        return (x - self.mean[:, None, None]) / self.std[:, None, None]


def random_crop(x: Tensor, padding: int) -> Tensor:
    """Pad every image with zeros by ``padding`` and crop a random window of the original size (per image)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (N, H): the rows each image keeps
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (N, W)
    x = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * padding))
    return x.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def random_hflip(x: Tensor) -> Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def channel_stats(images: Tensor, chunk: int = 2048) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of uint8 images in [0, 1] units, in float64 chunks (no full float copy)."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].to(torch.float64) / 255.0
        total += part.sum(dim=(0, 2, 3))
        total_sq += part.square().sum(dim=(0, 2, 3))
    count = len(images) * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt()
    return mean.float(), torch.where(std > 0, std, torch.ones_like(std)).float()


def image_splits(images: list[Tensor], targets: list[Tensor], crop_padding: int = 0, flip: bool = False) -> list[Split]:
    """uint8 (train, val, test) images as Splits normalised with the training split's channel statistics;
    the training split also augmented with ``crop_padding`` and ``flip``."""
    mean, std = channel_stats(images[0])
    augmented = ImageTransform(mean, std, crop_padding=crop_padding, flip=flip)
    plain = ImageTransform(mean, std)
    return [Split(x, y, augmented if i == 0 else plain) for i, (x, y) in enumerate(zip(images, targets))]


def carve_validation(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of a train set into (train, val) indices, stratified by label when every class allows it."""
    if not 0 < fraction < 1:
        raise UserError(f"data.val_fraction must be in (0, 1), got {fraction}")
    try:
        train, val = train_test_indices(len(labels), fraction, seed, stratify=labels)
    except ValueError:  # a class with a single sample, or fewer val samples than classes
        train, val = train_test_indices(len(labels), fraction, seed)
    return np.sort(train), np.sort(val)


def _root(cfg) -> Path:
    return Path(os.path.expanduser(cfg.root or "data")).resolve()


def _missing_files_error(
    name: str, root: Path, folder: Path, expected: list[tuple[str, str | None]], exc: Exception, download: bool
) -> UserError:
    """Say which of the files torchvision wants are absent or fail its checksum, and how to get them."""
    from torchvision.datasets.utils import check_integrity

    if download:  # the download itself failed (no network, no gdown for CelebA, ...)
        return UserError(
            f"data.download=true: downloading {name} into {root} failed ({type(exc).__name__}: {exc}). "
            f"Download it by hand into {folder}, or point data.root at a folder that holds it."
        )
    missing = [f for f, _ in expected if not (folder / f).exists()]
    corrupt = [f for f, md5 in expected if (folder / f).exists() and md5 and not check_integrity(str(folder / f), md5)]
    problems = []
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if corrupt:
        problems.append(f"failing torchvision's md5 check: {', '.join(corrupt)}")
    detail = "; ".join(problems) or str(exc)
    return UserError(
        f"{name} is not (completely) in {folder} ({detail}). Set data.download=true to download it into "
        f"data.root={root} (needs internet), or copy the files there, or point data.root at the folder "
        "that holds them."
    )


# ---------------------------------------------------------------- MNIST, FashionMNIST, CIFAR-10


def _mnist_like(cls, root: Path, download: bool) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], list[str]]:
    """(train images, labels), (test images, labels), class names of an MNIST-format set."""
    from torchvision.datasets.utils import extract_archive

    raw = root / cls.__name__ / "raw"
    expected = [os.path.splitext(f)[0] for f, _ in cls.resources]
    # torchvision reads the extracted idx files; extract .gz files that were copied in as they came.
    for f in expected:
        if not (raw / f).exists() and (raw / f"{f}.gz").exists():
            extract_archive(str(raw / f"{f}.gz"), str(raw))
    try:
        sets = [cls(str(root), train=train, download=download) for train in (True, False)]
    except (RuntimeError, OSError, ImportError) as exc:
        raise _missing_files_error(cls.__name__, root, raw, [(f, None) for f in expected], exc, download) from None
    return (
        (sets[0].data[:, None].contiguous(), sets[0].targets.long()),
        (sets[1].data[:, None].contiguous(), sets[1].targets.long()),
        list(sets[0].classes),
    )


def _cifar(cls, root: Path, download: bool) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], list[str]]:
    folder = root / cls.base_folder
    expected = [(f, md5) for f, md5 in cls.train_list + cls.test_list] + [(cls.meta["filename"], cls.meta["md5"])]
    try:
        sets = [cls(str(root), train=train, download=download) for train in (True, False)]
    except (RuntimeError, OSError, ImportError) as exc:
        raise _missing_files_error(cls.__name__, root, folder, expected, exc, download) from None

    def tensors(ds) -> tuple[Tensor, Tensor]:  # HWC numpy -> CHW tensor
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.as_tensor(ds.targets)

    return tensors(sets[0]), tensors(sets[1]), list(sets[0].classes)


def _train_test_bundle(
    cfg,
    task: str,
    loaded: tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], list[str]],
) -> DataBundle:
    """Carve the validation split from the train set, normalise with the train split's statistics."""
    (train_x, train_y), (test_x, test_y), classes = loaded
    tr, va = carve_validation(train_y.numpy(), cfg.val_fraction, cfg.split_seed)
    tr, va = torch.from_numpy(tr), torch.from_numpy(va)
    mean, std = channel_stats(train_x[tr])
    augmented = ImageTransform(mean, std, crop_padding=cfg.random_crop_padding, flip=cfg.random_flip)
    plain = ImageTransform(mean, std)
    train = Split(train_x[tr], train_y[tr], augmented)
    val = Split(train_x[va], train_y[va], plain)
    test = Split(test_x, test_y, plain)
    return DataBundle(train, val, test, task=task, kind="image", num_outputs=len(classes), class_names=classes)


def _check_augmentation(cfg) -> None:
    if cfg.random_crop_padding < 0:
        raise UserError(f"data.random_crop_padding must be >= 0, got {cfg.random_crop_padding}")


def load_mnist(cfg, task: str) -> DataBundle:
    """MNIST: 60k/10k 28x28 grey digits, 10 classes (``<root>/MNIST/raw/*-ubyte``)."""
    from torchvision.datasets import MNIST

    _check_augmentation(cfg)
    return _train_test_bundle(cfg, task, _mnist_like(MNIST, _root(cfg), cfg.download))


def load_fashion_mnist(cfg, task: str) -> DataBundle:
    """Fashion-MNIST: 60k/10k 28x28 grey clothing images, 10 classes (``<root>/FashionMNIST/raw/``)."""
    from torchvision.datasets import FashionMNIST

    _check_augmentation(cfg)
    return _train_test_bundle(cfg, task, _mnist_like(FashionMNIST, _root(cfg), cfg.download))


def load_cifar10(cfg, task: str) -> DataBundle:
    """CIFAR-10: 50k/10k 32x32 colour images, 10 classes (``<root>/cifar-10-batches-py/``)."""
    from torchvision.datasets import CIFAR10

    _check_augmentation(cfg)
    return _train_test_bundle(cfg, task, _cifar(CIFAR10, _root(cfg), cfg.download))


# ---------------------------------------------------------------- CelebA

CELEBA_SPLITS = ("train", "valid", "test")


def _decode_celeba(root: Path, size: int, download: bool) -> dict[str, object]:
    """Decode every CelebA split through torchvision's CelebA into uint8 (N, 3, size, size) and attributes."""
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import CelebA

    resize = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    blob: dict[str, object] = {}
    for split in CELEBA_SPLITS:
        try:
            ds = CelebA(str(root), split=split, target_type="attr", transform=resize, download=download)
        except (RuntimeError, OSError, ImportError) as exc:
            folder = root / CelebA.base_folder
            expected = [(f, md5) for _, md5, f in CelebA.file_list if not f.endswith((".zip", ".7z"))]
            if not (folder / "img_align_celeba").is_dir():
                expected.append(("img_align_celeba/", None))
            raise _missing_files_error("CelebA", root, folder, expected, exc, download) from None
        workers = min(8, os.cpu_count() or 1) if len(ds) > 1000 else 0
        images, attrs = [], []
        try:
            for x, a in DataLoader(ds, batch_size=256, num_workers=workers):
                images.append(x)
                attrs.append(a)
        except OSError as exc:
            raise UserError(f"CelebA: cannot read an image in {root / 'celeba' / 'img_align_celeba'}: {exc}") from None
        blob[split] = torch.cat(images) if images else torch.zeros(0, 3, size, size, dtype=torch.uint8)
        blob[f"{split}_attr"] = torch.cat(attrs).to(torch.uint8) if attrs else torch.zeros(0, 40, dtype=torch.uint8)
        blob["attr_names"] = [n for n in ds.attr_names if n]
    return blob


def _celeba_blob(root: Path, size: int, download: bool) -> dict[str, object]:
    from ..train import checkpoint

    cache = root / "celeba" / f"losslab_{size}px.pt"
    if cache.exists():
        return checkpoint.load(cache)
    blob = _decode_celeba(root, size, download)
    with contextlib.suppress(OSError, checkpoint.WriteError):  # a read-only data folder: decode again next time
        checkpoint.save_atomic(blob, cache)
    return blob


def load_celeba(cfg, task: str) -> DataBundle:
    """CelebA: 40 binary face attributes, as a multi-hot target (multilabel) or one attribute (binary)."""
    _check_augmentation(cfg)
    if cfg.image_size < 8:
        raise UserError(f"data.image_size must be >= 8, got {cfg.image_size}")
    blob = _celeba_blob(_root(cfg), cfg.image_size, cfg.download)
    names: list[str] = list(blob["attr_names"])
    if task == "binary":
        if cfg.attribute not in names:
            import difflib

            close = difflib.get_close_matches(str(cfg.attribute), names, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UserError(
                f"data=celeba with task=binary needs data.attribute=<one of the 40 attributes>, got "
                f"{cfg.attribute!r}.{hint} Attributes: {', '.join(names)}"
            )
        column = names.index(cfg.attribute)
        targets = {s: blob[f"{s}_attr"][:, column].float() for s in CELEBA_SPLITS}
        num_outputs, class_names = 1, [f"not {cfg.attribute}", cfg.attribute]
    else:
        targets = {s: blob[f"{s}_attr"].float() for s in CELEBA_SPLITS}
        num_outputs, class_names = len(names), names
    for s in CELEBA_SPLITS:
        if len(blob[s]) == 0:
            raise UserError(f"CelebA's {s!r} split is empty: list_eval_partition.txt assigns no image to it")
    train, val, test = image_splits(
        [blob[s] for s in CELEBA_SPLITS], [targets[s] for s in CELEBA_SPLITS], cfg.random_crop_padding, cfg.random_flip
    )
    return DataBundle(train, val, test, task=task, kind="image", num_outputs=num_outputs, class_names=class_names)


DATASETS.register("mnist", load_mnist, tasks=("multiclass", "embedding"), kind="image", schema=TorchvisionConfig)
DATASETS.register(
    "fashion_mnist", load_fashion_mnist, tasks=("multiclass", "embedding"), kind="image", schema=TorchvisionConfig
)
DATASETS.register("cifar10", load_cifar10, tasks=("multiclass", "embedding"), kind="image", schema=TorchvisionConfig)
DATASETS.register("celeba", load_celeba, tasks=("multilabel", "binary"), kind="image", schema=CelebAConfig)
