"""Tiny datasets written in each torchvision dataset's real on-disk format (for tests; nothing is downloaded).

Each writer returns what it wrote so tests can compare; the checksum helpers give the md5s that
torchvision's integrity checks expect of these files (tests patch them in with monkeypatch, so the
real check still runs, against the files written here).
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np

CELEBA_ATTRS = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx (SN3 'Pascal Vincent') format of MNIST: magic 0x0000 08 <ndim>, big-endian dims, uint8 data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20, gz: bool = False, seed=0):
    """<root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; class k images are bright at row k."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, k in enumerate(labels):  # learnable: a bright band whose position is the class
            images[i, 2 * k + 4 : 2 * k + 7, 4:24] = 250
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
        out[prefix] = (images.astype(np.uint8), labels)
    return out


def write_cifar10(root: Path, per_batch: int = 10, seed=0):
    """<root>/cifar-10-batches-py/: data_batch_1..5, test_batch (pickled dicts, rows of 3072 bytes), batches.meta.

    Returns {file name: md5} and the train images (N, 32, 32, 3) and labels as written.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    sums, train_images, train_labels = {}, [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        images = rng.integers(0, 256, size=(per_batch, 3, 32, 32)).astype(np.uint8)
        entry = {"batch_label": name, "labels": labels, "data": images.reshape(per_batch, 3072), "filenames": []}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        sums[name] = md5(folder / name)
        if name != "test_batch":
            train_images.append(images.transpose(0, 2, 3, 1))
            train_labels += labels
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    sums["batches.meta"] = md5(folder / "batches.meta")
    return sums, np.concatenate(train_images), np.array(train_labels)


def patch_cifar_md5(monkeypatch, sums: dict[str, str]) -> None:
    """Make torchvision's CIFAR10 integrity check expect the checksums of the files written here."""
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "train_list", [[f, sums[f]] for f, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[f, sums[f]] for f, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": sums["batches.meta"]})


def write_celeba(root: Path, partition=(0,) * 8 + (1,) * 4 + (2,) * 4, size=(20, 24), seed=0):
    """<root>/celeba/: img_align_celeba/*.jpg and the five list files torchvision reads, as CelebA ships them.

    Attribute 'Smiling' is 1 exactly for images whose top half is bright. Returns {file: md5} and attrs (N, 40).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    n = len(partition)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    attrs = rng.integers(0, 2, size=(n, 40))
    smiling = CELEBA_ATTRS.index("Smiling")
    attrs[:, smiling] = np.arange(n) % 2
    w, h = size
    for name, row in zip(names, attrs):
        pixels = rng.integers(0, 40, size=(h, w, 3)).astype(np.uint8)
        if row[smiling]:
            pixels[: h // 2] = 230
        Image.fromarray(pixels).save(folder / "img_align_celeba" / name, quality=95)

    def lines(rows):
        return "\n".join(rows) + "\n"

    # The real list_attr file: a count, the 40 names (with a trailing space), then -1/1 values padded to width 2.
    attr_rows = [f"{n}", " ".join(CELEBA_ATTRS) + " "]
    attr_rows += [name + " " + " ".join(f"{2 * v - 1:2d}" for v in row) for name, row in zip(names, attrs)]
    files = {
        "list_attr_celeba.txt": lines(attr_rows),
        "identity_CelebA.txt": lines(f"{name} {1000 + i}" for i, name in enumerate(names)),
        "list_bbox_celeba.txt": lines(
            [f"{n}", "image_id x_1 y_1 width height"] + [f"{m}    95   71  226  313" for m in names]
        ),
        "list_landmarks_align_celeba.txt": lines(
            [
                f"{n}",
                "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x "
                "rightmouth_y",
            ]
            + [f"{m} 69  109  106  113   77  142   73  152  108  154" for m in names]
        ),
        "list_eval_partition.txt": lines(f"{m} {p}" for m, p in zip(names, partition)),
    }
    sums = {}
    for fname, text in files.items():
        (folder / fname).write_text(text)
        sums[fname] = md5(folder / fname)
    return sums, attrs


def patch_celeba_md5(monkeypatch, sums: dict[str, str]) -> None:
    from torchvision.datasets import CelebA

    monkeypatch.setattr(CelebA, "file_list", [(fid, sums.get(f, m), f) for fid, m, f in CelebA.file_list])
