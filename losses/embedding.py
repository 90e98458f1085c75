"""Metric-learning losses on embeddings, with pairs and triplets formed from the labels in the batch.

The model outputs one embedding per sample (N, D); the target is the class label (N,). Tuples are
mined inside each batch by :func:`mine_triplets`, then handed to torch's functional loss:

    triplet_margin(a, p, n)  = max(0, d(a, p) - d(a, n) + margin),  d(u, v) = ||u - v + eps||_p
    cosine_embedding(u, v, y) = 1 - cos(u, v)           if y = 1
                              = max(0, cos(u, v) - margin) if y = -1
    hinge_embedding(x, y)    = x                        if y = 1     (x = d(u, v), the p-norm distance)
                             = max(0, margin - x)       if y = -1
    margin_ranking(x1, x2, y) = max(0, -y (x1 - x2) + margin), x1 = sim(a, p), x2 = sim(a, n), y = 1

Mining (``mining=``), for every anchor that has a positive (another sample of its class) and a
negative (a sample of another class) in the batch; anchors without both are left out:

- ``random``: a positive and a negative drawn uniformly, with the global torch RNG (so the tuples
  are deterministic given ``torch.manual_seed``);
- ``batch_hard`` (Hermans et al. 2017): the farthest positive and the closest negative under the
  loss's own distance, measured on detached embeddings.

The pair losses use each triplet as two pairs: (a, p) with y = 1 and (a, n) with y = -1. With
``reduction='none'`` the result has one entry per triplet (per pair for the pair losses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import TaskLoss, check_reduction
from .registry import LossError, register

MINING = ("random", "batch_hard")
SIMILARITIES = ("cosine", "neg_distance")
_NEEDS = dict(needs_output="embeddings (N, D)", needs_target="class labels (N,); tuples mined in the batch")
_WHY_NOT = {
    task: "it compares embeddings, not class scores; use task=embedding (digits embedded, scored by recall@1)"
    for task in ("multiclass", "multilabel", "binary")
}


def mine_triplets(
    labels: Tensor, mining: str = "random", distances: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """(anchor, positive, negative) indices into the batch, one triplet per anchor that has both.

    ``random`` draws each positive and negative uniformly with the global torch RNG; ``batch_hard``
    picks the farthest positive and the closest negative by ``distances`` (N, N).
    """
    labels = labels.reshape(-1)
    n = labels.shape[0]
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    pos_mask, neg_mask = same & ~eye, ~same
    anchors = torch.nonzero(pos_mask.any(1) & neg_mask.any(1)).squeeze(1)
    if mining == "random":
        # A uniform random score per pair; the argmax over a row's allowed entries is a uniform draw.
        scores = torch.rand(n, n, device=labels.device)
        positives = scores.masked_fill(~pos_mask, -1.0).argmax(1)
        negatives = scores.masked_fill(~neg_mask, -1.0).argmax(1)
    elif mining == "batch_hard":
        if distances is None:
            raise LossError("batch_hard mining needs the pairwise distances")
        positives = distances.masked_fill(~pos_mask, -torch.inf).argmax(1)
        negatives = distances.masked_fill(~neg_mask, torch.inf).argmin(1)
    else:
        raise LossError(f"mining must be one of {', '.join(MINING)}, got {mining!r}")
    return anchors, positives[anchors], negatives[anchors]


def triplets_to_pairs(anchors: Tensor, positives: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Each triplet as two pairs: (first, second, y) with y = 1 for (a, p) and y = -1 for (a, n)."""
    first = torch.cat([anchors, anchors])
    second = torch.cat([positives, negatives])
    y = torch.cat([torch.ones_like(anchors), -torch.ones_like(anchors)])
    return first, second, y


def cosine_distances(x: Tensor) -> Tensor:
    x = F.normalize(x, dim=-1)
    return 1 - x @ x.T


class _MinedLoss(TaskLoss):
    """Shared checks and the empty-batch case for the losses that mine tuples from labels."""

    def __init__(self, task: str, mining: str, reduction: str) -> None:
        super().__init__(task)
        if mining not in MINING:
            raise LossError(f"{self.loss_name}: mining must be one of {', '.join(MINING)}, got {mining!r}")
        self.mining = mining
        self.reduction = check_reduction(reduction)

    def _distances(self, output: Tensor) -> Tensor:
        raise NotImplementedError

    def mine(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The triplets this loss trains on for this batch (its distances only when mining is batch_hard)."""
        distances = self._distances(output.detach()) if self.mining == "batch_hard" else None
        return mine_triplets(target, self.mining, distances)

    def _no_tuples(self, output: Tensor) -> Tensor:
        # No class with two samples, or a single class, in the batch: nothing to learn from it.
        # Zero (still attached to the graph so backward works); 'none' gives no elements.
        zero = output.sum() * 0
        return zero.reshape(1)[:0] if self.reduction == "none" else zero

    def extra_repr(self) -> str:
        return f"task={self.task!r}, mining={self.mining!r}, reduction={self.reduction!r}"


@register("triplet_margin", natural_task="embedding", fits={"embedding": "native"}, why_not=_WHY_NOT, **_NEEDS)
class TripletMargin(_MinedLoss):
    """Triplet margin loss on (anchor, positive, negative) mined from the labels (torch.nn.TripletMarginLoss)."""

    def __init__(
        self,
        task: str,
        *,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        mining: str = "random",
        reduction: str = "mean",
    ) -> None:
        super().__init__(task, mining, reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def _distances(self, output: Tensor) -> Tensor:
        return torch.cdist(output, output, p=self.p)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        a, p, n = self.mine(output, target)
        if a.numel() == 0:
            return self._no_tuples(output)
        return F.triplet_margin_loss(
            output[a],
            output[p],
            output[n],
            margin=self.margin,
            p=self.p,
            eps=self.eps,
            swap=self.swap,
            reduction=self.reduction,
        )


@register("cosine_embedding", natural_task="embedding", fits={"embedding": "native"}, why_not=_WHY_NOT, **_NEEDS)
class CosineEmbedding(_MinedLoss):
    """Cosine embedding loss on pairs (y = 1 same class, -1 not) mined from the labels (torch.nn.CosineEmbeddingLoss).

    Embeddings are compared by angle, so ``predict`` L2-normalises them for the nearest-neighbour metric.
    """

    def __init__(self, task: str, *, margin: float = 0.0, mining: str = "random", reduction: str = "mean") -> None:
        super().__init__(task, mining, reduction)
        self.margin = margin

    def _distances(self, output: Tensor) -> Tensor:
        return cosine_distances(output)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        a, p, n = self.mine(output, target)
        if a.numel() == 0:
            return self._no_tuples(output)
        first, second, y = triplets_to_pairs(a, p, n)
        return F.cosine_embedding_loss(
            output[first], output[second], y.to(output.dtype), margin=self.margin, reduction=self.reduction
        )

    def predict(self, output: Tensor) -> Tensor:
        return F.normalize(output, dim=-1)


@register("hinge_embedding", natural_task="embedding", fits={"embedding": "native"}, why_not=_WHY_NOT, **_NEEDS)
class HingeEmbedding(_MinedLoss):
    """Hinge embedding loss on the p-norm distance of mined pairs, y = +-1 (torch.nn.HingeEmbeddingLoss).

    The distance is ``F.pairwise_distance(u, v, p, eps)``; ``p`` and ``eps`` belong to that distance.
    """

    def __init__(
        self,
        task: str,
        *,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        mining: str = "random",
        reduction: str = "mean",
    ) -> None:
        super().__init__(task, mining, reduction)
        self.margin, self.p, self.eps = margin, p, eps

    def _distances(self, output: Tensor) -> Tensor:
        return torch.cdist(output, output, p=self.p)

    def pair_distances(self, output: Tensor, first: Tensor, second: Tensor) -> Tensor:
        return F.pairwise_distance(output[first], output[second], p=self.p, eps=self.eps)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        a, p, n = self.mine(output, target)
        if a.numel() == 0:
            return self._no_tuples(output)
        first, second, y = triplets_to_pairs(a, p, n)
        distance = self.pair_distances(output, first, second)
        return F.hinge_embedding_loss(distance, y.to(output.dtype), margin=self.margin, reduction=self.reduction)


@register("margin_ranking", natural_task="embedding", fits={"embedding": "native"}, why_not=_WHY_NOT, **_NEEDS)
class MarginRanking(_MinedLoss):
    """Margin ranking loss: rank sim(anchor, positive) above sim(anchor, negative) (torch.nn.MarginRankingLoss).

    ``similarity``: ``cosine`` (then ``predict`` L2-normalises the embeddings) or ``neg_distance``
    (minus the Euclidean distance).
    """

    def __init__(
        self,
        task: str,
        *,
        margin: float = 0.0,
        similarity: str = "cosine",
        mining: str = "random",
        reduction: str = "mean",
    ) -> None:
        super().__init__(task, mining, reduction)
        if similarity not in SIMILARITIES:
            raise LossError(f"margin_ranking: similarity must be one of {', '.join(SIMILARITIES)}, got {similarity!r}")
        self.margin, self.similarity = margin, similarity

    def _distances(self, output: Tensor) -> Tensor:
        return cosine_distances(output) if self.similarity == "cosine" else torch.cdist(output, output)

    def similarities(self, output: Tensor, first: Tensor, second: Tensor) -> Tensor:
        u, v = output[first], output[second]
        if self.similarity == "cosine":
            return F.cosine_similarity(u, v, dim=-1)
        return -F.pairwise_distance(u, v)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        a, p, n = self.mine(output, target)
        if a.numel() == 0:
            return self._no_tuples(output)
        x1, x2 = self.similarities(output, a, p), self.similarities(output, a, n)
        return F.margin_ranking_loss(x1, x2, torch.ones_like(x1), margin=self.margin, reduction=self.reduction)

    def predict(self, output: Tensor) -> Tensor:
        return F.normalize(output, dim=-1) if self.similarity == "cosine" else output
