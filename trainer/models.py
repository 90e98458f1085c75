"""Models sized from the data: an MLP for tables and a small CNN for digit images.

``build_model`` picks by ``model.name`` (``auto`` chooses from the data's kind) and sizes the input
from the data and the output from the loss's head, so the user never types a shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .errors import UserError


class MLP(nn.Module):
    """Fully connected ReLU network for feature vectors (N, F) -> (N, out)."""

    def __init__(self, in_features: int, out_features: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


def conv_block(in_channels: int, channels: int) -> list[nn.Module]:
    """Two 3x3 convolutions, each followed by batch norm and ReLU (the unit of the small CNNs)."""
    return [
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
    ]


class SmallCNN(nn.Module):
    """Conv blocks (two 3x3 convs, batch norm, ReLU, 2x2 max-pool) then an MLP head.

    Made for small images such as the 8x8 digits and strips of them (8 x 8k).
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        out_features: int,
        channels: list[int],
        hidden: list[int],
        dropout: float,
    ) -> None:
        super().__init__()
        in_channels, height, width = in_shape
        blocks: list[nn.Module] = []
        for c in channels:
            blocks += conv_block(in_channels, c)
            if min(height, width) >= 4:  # pool while the feature map is big enough to halve
                blocks.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = c
        self.features = nn.Sequential(*blocks)
        self.head = MLP(in_channels * height * width, out_features, hidden[:1], dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _mlp(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    return MLP(int(torch.Size(input_shape).numel()), out_features, list(cfg.hidden), cfg.dropout)


def _cnn(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    if len(input_shape) != 3:
        raise UserError(f"model 'cnn' needs images (C, H, W), but the data has shape {input_shape}; use model=mlp")
    return SmallCNN(input_shape, out_features, list(cfg.channels), list(cfg.hidden), cfg.dropout)


ModelBuilder = Callable[..., nn.Module]
MODELS: dict[str, ModelBuilder] = {"mlp": _mlp, "cnn": _cnn}
# model=auto: the default model for each kind of data.
AUTO_MODEL = {"image": "cnn", "table": "mlp"}


def build_model(cfg, data_kind: str, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    name = AUTO_MODEL.get(data_kind, "mlp") if cfg.name == "auto" else cfg.name
    if name not in MODELS:
        raise UserError(f"unknown model {cfg.name!r}. Models: auto, {', '.join(sorted(MODELS))}")
    return MODELS[name](cfg, input_shape, out_features)


# The embedding and sequence models live in their own module, which adds them to MODELS on import;
# so do torchvision's image classifiers (vision_models: resnet18/34/50, mobilenet_v3_small).
from . import models_extra, vision_models  # noqa: E402, F401
