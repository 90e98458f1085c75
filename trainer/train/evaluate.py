"""Evaluation: the mean loss and the task's metrics over one split, in the data's own units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ..registry import TASKS
from . import distributed

if TYPE_CHECKING:
    from torchmetrics import MetricCollection

    from ..data import DataBundle, Split


def to_scalar(loss: Tensor) -> Tensor:
    """Losses built with reduction='none' return per-element values; train on their mean."""
    return loss if loss.dim() == 0 else loss.mean()


def build_metrics(task: str, num_outputs: int, device: torch.device) -> MetricCollection:
    """The task's metrics as one torchmetrics collection on ``device``."""
    from torchmetrics import MetricCollection

    return MetricCollection(TASKS.get(task).metrics(num_outputs)).to(device)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: nn.Module,
    split: Split,
    data: DataBundle,
    batch_size: int,
    device: torch.device,
    autocast: Any = None,
    metrics: MetricCollection | None = None,
) -> dict[str, float]:
    """Mean loss and the task metrics over one split (``autocast``: the training precision's context).

    ``metrics``: a collection from :func:`build_metrics` to reuse (it is reset here); building one per
    evaluation costs about as much as evaluating a small validation set.
    """
    task = TASKS.get(data.task)
    model.eval()
    distributed.broadcast_buffers(model)  # DDP: every rank evaluates with rank 0's BatchNorm statistics
    split = distributed.eval_shard(split)  # DDP: this rank's part; the sums below are reduced over ranks
    if metrics is None:
        metrics = build_metrics(data.task, data.num_outputs, device)
    metrics.reset()
    total_loss = torch.zeros((), device=device)
    part_totals: dict[str, Tensor] = {}  # loss=combo: each term's own sum
    for x, y in split.batches(batch_size):
        if autocast is None:
            output = model(x).float()
        else:
            with autocast():
                output = model(x)
            output = output.float()
        total_loss += to_scalar(loss_fn(output, y)) * len(x)
        for label, value in getattr(loss_fn, "parts", {}).items():
            part_totals[label] = part_totals.get(label, 0.0) + value * len(x)
        preds, target = task.to_units(loss_fn.predict(output), y, data)
        metrics.update(preds, task.metric_target(target))
    results = {name: float(value) for name, value in metrics.compute().items()}  # torchmetrics syncs ranks
    total, count = distributed.sum_over_ranks(total_loss, len(split))
    results["loss"] = total / count
    for label, part in part_totals.items():
        results[f"loss/{label}"] = distributed.sum_over_ranks(part, len(split))[0] / count
    return results
