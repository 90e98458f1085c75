"""A user's own model: ``model=custom model.target=my_models.Net`` (or ``_target_: my_models.Net``).

The class is called with the arguments the config sets, plus what the data and the loss decide, for
the constructor arguments of these names that the config leaves unset:

    input_shape    one sample's shape, e.g. (1, 8, 8) for the digits or (30,) for a table
    in_features    the number of values in one sample (the product of input_shape)
    in_channels    an image's channels (image data only)
    out_features   the outputs the loss needs per sample (its head size), also as num_classes

so ``model.target=torchvision.models.resnet18`` works as it is. Before training, one forward pass
of two training samples checks that the output has the shape the loss needs.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import Tensor, nn

from .. import plugins
from ..errors import UserError

CUSTOM = "custom"
HARNESS_ARGUMENTS = ("input_shape", "in_features", "in_channels", "out_features", "num_classes")


def is_custom(spec: dict[str, Any]) -> bool:
    return "_target_" in spec or spec.get("name") == CUSTOM


def resolve(spec: dict[str, Any], key: str = "model") -> tuple[Any, str, dict[str, Any]]:
    """(the user's class or module, its dotted name, its arguments) for a custom model config."""
    spec = dict(spec)
    spec.pop("name", None)
    target_key = "_target_" if "_target_" in spec else "target"
    dotted = spec.pop(target_key, None)
    spec.pop("target" if target_key == "_target_" else "_target_", None)
    if not dotted:
        raise UserError(f"{key}=custom needs {key}.target=<module.Class>, e.g. {key}.target=my_models.Net")
    obj = plugins.provided("model", dotted)  # an object handed to trainer.run(model=...)
    if obj is None:
        obj = plugins.import_target(dotted, f"{key}.{target_key}")
    plugins.check_module_kind(obj, f"{key}.{target_key}", dotted, "model", functions=False)
    if inspect.isclass(obj):
        plugins.check_arguments(obj, spec, f"{key}.{target_key}={dotted}", key, HARNESS_ARGUMENTS)
    elif spec:
        raise UserError(f"{key}.{target_key}={dotted} is a model object, already built: it takes no arguments")
    return obj, dotted, spec


def harness_arguments(input_shape: tuple[int, ...], out_features: int) -> dict[str, Any]:
    values: dict[str, Any] = {
        "input_shape": tuple(input_shape),
        "in_features": math.prod(input_shape),
        "out_features": out_features,
        "num_classes": out_features,
    }
    if len(input_shape) == 3:
        values["in_channels"] = input_shape[0]
    return values


def build(spec: dict[str, Any], input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    obj, dotted, args = resolve(spec)
    if isinstance(obj, nn.Module):
        return obj
    params, _ = plugins.parameters(obj)
    harness = harness_arguments(input_shape, out_features)
    needed = [n for n in HARNESS_ARGUMENTS if n in params and n not in args and n not in harness]
    if needed and params[needed[0]].default is inspect.Parameter.empty:
        raise UserError(
            f"model.target={dotted} needs {needed[0]}, which only image data (N, C, H, W) has; this data's samples "
            f"have shape {tuple(input_shape)}: set model.{needed[0]}=<value> or use a model for this data"
        )
    return plugins.call_with(obj, args, harness)


@torch.no_grad()
def check_output(model: nn.Module, x: Tensor, out_features: int, label: str, loss: str) -> None:
    """One forward pass of a small batch ``x`` in eval mode: the output must be (N, ..., out_features)."""
    was_training = model.training
    model.eval()
    try:
        output = model(x)
    finally:
        model.train(was_training)
    if not isinstance(output, Tensor):
        raise UserError(
            f"model {label} returned {type(output).__name__}, not a tensor; its forward must return the raw "
            f"output, shape (N, {out_features})"
        )
    n = len(x)
    fits = output.dim() >= 1 and output.shape[0] == n and output.shape[-1] == out_features
    fits = fits or (out_features == 1 and tuple(output.shape) == (n,))
    if not fits:
        raise UserError(
            f"model {label} outputs shape {tuple(output.shape)} for a batch of {n}, but loss {loss} needs "
            f"({n}, {out_features}): {out_features} outputs per sample. Take out_features (or num_classes) "
            f"as a constructor argument to get that number"
        )
