"""torchvision models: built with weights=None, sized to the data, pretrained weights only from a local file."""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision
from conftest import compose
from torch import nn

from trainer.errors import UserError
from trainer.models import build_model


@functools.cache
def model_cfg(name: str, *overrides: str):
    return compose(f"model={name}", *overrides).model


@pytest.mark.parametrize(
    "name, shape",
    [
        ("resnet18", (1, 16, 16)),
        ("resnet18", (3, 64, 64)),
        ("resnet34", (1, 16, 16)),
        ("resnet50", (3, 16, 16)),
        ("mobilenet_v3_small", (1, 16, 16)),
        ("mobilenet_v3_small", (3, 64, 64)),
    ],
)
def test_models_take_the_datas_channels_and_give_the_heads_outputs(name, shape):
    model = build_model(model_cfg(name), "image", shape, 7)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, *shape)).shape == (2, 7)


def test_small_images_get_the_cifar_stem_and_large_ones_keep_imagenets():
    small = build_model(model_cfg("resnet18"), "image", (1, 28, 28), 10)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1) and small.conv1.in_channels == 1
    assert isinstance(small.maxpool, nn.Identity)
    large = build_model(model_cfg("resnet18"), "image", (3, 64, 64), 10)
    reference = torchvision.models.resnet18(weights=None, num_classes=10)
    assert str(large) == str(reference)  # the stock architecture, only the head sized
    mobile = build_model(model_cfg("mobilenet_v3_small"), "image", (1, 32, 32), 10)
    assert mobile.features[0][0].stride == (1, 1) and mobile.features[0][0].in_channels == 1


def test_tables_are_refused_with_a_hint():
    with pytest.raises(UserError, match="needs images"):
        build_model(model_cfg("resnet18"), "table", (30,), 2)


def test_local_weights_load_where_they_fit_and_the_head_starts_fresh(tmp_path):
    imagenet = torchvision.models.resnet18(weights=None)  # the layout of torchvision's ImageNet weights file
    path = tmp_path / "resnet18.pth"
    torch.save(imagenet.state_dict(), path)

    grey_small = build_model(model_cfg("resnet18", f"model.weights={path}"), "image", (1, 28, 28), 10)
    torch.testing.assert_close(grey_small.layer3[1].conv2.weight, imagenet.layer3[1].conv2.weight)
    torch.testing.assert_close(grey_small.bn1.running_var, imagenet.bn1.running_var)
    assert grey_small.fc.out_features == 10  # a fresh head for 10 classes
    # A 1-channel 7x7 stem (large grey images) gets the RGB filters summed over their input channels.
    grey_large = build_model(model_cfg("resnet18", f"model.weights={path}"), "image", (1, 64, 64), 10)
    torch.testing.assert_close(grey_large.conv1.weight, imagenet.conv1.weight.sum(dim=1, keepdim=True))

    # A losslab checkpoint of a DDP-wrapped model loads too ("model" key, "module." prefixes).
    ckpt = tmp_path / "last.pt"
    torch.save({"model": {f"module.{k}": v for k, v in grey_small.state_dict().items()}, "epoch": 3}, ckpt)
    again = build_model(model_cfg("resnet18", f"model.weights={ckpt}"), "image", (1, 28, 28), 10)
    torch.testing.assert_close(again.fc.weight, grey_small.fc.weight)


def test_bad_weight_files_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        build_model(model_cfg("resnet18", f"model.weights={tmp_path / 'nope.pth'}"), "image", (3, 32, 32), 10)
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="corrupt"):
        build_model(model_cfg("resnet18", f"model.weights={corrupt}"), "image", (3, 32, 32), 10)
    other = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), other)
    with pytest.raises(UserError, match="another architecture"):
        build_model(model_cfg("resnet18", f"model.weights={other}"), "image", (3, 32, 32), 10)
    deeper = tmp_path / "resnet34.pth"  # every resnet18 tensor has a namesake here, but it has more blocks
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), deeper)
    with pytest.raises(UserError, match="another architecture"):
        build_model(model_cfg("resnet18", f"model.weights={deeper}"), "image", (3, 32, 32), 10)
