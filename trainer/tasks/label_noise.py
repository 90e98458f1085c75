"""Synthetic label noise on the training split, to study noise-robust losses (gce, sce, nce_rce).

``data.label_noise`` = eta in [0, 1) is the fraction of labels corrupted;
``data.label_noise_mode`` (symmetric | asymmetric) says how; each task's ``corrupt`` gives the
rule (multiclass, binary, multilabel). ``data.label_noise_splits`` says where: by default the
training and the validation labels, as a user's own noisy data would be, so the best epoch is
chosen on noisy labels too (``[train]`` keeps a clean validation split, a luxury real noisy data
does not give). The test labels are never touched: they measure what the model learnt.

The noise is seeded by ``data.split_seed`` (its own random stream, not the split's), not by
``seed``: runs that differ only in ``seed`` see the same noisy labels, as they see the same split.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from ..registry import TASKS

MODES = ("symmetric", "asymmetric")
_NOISE_STREAM = 0x4E4F495345  # separates the noise's random stream from the split's (same split_seed)


NOISY_SPLITS = ("train", "val")


def check_label_noise(fraction: float, mode: str, task: str, splits: list[str] | None = None) -> None:
    """Clear errors for a bad fraction, mode or split, or a task without class labels."""
    bad = [s for s in splits or [] if s not in NOISY_SPLITS]
    if bad:
        raise UserError(
            f"data.label_noise_splits: {', '.join(map(str, bad))} cannot be noisy; choose from "
            f"{', '.join(NOISY_SPLITS)} (the test split always stays clean)"
        )
    if not 0.0 <= fraction < 1.0:
        raise UserError(f"data.label_noise is the fraction of training labels to corrupt, in [0, 1); got {fraction}")
    if mode not in MODES:
        raise UserError(f"data.label_noise_mode must be one of {', '.join(MODES)}; got {mode!r}")
    if fraction > 0 and mode not in TASKS.get(task).noise_modes:
        noisy = ", ".join(TASKS.names(lambda name, _: mode in TASKS.get(name).noise_modes))
        raise UserError(
            f"data.label_noise applies to class labels ({noisy} tasks), not to task {task!r}; set data.label_noise=0"
        )


def corrupt_labels(
    labels: Tensor, task: str, fraction: float, mode: str, num_classes: int, seed: int | list[int]
) -> tuple[Tensor, Tensor]:
    """The noisy labels (same dtype and shape) and a boolean mask of the entries that changed."""
    check_label_noise(fraction, mode, task)
    rng = np.random.default_rng([*(seed if isinstance(seed, list) else [seed]), _NOISE_STREAM])
    y = labels.cpu().numpy().copy()
    if fraction > 0:
        y = TASKS.get(task).corrupt(y, fraction, mode, num_classes, rng)
    noisy = torch.as_tensor(y, dtype=labels.dtype).to(labels.device)
    return noisy, noisy != labels
