"""Numerical precision of training: full float32, or mixed precision with bf16 or fp16 autocast.

    32    every op in float32 (the default)
    bf16  matmuls and convolutions in bfloat16 under torch.autocast; float32's range, so no loss scaling
    fp16  the same in float16, with a GradScaler: the loss is multiplied by a scale before backward so
          that small gradients do not underflow to 0, steps with inf/NaN gradients are skipped and the
          scale is lowered; parameters and optimiser state stay float32 in all three

Losses are always computed in float32 from the model's output (``output.float()``), whatever the
precision, so a loss never takes log/exp of half-precision values.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import UserError

DTYPES: dict[str, torch.dtype | None] = {"32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
ALIASES = {"fp32": "32", "32-true": "32", "16": "fp16", "16-mixed": "fp16", "bf16-mixed": "bf16"}


@dataclass
class Precision:
    name: str
    dtype: torch.dtype | None
    device_type: str
    scaler: torch.amp.GradScaler

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context for forward passes: autocast in bf16/fp16, nothing at all in 32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def build_precision(name: str, device: torch.device) -> Precision:
    """``trainer.precision`` -> autocast settings and a grad scaler (enabled for fp16 only)."""
    key = ALIASES.get(str(name), str(name))
    if key not in DTYPES:
        raise UserError(f"trainer.precision={name!r} is not a precision; use 32, bf16 or fp16")
    if key == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError("trainer.precision=bf16 needs a GPU with bfloat16 support (Ampere or newer); use fp16")
    scaler = torch.amp.GradScaler(device.type, enabled=key == "fp16")
    return Precision(key, DTYPES[key], device.type, scaler)
