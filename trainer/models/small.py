"""The small models: an MLP for tables, small CNNs for digit images, strips and embeddings.

- ``mlp``: fully connected ReLU network.
- ``cnn``: conv blocks (two 3x3 convs, batch norm, ReLU, 2x2 max-pool), then an MLP head.
- ``embed_cnn``: the small CNN whose output is an embedding of ``model.embedding_dim`` values
  (the embedding width is the model's own choice, not the number of classes), optionally
  L2-normalised (``model.l2_normalize``).
- ``seq_cnn``: a CNN that reads a strip column by column into per-time-step class scores (N, T, out)
  for CTC, with T = W / 2.

Each builder takes (options, input shape, output size): the input is sized from the data and the
output from the loss's head, so the user never types a shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..registry import MODELS
from ..schema import option


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


class EmbeddingCNN(nn.Module):
    """SmallCNN -> (N, embedding_dim) embeddings, L2-normalised when ``normalize``."""

    def __init__(self, cnn: SmallCNN, normalize: bool) -> None:
        super().__init__()
        self.cnn = cnn
        self.normalize = normalize

    def forward(self, x: Tensor) -> Tensor:
        z = self.cnn(x)
        return F.normalize(z, dim=-1) if self.normalize else z


class SequenceCNN(nn.Module):
    """Conv blocks, then a 1-D conv over the columns: images (N, C, H, W) -> scores (N, W / 2, out).

    Each block halves the height; only the first also halves the width, so an 8-pixel digit spans
    4 time steps, enough for CTC to put a blank between two equal digits.
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
        for i, c in enumerate(channels):
            blocks += conv_block(in_channels, c)
            pool_w = 2 if i == 0 and width >= 2 else 1
            pool_h = 2 if height >= 2 else 1
            if pool_h > 1 or pool_w > 1:
                blocks.append(nn.MaxPool2d((pool_h, pool_w)))
                height, width = height // pool_h, width // pool_w
            in_channels = c
        self.features = nn.Sequential(*blocks)
        width_hidden = hidden[0] if hidden else 128
        # Each time step sees its own column and its neighbours (kernel 3 over time).
        self.head = nn.Sequential(
            nn.Conv1d(in_channels * height, width_hidden, 3, padding=1),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(width_hidden, out_features, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        features = self.features(x)  # (N, C, H', T)
        columns = features.flatten(1, 2)  # (N, C * H', T)
        return self.head(columns).transpose(1, 2)  # (N, T, out)


# ---------------------------------------------------------------- options and builders


@dataclass
class MLPConfig:
    name: str = "mlp"
    hidden: list[int] = option(help="widths of the hidden layers", factory=lambda: [128, 64])
    dropout: float = option(0.1, "dropout after each hidden layer")


@dataclass
class CNNConfig:
    name: str = "cnn"
    channels: list[int] = option(
        help="channels of each conv block (two 3x3 convs, then a 2x2 max-pool)", factory=lambda: [32, 64]
    )
    hidden: list[int] = option(help="width of the head's hidden layer (its first entry)", factory=lambda: [128])
    dropout: float = option(0.1, "dropout in the head")


@dataclass
class EmbedCNNConfig(CNNConfig):
    name: str = "embed_cnn"
    embedding_dim: int = option(32, "size of the embedding the model outputs")
    l2_normalize: bool = option(False, "put the embeddings on the unit sphere")


@dataclass
class SeqCNNConfig(CNNConfig):
    name: str = "seq_cnn"


def _images_only(name: str, input_shape: tuple[int, ...]) -> None:
    if len(input_shape) != 3:
        raise UserError(f"model {name!r} needs images (C, H, W), but the data has shape {input_shape}; use model=mlp")


@MODELS.register("mlp", schema=MLPConfig)
def mlp(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    return MLP(int(torch.Size(input_shape).numel()), out_features, list(cfg.hidden), cfg.dropout)


@MODELS.register("cnn", schema=CNNConfig)
def cnn(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    _images_only("cnn", input_shape)
    return SmallCNN(input_shape, out_features, list(cfg.channels), list(cfg.hidden), cfg.dropout)


@MODELS.register("embed_cnn", schema=EmbedCNNConfig)
def embed_cnn(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    # The embedding width is model.embedding_dim; out_features (the number of classes) is not used.
    _images_only("embed_cnn", input_shape)
    if cfg.embedding_dim < 1:
        raise UserError(f"model.embedding_dim must be >= 1, got {cfg.embedding_dim}")
    net = SmallCNN(input_shape, cfg.embedding_dim, list(cfg.channels), list(cfg.hidden), cfg.dropout)
    return EmbeddingCNN(net, cfg.l2_normalize)


@MODELS.register("seq_cnn", schema=SeqCNNConfig)
def seq_cnn(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    _images_only("seq_cnn", input_shape)
    return SequenceCNN(input_shape, out_features, list(cfg.channels), list(cfg.hidden), cfg.dropout)
