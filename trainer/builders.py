"""Small builder functions: optimiser and learning-rate scheduler from their configs."""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import UserError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "cosine", "step")


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        # fused=None, not False, for the loop: torch then picks its foreach form where that is faster (GPUs).
        fused = True if cfg.fused else None
        if cfg.name == "adam":
            return torch.optim.Adam(
                params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, fused=fused
            )
        if cfg.name == "adamw":
            return torch.optim.AdamW(
                params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, fused=fused
            )
        if cfg.name == "sgd":
            return torch.optim.SGD(
                params,
                lr=cfg.lr,
                momentum=cfg.momentum,
                nesterov=cfg.nesterov,
                weight_decay=cfg.weight_decay,
                fused=fused,
            )
    except ValueError as exc:  # torch's own checks: negative lr, betas outside [0, 1), nesterov without momentum
        raise UserError(f"optim={cfg.name}: {exc}; fix the optim.* values") from None
    except RuntimeError as exc:  # the fused kernels exist for CPU, CUDA, MPS and XPU floating-point parameters
        if not cfg.fused:
            raise
        message = f"optim.fused=true does not work for this model or device ({exc}); use optim.fused=false"
        raise UserError(message) from None
    raise UserError(f"unknown optimiser {cfg.name!r}. Optimisers: {', '.join(OPTIMIZERS)}")


def build_scheduler(cfg, optimizer: torch.optim.Optimizer, max_epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    """An epoch-level scheduler (stepped once per epoch), with optional linear warm-up."""
    if cfg.name not in SCHEDULERS:
        raise UserError(f"unknown scheduler {cfg.name!r}. Schedulers: {', '.join(SCHEDULERS)}")
    warmup = max(0, cfg.warmup_epochs)
    base_lr = optimizer.param_groups[0]["lr"]

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        if cfg.name == "cosine":
            span = max(1, max_epochs - warmup)
            progress = min(1.0, (epoch - warmup) / span)
            floor = cfg.min_lr / base_lr if base_lr > 0 else 0.0
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        if cfg.name == "step":
            return cfg.gamma ** ((epoch - warmup) // max(1, cfg.step_size))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
