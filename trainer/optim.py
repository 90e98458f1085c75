"""Optimisers and learning-rate schedulers, registered by name with their options.

Schedulers are epoch-level (stepped once per epoch) with an optional linear warm-up:

    warm-up   lr_e = lr * (e + 1) / (warmup + 1)                       for e < warmup
    cosine    lr_e = min_lr + (lr - min_lr) * (1 + cos(pi * t)) / 2,  t = (e - warmup) / (max_epochs - warmup)
    step      lr_e = lr * gamma ** ((e - warmup) // step_size)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .errors import UserError
from .registry import OPTIMIZERS, SCHEDULERS
from .schema import option

# ---------------------------------------------------------------- optimisers


@dataclass
class AdamConfig:
    name: str = "adam"
    lr: float = option(1e-3, "learning rate")
    weight_decay: float = option(0.0, "weight decay (Adam: L2 in the gradient; AdamW: decoupled)")
    betas: list[float] = option(
        help="coefficients of the running averages of the gradient and its square", factory=lambda: [0.9, 0.999]
    )
    # fused: one kernel per parameter for the whole update, on CPU as on GPUs (docs/performance.md).
    fused: bool = option(True, "torch's fused implementation (false: the per-tensor loop)")


@dataclass
class AdamWConfig(AdamConfig):
    name: str = "adamw"
    weight_decay: float = option(1e-2, "decoupled weight decay")


@dataclass
class SGDConfig:
    name: str = "sgd"
    lr: float = option(0.05, "learning rate")
    momentum: float = option(0.9, "momentum factor")
    nesterov: bool = option(False, "Nesterov momentum")
    weight_decay: float = option(0.0, "weight decay (L2 in the gradient)")
    fused: bool = option(True, "torch's fused implementation (false: the per-tensor loop)")


def _adam_like(cls: type[torch.optim.Optimizer]):
    def build(cfg, params, fused: bool | None) -> torch.optim.Optimizer:
        return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, fused=fused)

    return build


def _sgd(cfg, params, fused: bool | None) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay, fused=fused
    )


OPTIMIZERS.register("adam", _adam_like(torch.optim.Adam), schema=AdamConfig)
OPTIMIZERS.register("adamw", _adam_like(torch.optim.AdamW), schema=AdamWConfig)
OPTIMIZERS.register("sgd", _sgd, schema=SGDConfig)


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    build = OPTIMIZERS.get(cfg.name)
    params = [p for p in model.parameters() if p.requires_grad]
    # fused=None, not False, for the loop: torch then picks its foreach form where that is faster (GPUs).
    fused = True if cfg.fused else None
    try:
        return build(cfg, params, fused)
    except ValueError as exc:  # torch's own checks: negative lr, betas outside [0, 1), nesterov without momentum
        raise UserError(f"optim={cfg.name}: {exc}; fix the optim.* values") from None
    except RuntimeError as exc:  # the fused kernels exist for CPU, CUDA, MPS and XPU floating-point parameters
        if not cfg.fused:
            raise
        message = f"optim.fused=true does not work for this model or device ({exc}); use optim.fused=false"
        raise UserError(message) from None


# ---------------------------------------------------------------- schedulers


@dataclass
class NoSchedulerConfig:
    name: str = "none"
    warmup_epochs: int = option(0, "linear warm-up from lr / (warmup + 1) over this many epochs")


@dataclass
class CosineConfig(NoSchedulerConfig):
    name: str = "cosine"
    min_lr: float = option(0.0, "the lr reached at the last epoch")


@dataclass
class StepConfig(NoSchedulerConfig):
    name: str = "step"
    step_size: int = option(10, "epochs between two multiplications by gamma")
    gamma: float = option(0.1, "the factor applied every step_size epochs")


def _constant(cfg, epoch: int, max_epochs: int, base_lr: float) -> float:
    return 1.0


def _cosine(cfg, epoch: int, max_epochs: int, base_lr: float) -> float:
    span = max(1, max_epochs - cfg.warmup_epochs)
    progress = min(1.0, (epoch - cfg.warmup_epochs) / span)
    floor = cfg.min_lr / base_lr if base_lr > 0 else 0.0
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def _step(cfg, epoch: int, max_epochs: int, base_lr: float) -> float:
    return cfg.gamma ** ((epoch - cfg.warmup_epochs) // max(1, cfg.step_size))


SCHEDULERS.register("none", _constant, schema=NoSchedulerConfig)
SCHEDULERS.register("cosine", _cosine, schema=CosineConfig)
SCHEDULERS.register("step", _step, schema=StepConfig)


def build_scheduler(cfg, optimizer: torch.optim.Optimizer, max_epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    """An epoch-level scheduler (stepped once per epoch), with optional linear warm-up."""
    shape = SCHEDULERS.get(cfg.name)
    warmup = max(0, cfg.warmup_epochs)
    base_lr = optimizer.param_groups[0]["lr"]

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        return shape(cfg, epoch, max_epochs, base_lr)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
