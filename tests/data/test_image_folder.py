"""The user's own images (data=image_folder): layouts, splits, decoding, the cache, and every clear error."""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose
from omegaconf import OmegaConf
from PIL import Image

from trainer.data import build_data
from trainer.data import image_folder as image_folder_module
from trainer.errors import UserError

CLASSES = ("cat", "dog", "eel")


def colour(class_index: int, image_index: int) -> tuple[int, int, int]:
    """Red and blue name the class, green the image: every image is told apart by its pixels."""
    return (40 + 80 * class_index, 5 + 6 * image_index, 200 - 80 * class_index)


def write_folder(folder: Path, per_class: int = 10, classes: tuple[str, ...] = CLASSES, first: int = 0) -> None:
    """``per_class`` small uniform PNGs (5x7) per class folder, green 5 + 6 * index from ``first`` on."""
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(first, first + per_class):
            Image.new("RGB", (5, 7), colour(c, i)).save(folder / name / f"{i:02d}.png")


@functools.cache
def folder_options():
    """conf/data/image_folder.yaml as composed; once per module, as composing takes a second on a slow machine."""
    return compose("data=image_folder").data


def load(root: Path | str | None, task: str = "multiclass", **options):
    """The bundle for ``task``, as data=image_folder data.root=<root> data.image_size=8 and ``options`` give it."""
    given = {"root": None if root is None else str(root), "image_size": 8, **options}
    return build_data(OmegaConf.merge(folder_options(), given), task)


def pixels(split) -> list[tuple[int, int, int]]:
    """The colour at the centre of each image of a split."""
    return [tuple(px) for px in split.x[:, :, 4, 4].tolist()]


# ---------------------------------------------------------------- one folder: a seeded, stratified split


def test_one_folder_is_split_seeded_and_stratified(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")  # other files are skipped
    (tmp_path / "cat" / ".hidden.png").write_bytes(b"")  # so are hidden ones
    Image.new("RGB", (5, 7), colour(1, 10)).save(tmp_path / "dog" / "10.JPEG")  # extensions in any case
    data = load(tmp_path)
    assert data.kind == "image" and data.class_names == list(CLASSES) and data.num_outputs == 3
    assert data.train.x.dtype == torch.uint8 and data.input_shape == (3, 8, 8) and data.train.y.dtype == torch.long
    assert [len(s) for s in (data.train, data.val, data.test)] == [21, 5, 5]  # 70/15/15 of 31
    assert torch.bincount(data.val.y, minlength=3).min() >= 1 and torch.bincount(data.test.y, minlength=3).min() >= 1
    # Each image keeps its class: red names it (JPEG shifts colours a little).
    for split in (data.train, data.val, data.test):
        reds = split.x[:, 0, 4, 4].float()
        assert torch.allclose(reds, 40 + 80 * split.y.float(), atol=4)
    # The same seed gives the same split (here from the cache); another split_seed another one.
    assert pixels(load(tmp_path).val) == pixels(data.val)
    assert pixels(load(tmp_path, split_seed=1).val) != pixels(data.val)
    # Batches are normalised with the training split's channel statistics; only training is augmented.
    x, _ = data.train.batch(slice(None))
    assert x.dtype == torch.float32 and abs(float(x.mean(dim=(0, 2, 3)).abs().max())) < 1e-5
    augmented = load(tmp_path, random_flip=True, random_crop_padding=2)
    assert augmented.train.transform.flip and augmented.train.transform.crop_padding == 2
    assert not augmented.val.transform.flip and augmented.val.transform.crop_padding == 0


def test_images_are_resized_on_the_shorter_side_and_centre_cropped_as_celeba_is(tmp_path):
    from torchvision import transforms

    write_folder(tmp_path, per_class=1, classes=("a", "b"))
    stripes = np.zeros((16, 32, 3), dtype=np.uint8)
    stripes[:, :8, 0] = 255  # red left quarter, blue right quarter: both cropped away
    stripes[:, 8:24, 1] = 255
    stripes[:, 24:, 2] = 255
    Image.fromarray(stripes).save(tmp_path / "a" / "wide.png")
    Image.new("RGB", (3, 9), (9, 99, 199)).save(tmp_path / "b" / "tall.bmp")
    data = load(tmp_path, image_size=8, val_fraction=0.25, test_fraction=0.25)
    every = torch.cat([data.train.x, data.val.x, data.test.x])
    assert every.shape == (4, 3, 8, 8)
    wide = [x for x in every if int(x[1].min()) > 200]
    assert len(wide) == 1 and int(wide[0][0].max()) < 64 and int(wide[0][2].max()) < 64  # the green middle
    celeba = transforms.Compose([transforms.Resize(8), transforms.CenterCrop(8), transforms.PILToTensor()])
    assert torch.equal(wide[0], celeba(Image.open(tmp_path / "a" / "wide.png").convert("RGB")))
    grey = load(tmp_path, image_size=8, val_fraction=0.25, test_fraction=0.25, grayscale=True)
    assert grey.input_shape == (1, 8, 8)
    assert sorted(p.name for p in (tmp_path / ".losslab_cache").iterdir()) == ["8px.pt", "8px_gray.pt"]


# ---------------------------------------------------------------- given splits


def test_given_train_val_test_folders_are_used_as_they_are(tmp_path):
    write_folder(tmp_path / "train", per_class=4)
    write_folder(tmp_path / "valid", per_class=2, first=20, classes=("cat", "dog"))  # valid/ is val/; a class may lack
    write_folder(tmp_path / "test", per_class=3, first=30)
    data = load(tmp_path)
    assert data.class_names == list(CLASSES)
    assert [len(s) for s in (data.train, data.val, data.test)] == [12, 4, 9]
    assert sorted(pixels(data.val)) == sorted(colour(c, i) for c in (0, 1) for i in (20, 21))
    assert sorted(pixels(data.test)) == sorted(colour(c, i) for c in range(3) for i in (30, 31, 32))


def test_a_missing_test_or_val_folder_is_carved_from_train(tmp_path):
    write_folder(tmp_path / "train", per_class=10)
    write_folder(tmp_path / "val", per_class=2, first=20)
    data = load(tmp_path)
    assert [len(s) for s in (data.train, data.val, data.test)] == [25, 6, 5]  # test: ceil(0.15 * 30) of train/
    assert torch.bincount(data.test.y, minlength=3).min() >= 1  # stratified
    assert set(pixels(data.test)).isdisjoint(pixels(data.train))
    assert sorted(pixels(data.val)) == sorted(colour(c, i) for c in range(3) for i in (20, 21))
    (tmp_path / "val").rename(tmp_path / "test")  # and a missing val/ likewise
    data = load(tmp_path)
    assert [len(s) for s in (data.train, data.val, data.test)] == [25, 5, 6]
    assert sorted(pixels(data.test)) == sorted(colour(c, i) for c in range(3) for i in (20, 21))


def test_binary_with_two_classes(tmp_path):
    write_folder(tmp_path, per_class=6, classes=("no", "yes"))
    data = load(tmp_path, "binary")
    assert data.num_outputs == 1 and data.class_names == ["no", "yes"] and data.train.y.dtype == torch.float32
    reds = data.train.x[:, 0, 4, 4]
    assert torch.equal(data.train.y, (reds > 80).float())  # "yes", the second class, is 1


# ---------------------------------------------------------------- the cache


def test_cache_is_written_reused_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch):
    write_folder(tmp_path, per_class=4)
    first = load(tmp_path)
    assert (tmp_path / ".losslab_cache" / "8px.pt").is_file()
    real_decode = image_folder_module._decode

    def refuse(path, size, grayscale):
        raise AssertionError(f"decoded {path} again although the cache is up to date")

    monkeypatch.setattr(image_folder_module, "_decode", refuse)
    assert pixels(load(tmp_path).val) == pixels(first.val)  # from the cache

    decoded = []

    def counting(path, size, grayscale):
        decoded.append(path)
        return real_decode(path, size, grayscale)

    monkeypatch.setattr(image_folder_module, "_decode", counting)
    changed = tmp_path / "cat" / "00.png"
    Image.new("RGB", (5, 7), (40, 250, 200)).save(changed)
    os.utime(changed, ns=(1, 1))  # the new file's time differs even on coarse-grained file systems
    rebuilt = load(tmp_path)
    assert len(decoded) == 12  # the whole folder, once
    assert (40, 250, 200) in pixels(rebuilt.train) + pixels(rebuilt.val) + pixels(rebuilt.test)
    monkeypatch.setattr(image_folder_module, "_decode", refuse)
    assert pixels(load(tmp_path).train) == pixels(rebuilt.train)  # the rebuilt cache is used


def test_a_root_that_cannot_hold_the_cache_decodes_every_time_with_one_warning(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("losslab"), "disabled", False)  # whatever an earlier in-process Hydra did
    write_folder(tmp_path, per_class=3)
    (tmp_path / ".losslab_cache").write_text("a file where the cache folder would go")  # as unwritable, even for root
    with caplog.at_level(logging.WARNING, logger="losslab"):
        data = load(tmp_path)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot cache the decoded images" in warnings[0].getMessage()
    assert len(data.train) + len(data.val) + len(data.test) == 9


# ---------------------------------------------------------------- errors


def test_clear_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    where = f"looked for {re.escape(str(tmp_path / 'nope'))}; .* working directory {re.escape(str(tmp_path))}"

    def expect(message: str, root: Path | str | None, task: str = "multiclass") -> None:
        with pytest.raises(UserError, match=message) as err:
            load(root, task)
        assert "\n" not in str(err.value)  # one line

    expect(where, "nope")
    expect(r"data=image_folder needs data\.root=<folder>", None)
    (tmp_path / "file.png").write_bytes(b"")
    expect(r"data\.root=file\.png is a file, not a folder", "file.png")

    empty = tmp_path / "empty"
    empty.mkdir()
    expect(
        rf"no images in {re.escape(str(empty))} \(accepted extensions: \.bmp, \.gif, \.jpeg, \.jpg, \.png, \.webp",
        empty,
    )
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.new("RGB", (5, 7)).save(loose / "a.png")
    expect(r"not in class folders; put each class's images in a sub-folder", loose)
    write_folder(tmp_path / "one", per_class=3, classes=("cat",))
    expect(r"only one class \(cat\) in .*one; classification needs at least two", tmp_path / "one")
    write_folder(tmp_path / "hollow", per_class=3, classes=("cat",))
    (tmp_path / "hollow" / "dog").mkdir()
    (tmp_path / "hollow" / "dog" / "readme.txt").write_text("no images here")
    expect(rf"no images in {re.escape(str(tmp_path / 'hollow' / 'dog'))} \(accepted extensions", tmp_path / "hollow")

    write_folder(tmp_path / "three", per_class=3)
    expect(
        r"task=binary needs exactly two classes; .*three has 3: cat, dog, eel\. Use task=multiclass",
        tmp_path / "three",
        "binary",
    )
    write_folder(tmp_path / "splits" / "train", per_class=3, classes=("cat", "dog"))
    write_folder(tmp_path / "splits" / "val", per_class=1, classes=("cat", "bird"))
    expect(r"val has class folders that train/ does not: bird", tmp_path / "splits")
    write_folder(tmp_path / "broken", per_class=3, classes=("cat", "dog"))
    (tmp_path / "broken" / "dog" / "broken.png").write_bytes(b"not a png")
    expect(
        rf"cannot decode image {re.escape(str(tmp_path / 'broken' / 'dog' / 'broken.png'))} .*replace or remove",
        tmp_path / "broken",
    )


# ---------------------------------------------------------------- end to end


def test_one_epoch_on_an_image_folder(tmp_path):
    from trainer.train import train

    write_folder(tmp_path / "images", per_class=8)
    cfg = compose(
        "task=multiclass",
        "data=image_folder",
        f"data.root={tmp_path / 'images'}",
        "data.image_size=8",
        "data.batch_size=16",
        "data.random_flip=true",
        "trainer.max_epochs=1",
        "trainer.test=true",
        "trainer.device=cpu",
        "trainer.progress=false",
        "trainer.num_threads=1",
    )
    results = train(cfg, tmp_path / "run")
    assert results["epochs"] == 1 and np.isfinite(results["val/loss"]) and np.isfinite(results["test/loss"])
