"""``combo``: a weighted sum of losses, each built in or the user's own, each logged on its own.

    L(x, y) = sum_i w_i * L_i(x, y)

``loss=combo`` reads ``loss.terms``, one entry per term: its label (the key; the loss of that name
unless ``loss: <name>`` or ``target: <module.name>`` says otherwise), ``weight`` (default 1) and the
term's own arguments. Every term sees the same raw output, so all must agree on the model's head size;
the metrics read the output through the first term's ``predict``. After each call ``parts`` holds
every term's own (unweighted) value, detached, which the trainer logs as ``train/loss/<label>`` and
``val/loss/<label>``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import TaskLoss
from .info import LossError


class Combo(TaskLoss):
    """Weighted sum of loss terms: L = sum_i w_i L_i, each term's value kept in ``parts``."""

    def __init__(self, task: str, terms: dict[str, tuple[float, nn.Module]]) -> None:
        super().__init__(task)
        if not terms:
            raise LossError("loss=combo needs at least one term in loss.terms, e.g. loss.terms.ce.weight=1")
        self.labels = list(terms)
        self.weights = [float(w) for w, _ in terms.values()]
        self.terms = nn.ModuleList(loss for _, loss in terms.values())
        self.parts: dict[str, Tensor] = {}

    def head_size(self, task: str, natural_size: int) -> int:  # type: ignore[override]
        sizes = {label: term.head_size(task, natural_size) for label, term in zip(self.labels, self.terms)}
        if len(set(sizes.values())) > 1:
            shown = ", ".join(f"{label} {size}" for label, size in sizes.items())
            raise LossError(
                f"the terms of loss=combo need different numbers of model outputs ({shown}); every term reads "
                "the same output, so combine losses that read it the same way"
            )
        return next(iter(sizes.values()))

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        total = torch.zeros((), device=output.device, dtype=output.dtype)
        parts = {}
        for label, weight, term in zip(self.labels, self.weights, self.terms):
            value = term(output, target)
            value = value if value.dim() == 0 else value.mean()
            parts[label] = value.detach()
            total = total + weight * value
        self.parts = parts
        return total

    def predict(self, output: Tensor) -> Tensor:
        return self.terms[0].predict(output)

    def extra_repr(self) -> str:
        return f"task={self.task!r}, " + " + ".join(f"{w:g} * {label}" for label, w in zip(self.labels, self.weights))
