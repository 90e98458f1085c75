"""The user's own images: ``data=image_folder data.root=<folder>``, in torchvision's ImageFolder layout.

    <root>/<class>/<image>                       one sub-folder of images per class (any depth below it)
    <root>/train/<class>/<image>                 or given splits: train/, and val/ (or valid/) and test/
    <root>/val/<class>/<image>                   where present; a missing one is carved from train/
    <root>/test/<class>/<image>

Images are files ending in .png, .jpg, .jpeg, .bmp, .gif or .webp (any case); other files, and files
and folders whose names start with a dot, are skipped. Classes are the sorted class folders (of
``train/`` when the splits are given; val/ and test/ may lack some, not add any). Without given
splits, every image goes into one seeded split stratified by class (``data.val_fraction``,
``data.test_fraction``, ``data.split_seed``); a missing val/ or test/ is that fraction of train/.

Each image is decoded with PIL, converted to RGB (``data.grayscale=true``: one grey channel),
resized so its shorter side is ``data.image_size`` and centre-cropped to a square, as CelebA's are
(trainer/data/vision.py). The images are kept as uint8 (N, C, H, W) and normalised per batch on the
device by an :class:`~trainer.data.vision.ImageTransform` with the training split's channel
statistics, with ``data.random_crop_padding`` and ``data.random_flip`` for the training split.

Decoding happens once: the tensors are cached as ``<root>/.losslab_cache/<size>px[_gray].pt``
with a fingerprint of every image's relative path, size and modification time and the image size;
a changed folder rebuilds the cache, and a read-only root decodes on every run (one warning).

Tasks: multiclass and embedding (class indices), and binary when there are exactly two classes
(target 1.0 for the second class in sorted order).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from ..registry import DATASETS
from ..schema import option
from .bundle import DataBundle, SplitConfig, split_indices
from .splits import train_test_indices
from .vision import image_splits

log = logging.getLogger("losslab")

EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp")
CACHE_FOLDER = ".losslab_cache"
SPLITS = ("train", "val", "test")


@dataclass
class ImageFolderConfig(SplitConfig):
    """Options of data=image_folder."""

    root: str | None = option(None, "the folder: one sub-folder of images per class, or train/, val/, test/ of those")
    image_size: int = option(64, "images resized (shorter side) and centre-cropped to this square size")
    grayscale: bool = option(False, "one grey channel instead of RGB")
    random_crop_padding: int = option(0, "training split: random crop of the original size after zero padding")
    random_flip: bool = option(False, "training split: random horizontal flip")


# ---------------------------------------------------------------- the folder's layout


def _root(cfg) -> Path:
    if not cfg.root:
        raise UserError("data=image_folder needs data.root=<folder> holding one sub-folder of images per class")
    root = Path(os.path.expanduser(str(cfg.root)))
    if not root.exists():
        raise UserError(
            f"data.root={cfg.root}: no such folder (looked for {root.resolve()}; "
            f"relative paths are taken from the working directory {Path.cwd()})"
        )
    if not root.is_dir():
        raise UserError(
            f"data.root={cfg.root} is a file, not a folder ({root.resolve()}); point it at a folder with one "
            "sub-folder of images per class"
        )
    return root.resolve()


def _no_images(folder: Path) -> UserError:
    return UserError(
        f"no images in {folder} (accepted extensions: {', '.join(EXTENSIONS)}, any case); add images, or remove "
        "the folder"
    )


def _images_in(folder: Path) -> list[Path]:
    """Image files anywhere below ``folder``, sorted, skipping hidden files and folders."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in filenames if not f.startswith(".") and f.lower().endswith(EXTENSIONS)]
    return sorted(found)


def _class_folders(folder: Path) -> dict[str, list[Path]]:
    """Class name -> its images, for the class sub-folders of ``folder`` (every one must hold images)."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = any(p.is_file() and p.name.lower().endswith(EXTENSIONS) for p in folder.iterdir())
        if loose:
            raise UserError(
                f"the images in {folder} are not in class folders; put each class's images in a sub-folder "
                f"named after the class ({folder}/<class>/<image>)"
            )
        raise _no_images(folder)
    found = {}
    for c in classes:
        images = _images_in(c)
        if not images:
            raise _no_images(c)
        found[c.name] = images
    return found


def _split_folders(root: Path) -> dict[str, Path]:
    """The given split folders (train/ and whichever of val/ or valid/ and test/ exist), or {} for one set."""
    if not (root / "train").is_dir():
        return {}
    folders = {"train": root / "train"}
    val = [root / name for name in ("val", "valid") if (root / name).is_dir()]
    if len(val) > 1:
        raise UserError(f"{root} has both val/ and valid/; keep one validation folder (rename or remove the other)")
    if val:
        folders["val"] = val[0]
    if (root / "test").is_dir():
        folders["test"] = root / "test"
    return folders


def scan(root: Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """The class names and, per part ("train", "val", "test", or "all" for one set), (image, class index)."""
    folders = _split_folders(root) or {"all": root}
    per_part = {part: _class_folders(folder) for part, folder in folders.items()}
    main = "train" if "train" in per_part else "all"
    classes = list(per_part[main])
    if len(classes) < 2:
        raise UserError(
            f"only one class ({classes[0]}) in {folders[main]}; classification needs at least two class "
            "sub-folders, one per class"
        )
    for part, found in per_part.items():
        extra = sorted(set(found) - set(classes))
        if extra:
            raise UserError(
                f"{folders[part]} has class folders that train/ does not: {', '.join(extra)} (train/'s classes: "
                f"{', '.join(classes)}); add them to train/ or remove them from {part}/"
            )
    index = {c: i for i, c in enumerate(classes)}
    parts = {part: [(p, index[c]) for c, images in found.items() for p in images] for part, found in per_part.items()}
    return classes, parts


# ---------------------------------------------------------------- decoding and the cache


def _decode(path: Path, size: int, grayscale: bool) -> Tensor:
    """One image file -> uint8 (C, size, size): shorter side resized to ``size``, then centre-cropped."""
    from PIL import Image
    from torchvision.transforms import functional as TF

    try:
        with Image.open(path) as image:
            image = image.convert("L" if grayscale else "RGB")  # also decodes: a broken file fails here
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
        raise UserError(
            f"cannot decode image {path} ({type(exc).__name__}: {exc}); replace or remove the file"
        ) from None
    image = TF.center_crop(TF.resize(image, size), [size, size])
    return TF.pil_to_tensor(image)


def _decode_all(paths: list[Path], size: int, grayscale: bool) -> Tensor:
    """Every image decoded (threads: PIL releases the GIL while it decodes and resizes)."""
    workers = min(8, os.cpu_count() or 1) if len(paths) > 256 else 1
    if workers == 1:
        images = [_decode(p, size, grayscale) for p in paths]
    else:
        with ThreadPoolExecutor(workers) as pool:
            images = list(pool.map(lambda p: _decode(p, size, grayscale), paths))
    return torch.stack(images)


def fingerprint(root: Path, paths: list[Path], size: int, grayscale: bool) -> str:
    """A hash of every image's relative path, size and modification time, and of the decoded size."""
    entries = []
    for p in paths:
        stat = p.stat()
        entries.append([p.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns])
    text = json.dumps({"size": size, "grayscale": grayscale, "files": entries})
    return hashlib.sha256(text.encode()).hexdigest()


def cache_path(root: Path, size: int, grayscale: bool) -> Path:
    return root / CACHE_FOLDER / f"{size}px{'_gray' if grayscale else ''}.pt"


def load_images(root: Path, paths: list[Path], size: int, grayscale: bool) -> Tensor:
    """uint8 (N, C, size, size) for ``paths``, from the cache when it matches the folder, else decoded (and cached)."""
    from ..train import checkpoint

    cache = cache_path(root, size, grayscale)
    stamp = fingerprint(root, paths, size, grayscale)
    if cache.is_file():
        with contextlib.suppress(Exception):  # a cache cut short or from another version: decode again
            blob = torch.load(cache, map_location="cpu", weights_only=True)
            if blob.get("fingerprint") == stamp and len(blob["images"]) == len(paths):
                return blob["images"]
    images = _decode_all(paths, size, grayscale)
    blob = {"fingerprint": stamp, "paths": [p.relative_to(root).as_posix() for p in paths], "images": images}
    try:
        cache.parent.mkdir(exist_ok=True)
        checkpoint.save_atomic(blob, cache)
    except (OSError, checkpoint.WriteError) as exc:  # a read-only data folder: decode again next time
        log.warning("cannot cache the decoded images in %s (%s); they are decoded again on every run", cache, exc)
    return images


# ---------------------------------------------------------------- splits


def _carve(labels: np.ndarray, fraction: float, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (kept, carved) positions, stratified by label where every class allows it."""
    if not 0 < fraction < 1:
        raise UserError(f"data.{what}_fraction must be in (0, 1), got {fraction}")
    try:
        kept, carved = train_test_indices(len(labels), fraction, seed, stratify=labels)
    except ValueError:  # a class with a single image, or fewer carved images than classes
        try:
            kept, carved = train_test_indices(len(labels), fraction, seed)
        except ValueError as exc:
            raise UserError(
                f"cannot carve a {what} split from {len(labels)} training images: {exc}; add images to train/ "
                f"or give a {what}/ folder"
            ) from None
    return np.sort(kept), np.sort(carved)


def _split_positions(cfg, labels: dict[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
    """Split name -> (part it comes from, positions in that part)."""
    if "all" in labels or ("val" not in labels and "test" not in labels):
        part = "all" if "all" in labels else "train"
        y = labels[part]
        try:
            parts = split_indices(len(y), cfg.val_fraction, cfg.test_fraction, cfg.split_seed, y)
        except ValueError:  # stratification needs >= 2 images per class in every split
            try:
                parts = split_indices(len(y), cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
            except ValueError as exc:
                raise UserError(f"cannot split {len(y)} images into train/val/test: {exc}; add images") from None
        return {s: (part, p) for s, p in zip(SPLITS, parts)}
    out = {s: (s, np.arange(len(labels[s]))) for s in SPLITS if s in labels}
    for missing in (s for s in ("val", "test") if s not in labels):  # at most one: both missing is handled above
        fraction = cfg.val_fraction if missing == "val" else cfg.test_fraction
        kept, carved = _carve(labels["train"], fraction, cfg.split_seed, missing)
        out["train"], out[missing] = ("train", kept), ("train", carved)
    return out


# ---------------------------------------------------------------- the loader


@DATASETS.register("image_folder", tasks=("multiclass", "embedding", "binary"), kind="image", schema=ImageFolderConfig)
def load_image_folder(cfg, task: str) -> DataBundle:
    """A folder of class sub-folders as a DataBundle (see the module docstring)."""
    if cfg.image_size < 8:
        raise UserError(f"data.image_size must be >= 8, got {cfg.image_size}")
    if cfg.random_crop_padding < 0:
        raise UserError(f"data.random_crop_padding must be >= 0, got {cfg.random_crop_padding}")
    root = _root(cfg)
    classes, parts = scan(root)
    if task == "binary" and len(classes) != 2:
        raise UserError(
            f"task=binary needs exactly two classes; {root} has {len(classes)}: {', '.join(classes[:10])}"
            f"{' ...' if len(classes) > 10 else ''}. Use task=multiclass for more classes"
        )
    # One cache for every part: the images in a fixed order (train, val, test or all), cut per part below.
    order = [p for part in parts.values() for p, _ in part]
    images = load_images(root, order, cfg.image_size, cfg.grayscale)
    per_part, start = {}, 0
    for part, entries in parts.items():
        labels = np.array([c for _, c in entries], dtype=np.int64)
        per_part[part] = (images[start : start + len(entries)], labels)
        start += len(entries)

    positions = _split_positions(cfg, {part: labels for part, (_, labels) in per_part.items()})
    xs, ys = {}, {}
    for split, (part, pos) in positions.items():
        x, labels = per_part[part]
        xs[split] = x[torch.from_numpy(pos)]
        ys[split] = labels[pos]
    if task == "binary":  # the second class in sorted order is the positive one
        targets = {s: torch.from_numpy(ys[s] == 1).float() for s in SPLITS}
        num_outputs = 1
    else:
        targets = {s: torch.from_numpy(ys[s]) for s in SPLITS}
        num_outputs = len(classes)
    train, val, test = image_splits(
        [xs[s] for s in SPLITS], [targets[s] for s in SPLITS], cfg.random_crop_padding, cfg.random_flip
    )
    return DataBundle(train, val, test, task=task, kind="image", num_outputs=num_outputs, class_names=classes)
