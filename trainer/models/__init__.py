"""Models, registered in ``trainer.registry.MODELS`` by the modules gathered here.

    small    mlp, cnn, embed_cnn, seq_cnn
    signal   linear, cnn1d, gru: MNIST-1D's models for signals (C, L)
    vision   resnet18, resnet34, resnet50, mobilenet_v3_small (torchvision, weights=None)
    custom   the user's own: model=custom model.target=my_models.Net

``model=auto`` takes the default model for the data's kind (``AUTO``); the input is sized from the
data and the output from the loss's head.
"""

from __future__ import annotations

from torch import nn

from ..registry import MODELS
from . import custom, signal, small, vision  # noqa: F401  (each registers its models)

# model=auto: the default model for each kind of data.
AUTO = {"image": "cnn", "table": "mlp", "signal": "cnn1d"}


def resolve_name(name: str, data_kind: str) -> str:
    """The model ``name`` stands for: ``auto`` becomes the default for the data's kind."""
    return AUTO.get(data_kind, "mlp") if name == "auto" else name


def build_model(cfg, data_kind: str, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    from omegaconf import OmegaConf

    spec = OmegaConf.to_container(cfg, resolve=True)
    if custom.is_custom(spec):
        return custom.build(spec, input_shape, out_features)
    return MODELS.get(resolve_name(cfg.name, data_kind))(cfg, input_shape, out_features)


__all__ = ["AUTO", "build_model", "resolve_name"]
