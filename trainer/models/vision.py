"""torchvision's image classifiers, sized to the data.

``resnet18``, ``resnet34``, ``resnet50`` and ``mobilenet_v3_small`` are built with ``weights=None``
(nothing is downloaded), ``num_classes`` = the loss's head size, and a first convolution that takes
the data's channels. For small images (shorter side under 64 px: MNIST's 28, CIFAR's 32) the
ImageNet stem, which divides the resolution by 4 before the first stage, is replaced as usual for
CIFAR: ResNets get a 3x3 stride-1 first conv and no max-pool, MobileNet a stride-1 first conv.

Pretrained weights only from a local file: ``model.weights=<path>`` (a state_dict such as
torchvision's ``resnet18-f37072fd.pth``, or a losslab checkpoint), read with ``weights_only=True``.
Tensors whose name and shape fit are loaded; the classifier head and a first conv whose shape was
changed for the data start fresh (a 3-channel first conv with the same kernel is summed over its
input channels for 1-channel images); any other mismatch is an error, since the file is then the
weights of another architecture.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError
from ..registry import MODELS
from ..schema import option

log = logging.getLogger("losslab")

SMALL_IMAGE = 64  # images with a shorter side below this get the CIFAR-style stem
# Per architecture: (first conv's weight, prefix of the classifier head): the tensors that may start fresh.
FRESH_OK = {
    "resnet": ("conv1.weight", "fc."),
    "mobilenet": ("features.0.0.weight", "classifier.3."),
}


def _image_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise UserError(f"model {name!r} needs images (C, H, W), but the data has shape {input_shape}; use model=mlp")
    c, h, w = input_shape
    return c, h, w


def _resnet(arch: str) -> Callable[..., nn.Module]:
    def build(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
        import torchvision

        channels, h, w = _image_shape(arch, input_shape)
        model = getattr(torchvision.models, arch)(weights=None, num_classes=out_features)
        if min(h, w) < SMALL_IMAGE:
            model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            model.maxpool = nn.Identity()
        elif channels != 3:
            model.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        if cfg.weights:
            load_weights(model, cfg.weights, "resnet")
        return model

    return build


def _mobilenet_v3_small(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    import torchvision

    channels, h, w = _image_shape("mobilenet_v3_small", input_shape)
    model = torchvision.models.mobilenet_v3_small(weights=None, num_classes=out_features, dropout=cfg.dropout)
    stride = 1 if min(h, w) < SMALL_IMAGE else 2
    if channels != 3 or stride != 2:
        model.features[0][0] = nn.Conv2d(channels, 16, kernel_size=3, stride=stride, padding=1, bias=False)
    if cfg.weights:
        load_weights(model, cfg.weights, "mobilenet")
    return model


def load_weights(model: nn.Module, path: str, family: str) -> None:
    """Load the tensors of a local weights file that fit ``model``; see the module docstring."""
    file = Path(os.path.expanduser(path))
    if not file.is_file():
        raise UserError(f"model.weights={path}: no such file (looked for {file.resolve()})")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise UserError(
            f"model.weights={path} is corrupt or not a PyTorch weights file ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):  # a losslab checkpoint
        state = state["model"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"model.weights={path} is not a state_dict (a dict of tensors)")
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from a DDP-wrapped model

    stem, head = FRESH_OK[family]
    own = model.state_dict()
    fitting: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            continue
        if own[key].shape == value.shape:
            fitting[key] = value
        elif key == stem and own[key].shape[1] == 1 and value.shape[1] == 3 and own[key].shape[2:] == value.shape[2:]:
            fitting[key] = value.sum(dim=1, keepdim=True)  # RGB filters -> one grey filter with the same response
    fresh = [k for k in own if k not in fitting and not k.endswith("num_batches_tracked")]
    misfits = [k for k in fresh if k != stem and not k.startswith(head)] + [k for k in state if k not in own]
    if misfits:
        raise UserError(
            f"model.weights={path} does not fit this {type(model).__name__}: {len(misfits)} tensors are missing, "
            f"extra or of other shapes (e.g. {', '.join(misfits[:3])}). Is it the weights of another architecture?"
        )
    model.load_state_dict(fitting, strict=False)
    log.info("loaded %d tensors from %s; starting fresh: %s", len(fitting), path, ", ".join(fresh) or "none")


@dataclass
class ResNetConfig:
    name: str = "resnet18"
    weights: str | None = option(None, "pretrained weights from a local file (a state_dict or a losslab checkpoint)")


@dataclass
class MobileNetConfig(ResNetConfig):
    name: str = "mobilenet_v3_small"
    dropout: float = option(0.2, "dropout before the classifier's last layer")


for _arch in ("resnet18", "resnet34", "resnet50"):
    MODELS.register(_arch, _resnet(_arch), schema=ResNetConfig)
MODELS.register("mobilenet_v3_small", _mobilenet_v3_small, schema=MobileNetConfig)
