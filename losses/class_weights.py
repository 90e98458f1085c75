"""Class weights computed once from the training labels: ``weight=auto`` and ``pos_weight=auto``.

A loss's ``weight`` or ``pos_weight`` may be a method name instead of numbers; ``losses.build``
resolves it from the training targets (``labels=``), which ``python -m trainer`` passes for you.
With n_c the training samples of class c (multiclass), or the positives of label column c
(multilabel, one-hot columns), K the number of columns and N the number of samples:

    inv_freq        w_c = mean_k(n_k) / n_c                      (sklearn's "balanced": N / (K n_c))
    effective_num   w_c ∝ (1 - beta) / (1 - beta ** n_c),  beta = 0.999, scaled to sum to K
                    (Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of Samples")
    auto            inv_freq for ``weight``

``pos_weight`` (``bce_logits``) weighs the positive term of each label against its negative term,
so each method gives the ratio of the positives' weight to the negatives' weight, with
m_c = N - n_c negatives:

    neg_pos         p_c = m_c / n_c       (torch's BCEWithLogitsLoss recommendation; also auto)
    inv_freq        p_c = (1 / n_c) / (1 / m_c) = m_c / n_c   (the same)
    effective_num   p_c = (1 - beta ** m_c) / (1 - beta ** n_c)

A class absent from the training labels is counted once, so its weight stays finite. ``weight``
on the binary task with a single logit would scale every sample alike, so it is refused there
(use ``pos_weight``, or ``ce`` with its 2-way head).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .info import LossError, LossInfo

EFFECTIVE_NUM_BETA = 0.999
WEIGHT_METHODS = ("auto", "inv_freq", "effective_num")
POS_WEIGHT_METHODS = ("auto", "neg_pos", "inv_freq", "effective_num")
WEIGHT_PARAMS = {"weight": WEIGHT_METHODS, "pos_weight": POS_WEIGHT_METHODS}
LABELLED_TASKS = ("multiclass", "multilabel", "binary")


def label_counts(labels: Tensor, task: str, num_columns: int) -> tuple[Tensor, int]:
    """Positives per column (K,) and the number of samples N.

    multiclass, or binary with a 2-way head: samples per class; multilabel: positives per label;
    binary with one logit: the positives of that one column.
    """
    labels = torch.as_tensor(labels).detach().cpu()
    if task == "multilabel":
        counts = (labels.reshape(len(labels), -1) > 0.5).sum(dim=0)
    elif task == "multiclass" or num_columns > 1:
        counts = torch.bincount(labels.long().reshape(-1), minlength=num_columns)[:num_columns]
    else:
        counts = (labels.reshape(-1) > 0.5).sum().reshape(1)
    return counts.to(torch.float64), len(labels)


def _effective_number(counts: Tensor, beta: float) -> Tensor:
    return (1 - beta**counts) / (1 - beta)


def class_weights(counts: Tensor, method: str, beta: float = EFFECTIVE_NUM_BETA) -> Tensor:
    """Per-column weights from per-column counts (see the module docstring)."""
    counts = counts.clamp_min(1)
    if method in ("auto", "inv_freq"):
        return counts.mean() / counts
    if method == "effective_num":
        weights = 1 / _effective_number(counts, beta)
        return weights * len(counts) / weights.sum()
    raise LossError(f"unknown weight method {method!r}; methods: {', '.join(WEIGHT_METHODS)}")


def positive_weights(counts: Tensor, total: int, method: str, beta: float = EFFECTIVE_NUM_BETA) -> Tensor:
    """Per-label pos_weight: the positives' weight relative to the negatives' (see the module docstring)."""
    positives = counts.clamp_min(1)
    negatives = (total - counts).clamp_min(1)
    if method in ("auto", "neg_pos", "inv_freq"):
        return negatives / positives
    if method == "effective_num":
        return _effective_number(negatives, beta) / _effective_number(positives, beta)
    raise LossError(f"unknown pos_weight method {method!r}; methods: {', '.join(POS_WEIGHT_METHODS)}")


def needs_labels(params: dict[str, Any]) -> list[str]:
    """The weight parameters given as a method name (to be computed from the labels)."""
    return [name for name in WEIGHT_PARAMS if isinstance(params.get(name), str)]


def resolve(
    info: LossInfo, task: str, params: dict[str, Any], labels: Tensor | None, num_classes: int | None
) -> dict[str, Any]:
    """Replace ``weight``/``pos_weight`` method names in ``params`` by weights computed from ``labels``."""
    names = needs_labels(params)
    if not names:
        return params
    for name in names:
        if params[name] not in WEIGHT_PARAMS[name]:
            raise LossError(
                f"{info.name}: {name}={params[name]!r} is not a weighting method. "
                f"Give numbers (one per class) or one of: {', '.join(WEIGHT_PARAMS[name])}"
            )
    if labels is None:
        shown = ", ".join(f"{n}={params[n]!r}" for n in names)
        raise LossError(
            f"{info.name}: {shown} is computed from the training labels, and none were given. "
            "python -m trainer passes them for you (loss.weight=auto); in Python call "
            f"losses.build({info.name!r}, task=..., {shown}, labels=<training targets>, num_classes=<C>)."
        )
    if task not in LABELLED_TASKS:
        raise LossError(f"{info.name}: automatic class weights need class labels; task {task!r} has none")
    natural = num_classes or _natural_size(labels, task)
    columns = info.cls.head_size(task, natural)
    counts, total = label_counts(labels, task, columns)
    resolved = dict(params)
    for name in names:
        method = params[name]
        if name == "weight":
            if task == "binary" and columns == 1:
                raise LossError(
                    f"{info.name}: weight={method!r} on the binary task (one logit) would scale every "
                    "sample by the same factor. Use pos_weight=auto (negatives per positive), or a loss "
                    "with a 2-way head such as ce with weight=auto."
                )
            resolved[name] = class_weights(counts, method).tolist()
        else:
            resolved[name] = positive_weights(counts, total, method).tolist()
    return resolved


def _natural_size(labels: Tensor, task: str) -> int:
    if task == "multilabel":
        return int(labels.shape[-1])
    if task == "multiclass":
        return int(labels.max()) + 1
    return 1
