"""Models for 1-D signals (N, C, L), the ones MNIST-1D's paper compares (Greydanus & Kobak, "Scaling down
deep learning with MNIST-1D", ICML 2024; its ``notebooks/models.py``, trained in
``notebooks/mnist1d-classification.ipynb``):

- ``linear``: logistic regression, flatten + one linear layer (the paper's ``LinearBase``, 410 weights
  for 40 points and 10 classes).
- ``cnn1d``: strided 1-D convolutions with ReLU, flattened into one linear layer (``ConvBase``:
  25 channels, kernels 5, 3, 3, stride 2, padding 1; 40 -> 19 -> 10 -> 5 points, 5210 weights).
- ``gru``: a bidirectional GRU reading the L points as a sequence of C-vectors, every step's state
  flattened into one linear layer (``GRUBase``: hidden size 6, 40 steps, 5134 weights).

The paper's MLP (``MLPBase``: two hidden layers of 100, the second with a skip connection) is closest
to ``model=mlp model.hidden=[100,100] model.dropout=0`` (trainer/models/small.py, no skip connection).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import UserError
from ..registry import MODELS
from ..schema import option


def _signals_only(name: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, length) of signal data, or a UserError naming the models for other data."""
    if len(input_shape) != 2:
        raise UserError(
            f"model {name!r} needs signals (C, L) such as data=mnist1d's (1, 40), but the data has shape "
            f"{tuple(input_shape)}; use model=cnn for images, model=mlp or model=linear for tables"
        )
    return int(input_shape[0]), int(input_shape[1])


class CNN1D(nn.Module):
    """Per layer ``h = relu(conv1d(h, kernel k_i, stride s, padding p))``, then ``out = W flatten(h) + b``.

    The paper's ConvBase: no pooling and no normalisation, the strides alone shrink the signal,
    L_{i+1} = floor((L_i + 2p - k_i) / s) + 1.
    """

    def __init__(
        self,
        in_shape: tuple[int, int],
        out_features: int,
        channels: list[int],
        kernel_sizes: list[int],
        stride: int,
        padding: int,
    ) -> None:
        super().__init__()
        in_channels, length = in_shape
        layers: list[nn.Module] = []
        for c, k in zip(channels, kernel_sizes):
            layers += [nn.Conv1d(in_channels, c, k, stride=stride, padding=padding), nn.ReLU()]
            length = (length + 2 * padding - k) // stride + 1
            if length < 1:
                raise UserError(
                    f"model=cnn1d: after {len(layers) // 2} conv layers the signal of {in_shape[1]} points has "
                    "no points left; use fewer model.channels, smaller model.kernel_sizes or model.stride"
                )
            in_channels = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(in_channels * length, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))


class GRUClassifier(nn.Module):
    """``h_1..h_L = GRU(x_1..x_L)`` over the L points (each a C-vector), ``out = W [h_1; ...; h_L] + b``.

    The paper's GRUBase: bidirectional, zero initial state, the states of every step (not only the
    last) go to the linear layer, so it sees where along the signal each feature occurred.
    """

    def __init__(
        self, in_shape: tuple[int, int], out_features: int, hidden_size: int, num_layers: int, bidirectional: bool
    ) -> None:
        super().__init__()
        channels, steps = in_shape
        self.gru = nn.GRU(channels, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(steps * hidden_size * (2 if bidirectional else 1), out_features)

    def forward(self, x: Tensor) -> Tensor:
        states, _ = self.gru(x.transpose(1, 2))  # (N, C, L) -> (N, L, C) -> states (N, L, D * H)
        return self.head(states.flatten(1))


# ---------------------------------------------------------------- options and builders


@dataclass
class LinearConfig:
    name: str = "linear"


@dataclass
class CNN1DConfig:
    name: str = "cnn1d"
    channels: list[int] = option(help="output channels of each conv layer", factory=lambda: [25, 25, 25])
    kernel_sizes: list[int] = option(
        help="kernel size of each conv layer (one per channels entry)", factory=lambda: [5, 3, 3]
    )
    stride: int = option(2, "stride of every conv layer")
    padding: int = option(1, "zero padding at both ends, every conv layer")


@dataclass
class GRUConfig:
    name: str = "gru"
    hidden_size: int = option(6, "GRU state size per direction")
    num_layers: int = option(1, "stacked GRU layers")
    bidirectional: bool = option(True, "read the signal in both directions")


@MODELS.register("linear", schema=LinearConfig)
def linear(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    """Logistic regression (with a softmax loss): ``out = W flatten(x) + b``, the paper's LinearBase."""
    return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.Size(input_shape).numel()), out_features))


@MODELS.register("cnn1d", schema=CNN1DConfig)
def cnn1d(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    """The paper's 1-D CNN (ConvBase): 25 channels, kernels 5, 3, 3, stride 2, padding 1, then one linear layer."""
    shape = _signals_only("cnn1d", input_shape)
    channels, kernels = list(cfg.channels), list(cfg.kernel_sizes)
    if not channels or len(channels) != len(kernels):
        raise UserError(
            f"model.channels ({channels}) and model.kernel_sizes ({kernels}) need one entry per conv layer, "
            "the same number of each"
        )
    if min(channels + kernels) < 1 or cfg.stride < 1 or cfg.padding < 0:
        raise UserError(
            f"model=cnn1d needs channels and kernel sizes >= 1, stride >= 1 and padding >= 0; got channels "
            f"{channels}, kernel_sizes {kernels}, stride {cfg.stride}, padding {cfg.padding}"
        )
    return CNN1D(shape, out_features, channels, kernels, cfg.stride, cfg.padding)


@MODELS.register("gru", schema=GRUConfig)
def gru(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    """The paper's GRU (GRUBase): bidirectional, hidden size 6, every step's state into one linear layer."""
    shape = _signals_only("gru", input_shape)
    if cfg.hidden_size < 1 or cfg.num_layers < 1:
        raise UserError(
            f"model.hidden_size and model.num_layers must be >= 1, got {cfg.hidden_size} and {cfg.num_layers}"
        )
    return GRUClassifier(shape, out_features, cfg.hidden_size, cfg.num_layers, cfg.bidirectional)
