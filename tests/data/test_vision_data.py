"""torchvision datasets: tiny files in each set's real on-disk format, read through the real torchvision classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import compose, read_metrics
from vision_files import patch_celeba_md5, patch_cifar_md5, write_celeba, write_cifar10, write_mnist

from trainer.data import build_data
from trainer.data.vision import ImageTransform, random_crop, random_hflip
from trainer.errors import UserError


def bundle(task: str, data: str, root, *overrides: str):
    cfg = compose(f"task={task}", f"data={data}", f"data.root={root}", *overrides)
    return build_data(cfg.data, task)


def test_mnist_idx_files_load_with_a_seeded_stratified_validation_split(tmp_path):
    written = write_mnist(tmp_path, n_train=60, n_test=20)
    data = bundle("multiclass", "mnist", tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (54, 6, 20)  # data.val_fraction=0.1 of 60
    assert data.kind == "image" and data.input_shape == (1, 28, 28) and data.num_outputs == 10
    assert data.train.x.dtype == torch.uint8
    assert torch.equal(data.test.x[:, 0], torch.from_numpy(written["t10k"][0]))
    assert torch.equal(data.test.y, torch.from_numpy(written["t10k"][1]))
    # train + val are exactly the written train images, and the split depends on data.split_seed only.
    seen = torch.cat([data.train.x, data.val.x])[:, 0].flatten(1)
    assert sorted(map(bytes, seen.numpy())) == sorted(map(bytes, written["train"][0].reshape(60, -1)))
    assert torch.equal(bundle("multiclass", "mnist", tmp_path, "seed=5").val.x, data.val.x)
    assert not torch.equal(bundle("multiclass", "mnist", tmp_path, "data.split_seed=1").val.x, data.val.x)
    # Batches come out normalised with the training split's statistics: mean 0, std 1 over that split.
    x, _ = data.train.batch(slice(None))
    assert x.dtype == torch.float32
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std(unbiased=False)) - 1) < 1e-4


def test_fashion_mnist_gz_files_are_extracted_as_torchvision_does(tmp_path):
    write_mnist(tmp_path, "FashionMNIST", gz=True)
    data = bundle("multiclass", "fashion_mnist", tmp_path)
    assert data.class_names[0] == "T-shirt/top" and len(data.test) == 20
    assert (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()


def test_missing_files_say_where_we_looked_and_how_to_download(tmp_path):
    with pytest.raises(UserError) as err:
        bundle("multiclass", "mnist", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "data.download=true" in message


def test_cifar10_pickled_batches_pass_torchvisions_md5_check(tmp_path, monkeypatch):
    sums, images, labels = write_cifar10(tmp_path, per_batch=10)
    # Our tiny files fail the md5 of the real CIFAR-10 files, and the error says so.
    with pytest.raises(UserError, match="md5 check: data_batch_1"):
        bundle("multiclass", "cifar10", tmp_path)
    patch_cifar_md5(monkeypatch, sums)  # torchvision now checks our files against their own checksums
    data = bundle("multiclass", "cifar10", tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (45, 5, 10)
    assert data.input_shape == (3, 32, 32) and data.class_names[:2] == ["airplane", "automobile"]
    # CHW tensors of the HWC pixels as written; train + val are all 50 training images.
    chw = torch.from_numpy(images).permute(0, 3, 1, 2)
    both = torch.cat([data.train.x, data.val.x])
    assert sorted(map(bytes, both.flatten(1).numpy())) == sorted(map(bytes, chw.flatten(1).numpy()))
    assert data.train.transform.crop_padding == 4 and data.train.transform.flip  # conf/data/cifar10.yaml
    assert data.val.transform.crop_padding == 0 and not data.val.transform.flip  # augment training only


def test_celeba_attributes_as_multilabel_or_one_binary_attribute(tmp_path, monkeypatch):
    sums, attrs = write_celeba(tmp_path)
    with pytest.raises(UserError, match="md5 check: list_attr_celeba.txt"):
        bundle("multilabel", "celeba", tmp_path, "data.image_size=16")
    patch_celeba_md5(monkeypatch, sums)
    data = bundle("multilabel", "celeba", tmp_path, "data.image_size=16")
    # CelebA's own partition (8 train, 4 valid, 4 test), images resized to 16x16, attributes -1/1 -> 0/1.
    assert (len(data.train), len(data.val), len(data.test)) == (8, 4, 4)
    assert data.input_shape == (3, 16, 16) and data.num_outputs == 40 and data.class_names[31] == "Smiling"
    assert torch.equal(data.train.y, torch.from_numpy(attrs[:8]).float())

    binary = bundle("binary", "celeba", tmp_path, "data.image_size=16", "data.attribute=Smiling")
    assert binary.num_outputs == 1 and binary.class_names == ["not Smiling", "Smiling"]
    assert torch.equal(binary.test.y, torch.from_numpy(attrs[12:, 31]).float())
    # Bright top half <=> Smiling in the written images; the decoded pixels keep that.
    top = binary.train.x[:, :, :8].float().mean(dim=(1, 2, 3))
    assert torch.equal(top > 128, binary.train.y.bool())

    with pytest.raises(UserError, match="Did you mean Smiling"):
        bundle("binary", "celeba", tmp_path, "data.image_size=16", "data.attribute=smiling")
    # Decoded once, then read from the cache: it no longer needs the JPEGs.
    assert (tmp_path / "celeba" / "losslab_16px.pt").exists()
    for jpg in (tmp_path / "celeba" / "img_align_celeba").iterdir():
        jpg.unlink()
    assert torch.equal(bundle("multilabel", "celeba", tmp_path, "data.image_size=16").val.x, data.val.x)


def test_image_transform_matches_torchvision_normalize():
    from torchvision.transforms.v2 import functional as TF

    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    mean, std = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.3])
    expected = TF.normalize(TF.to_dtype(x, torch.float32, scale=True), mean.tolist(), std.tolist())
    torch.testing.assert_close(ImageTransform(mean, std)(x), expected)


def test_random_crop_is_a_window_of_the_padded_image_and_flip_mirrors():
    torch.manual_seed(0)
    x = torch.rand(16, 2, 6, 7)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    out = random_crop(x, 2)
    offsets = set()
    for i in range(len(x)):
        windows = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(padded[i, :, dy : dy + 6, dx : dx + 7], out[i])
        ]
        assert windows, f"image {i} is not a crop of its padded image"
        offsets.add(windows[0])
    assert len(offsets) > 1  # offsets are drawn per image
    flipped = random_hflip(x)
    mirrored = [torch.equal(f, o.flip(2)) for f, o in zip(flipped, x)]
    assert all(m or torch.equal(f, o) for m, f, o in zip(mirrored, flipped, x)) and 0 < sum(mirrored) < len(x)


@pytest.mark.parametrize(
    "name, task, overrides",
    [
        ("mnist", "multiclass", ["model=cnn"]),
        ("fashion_mnist", "multiclass", ["model=mlp"]),
        ("cifar10", "multiclass", ["model=cnn"]),  # with the random crop and flip of conf/data/cifar10.yaml
        ("celeba", "multilabel", ["model=cnn", "data.image_size=8"]),
        ("celeba", "binary", ["model=mlp", "data.image_size=8", "data.attribute=Smiling"]),
    ],
)
def test_one_epoch_on_each_tiny_dataset(name, task, overrides, tmp_path, monkeypatch):
    from trainer.train import train

    root = tmp_path / "data"
    if name == "mnist":
        write_mnist(root)
    elif name == "fashion_mnist":
        write_mnist(root, "FashionMNIST", gz=True)
    elif name == "cifar10":
        patch_cifar_md5(monkeypatch, write_cifar10(root, per_batch=8)[0])
    else:
        patch_celeba_md5(monkeypatch, write_celeba(root)[0])
    cfg = compose(
        f"task={task}",
        f"data={name}",
        f"data.root={root}",
        "data.batch_size=16",
        "trainer.max_epochs=1",
        "trainer.device=cpu",
        "trainer.progress=false",
        *overrides,
    )
    results = train(cfg, tmp_path / "run")
    assert results["epochs"] == 1 and np.isfinite(results["val/loss"]) and np.isfinite(results["test/loss"])
    assert read_metrics(tmp_path / "run")[f"val/{cfg.task.main_metric}"] == results[f"val/{cfg.task.main_metric}"]
