"""Pictures of a classification run's test split: the confusion matrix and the reliability diagram.

    confusion[i, j] = #(true class i predicted as j) / #(true class i)      normalised by true class
    reliability:    15 equal-width bins of confidence; per bin its count, mean confidence and accuracy
    ECE           = sum_b (n_b / N) * |accuracy_b - confidence_b|

The binning is torchmetrics' (``calibration_error``: ``bucketize(..., right=True) - 1`` over
``linspace(0, 1, 16)``), so the ECE drawn is the ``ece`` the run logs: for multiclass the confidence
is the top class's probability and accuracy whether it is right; for binary, as torchmetrics'
``BinaryCalibrationError`` defines it, the predicted probability of class 1 against the fraction of
positives. Per-class precision, recall and F1 (torchmetrics, ``average=None``) go to metrics.json.
Multilabel and the other tasks get none of these (a label is not a class of one confusion matrix).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

N_BINS = 15
TASKS = ("multiclass", "binary")


@dataclass
class Pictures:
    confusion: Tensor  # (C, C), rows normalised
    counts: Tensor  # (bins + 1,) samples per bin (the last holds confidence 1.0 exactly)
    confidence: Tensor  # mean confidence per bin
    accuracy: Tensor  # accuracy (binary: fraction of positives) per bin
    ece: float
    per_class: dict[str, dict[str, float]]


def compute(probs: Tensor, target: Tensor, task: str, num_classes: int, class_names: list[str]) -> Pictures:
    """The test split's pictures from the task's scores (multiclass: (N, C) probabilities; binary: (N,))."""
    from torchmetrics.functional.classification import (
        binary_f1_score,
        binary_precision,
        binary_recall,
        multiclass_confusion_matrix,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    probs, target = probs.float().cpu(), target.cpu()
    if task == "binary":
        p, y = probs.flatten(), target.flatten().long()
        two = torch.stack([1 - p, p], dim=1)
        confusion = multiclass_confusion_matrix(two, y, num_classes=2, normalize="true")
        confidences, hits = p, y.float()
        names = class_names if len(class_names) == 2 else ["0", "1"]
        scores = [binary_precision(p, y), binary_recall(p, y), binary_f1_score(p, y)]
        per_class = {names[1]: dict(zip(("precision", "recall", "f1"), (float(s) for s in scores)))}
    else:
        y = target.long()
        confusion = multiclass_confusion_matrix(probs, y, num_classes=num_classes, normalize="true")
        confidences, predictions = probs.max(dim=1)
        hits = predictions.eq(y).float()
        names = class_names if len(class_names) == num_classes else [str(i) for i in range(num_classes)]
        columns = [
            f(probs, y, num_classes=num_classes, average=None)
            for f in (multiclass_precision, multiclass_recall, multiclass_f1_score)
        ]
        per_class = {
            name: {"precision": float(columns[0][i]), "recall": float(columns[1][i]), "f1": float(columns[2][i])}
            for i, name in enumerate(names)
        }
    boundaries = torch.linspace(0, 1, N_BINS + 1)
    index = torch.bucketize(confidences, boundaries, right=True) - 1
    counts = torch.zeros(N_BINS + 1).scatter_add_(0, index, torch.ones_like(confidences))
    total_conf = torch.zeros(N_BINS + 1).scatter_add_(0, index, confidences)
    total_hits = torch.zeros(N_BINS + 1).scatter_add_(0, index, hits)
    confidence = torch.nan_to_num(total_conf / counts)
    accuracy = torch.nan_to_num(total_hits / counts)
    ece = float(((accuracy - confidence).abs() * counts / counts.sum()).sum())
    return Pictures(confusion, counts, confidence, accuracy, ece, per_class)


def figures(pictures: Pictures, class_names: list[str], task: str) -> dict[str, bytes]:
    """PNG bytes of the confusion matrix and the reliability diagram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    c = len(pictures.confusion)
    names = class_names if len(class_names) == c else [str(i) for i in range(c)]
    size = min(12.0, 2.5 + 0.45 * c)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), constrained_layout=True)
    shown = ax.imshow(pictures.confusion.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set(xlabel="predicted", ylabel="true", title="test confusion matrix (rows: fraction of each true class)")
    ax.set_xticks(range(c), names, rotation=90 if c > 10 else 0)
    ax.set_yticks(range(c), names)
    if c <= 20:
        for i in range(c):
            for j in range(c):
                value = float(pictures.confusion[i, j])
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > 0.5 else "black",
                )
    fig.colorbar(shown, ax=ax, shrink=0.8)
    out["confusion_matrix"] = _png(fig)

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 6.5), sharex=True, height_ratios=(3, 1), constrained_layout=True
    )
    width = 1 / N_BINS
    centers = (torch.arange(N_BINS + 1) + 0.5) * width
    used = pictures.counts > 0
    what = "fraction of positives" if task == "binary" else "accuracy"
    top.bar(centers[used], pictures.accuracy[used], width=width * 0.9, color="tab:blue", label=what)
    top.plot([0, 1], [0, 1], "--", color="gray", lw=1, label="perfect calibration")
    top.scatter(
        pictures.confidence[used], pictures.accuracy[used], color="tab:red", s=12, zorder=3, label="mean confidence"
    )
    top.set(
        ylabel=what, xlim=(0, 1), ylim=(0, 1), title=f"test reliability diagram (ECE {pictures.ece:.4f}, {N_BINS} bins)"
    )
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centers[used], pictures.counts[used], width=width * 0.9, color="tab:gray")
    bottom.set(
        xlabel="predicted probability of class 1" if task == "binary" else "confidence (top class)", ylabel="count"
    )
    out["reliability_diagram"] = _png(fig)
    return out


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
