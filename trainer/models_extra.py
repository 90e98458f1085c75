"""Models for the embedding and sequence tasks; importing this module registers them in ``MODELS``.

- ``embed_cnn``: the small CNN whose output is an embedding of ``model.embedding_dim`` values
  (the embedding width is the model's own choice, not the number of classes), optionally
  L2-normalised (``model.l2_normalize``).
- ``seq_cnn``: a CNN that reads a strip column by column into per-time-step class scores (N, T, out)
  for CTC, with T = W / 2.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .errors import UserError
from .models import MODELS, SmallCNN, conv_block


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


def _images_only(name: str, input_shape: tuple[int, ...]) -> None:
    if len(input_shape) != 3:
        raise UserError(f"model {name!r} needs images (C, H, W), but the data has shape {input_shape}")


def _embed_cnn(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    # The embedding width is model.embedding_dim; out_features (the number of classes) is not used.
    _images_only("embed_cnn", input_shape)
    if cfg.embedding_dim < 1:
        raise UserError(f"model.embedding_dim must be >= 1, got {cfg.embedding_dim}")
    cnn = SmallCNN(input_shape, cfg.embedding_dim, list(cfg.channels), list(cfg.hidden), cfg.dropout)
    return EmbeddingCNN(cnn, cfg.l2_normalize)


def _seq_cnn(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    _images_only("seq_cnn", input_shape)
    return SequenceCNN(input_shape, out_features, list(cfg.channels), list(cfg.hidden), cfg.dropout)


MODELS["embed_cnn"] = _embed_cnn
MODELS["seq_cnn"] = _seq_cnn
