"""Metrics of the embedding, sequence and count tasks that torchmetrics lacks, as ``Metric`` subclasses.

They accumulate over the batches of ``evaluate()`` like any torchmetrics metric:

- ``RecallAtOne``: nearest-neighbour accuracy, leave-one-out within the evaluated split: for every
  embedding, is its nearest other embedding (Euclidean) of the same class?
- ``SequenceAccuracy`` / ``CharErrorRate``: label sequences padded with -1 (any padded width); the
  exact-match rate, and the total edit distance divided by the total reference length.
- ``PoissonDeviance``: mean Poisson deviance 2 (y log(y / mu) - (y - mu)), as
  torchmetrics' TweedieDevianceScore(power=1), with predicted rates floored at ``min_rate`` so that
  losses that can predict <= 0 (mse, l1, ...) are scored (badly) instead of failing.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

PAD = -1


class RecallAtOne(Metric):
    """Leave-one-out 1-nearest-neighbour accuracy of embeddings (N, D) against their labels (N,)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, chunk_size: int = 1024, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chunk_size = chunk_size
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.embeddings.append(preds.detach().float().reshape(preds.shape[0], -1))
        self.labels.append(target.detach().reshape(-1))

    def compute(self) -> Tensor:
        z, y = dim_zero_cat(self.embeddings), dim_zero_cat(self.labels)
        if len(y) < 2:
            return torch.tensor(float("nan"), device=y.device)
        hits = torch.zeros((), device=y.device)
        for start in range(0, len(y), self.chunk_size):  # rows in chunks: memory O(chunk x N)
            d = torch.cdist(z[start : start + self.chunk_size], z)
            rows = torch.arange(d.shape[0], device=d.device)
            d[rows, rows + start] = torch.inf  # leave the sample itself out
            hits += (y[d.argmin(dim=1)] == y[start : start + self.chunk_size]).sum()
        return hits / len(y)


def unpad(row: list[int]) -> list[int]:
    return [v for v in row if v != PAD]


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance (insertions, deletions, substitutions each cost 1)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


class SequenceAccuracy(Metric):
    """Fraction of predicted sequences equal to their target (padding -1 ignored)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        for p, t in zip(preds.tolist(), target.tolist()):
            self.correct += float(unpad(p) == unpad(t))
        self.total += len(target)

    def compute(self) -> Tensor:
        return self.correct / self.total


class CharErrorRate(Metric):
    """Character error rate: summed edit distances over the summed target lengths (padding -1 ignored)."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("errors", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        for p, t in zip(preds.tolist(), target.tolist()):
            reference = unpad(t)
            self.errors += edit_distance(unpad(p), reference)
            self.total += len(reference)

    def compute(self) -> Tensor:
        return self.errors / self.total


class PoissonDeviance(Metric):
    """Mean Poisson deviance of predicted rates (N,) against counts (N,)."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, min_rate: float = 1e-8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.min_rate = min_rate
        self.add_state("sum_deviance", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        mu = preds.detach().double().reshape(-1).clamp_min(self.min_rate)
        y = target.detach().double().reshape(-1)
        # xlogy: y log(y / mu) is 0 for y = 0.
        deviance = 2 * (torch.xlogy(y, y) - torch.xlogy(y, mu) - (y - mu))
        self.sum_deviance += deviance.sum()
        self.total += y.numel()

    def compute(self) -> Tensor:
        return (self.sum_deviance / self.total).float()
