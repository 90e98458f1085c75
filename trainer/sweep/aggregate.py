"""One TensorBoard run per configuration: the mean over its seeds of every curve, with a min-max band.

The report writes, next to the sweep's runs, ``aggregate/<configuration>/`` holding for each scalar
the seeds logged (``val/<metric>``, ``val/loss``, ``train/loss``, ...) three series per step:

    <tag>          the mean over the seeds that logged that step
    <tag> (min)    the lowest of them
    <tag> (max)    the highest

and a custom-scalars layout with one margin chart per tag (value ``<tag>``, lower ``<tag> (min)``,
upper ``<tag> (max)``), so ``tensorboard --logdir <sweep>`` shows in its Custom Scalars tab one
band per configuration per metric. The aggregate runs hold no HParams: that tab still lists the
seeds' own runs. A min-max band rather than a confidence band: with 3 to 5 seeds a t-band is two to
four times wider than the seeds' range and says less about what was seen.
"""

from __future__ import annotations

import math
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .events import read_curves

FOLDER = "aggregate"
# Not curves: the final metrics the HParams tab reads (one point each) and the learning rate.
SKIPPED = ("final/", "lr")


def band_tags(tag: str) -> tuple[str, str, str]:
    return tag, f"{tag} (min)", f"{tag} (max)"


def _folder_name(label: str) -> str:
    return label.replace("/", "_") or "defaults"


def curves_by_step(runs: Sequence[Any]) -> dict[str, dict[int, list[float]]]:
    """tag -> step -> the values the completed runs logged there."""

    merged: dict[str, dict[int, list[float]]] = {}
    for run in runs:
        if run.status != "completed":
            continue
        for tag, series in read_curves(run.path).items():
            if tag.startswith(SKIPPED):
                continue
            for step, value in series:
                if math.isfinite(value):
                    merged.setdefault(tag, {}).setdefault(step, []).append(value)
    return merged


def write_aggregates(sweep_dir: Path, sections: Sequence[tuple[str, Sequence[Any], Any]]) -> list[Path]:
    """Write ``<sweep>/aggregate/<configuration>/`` for every configuration; returns the folders."""
    from torch.utils.tensorboard import SummaryWriter

    root = sweep_dir / FOLDER
    shutil.rmtree(root, ignore_errors=True)  # a report written again replaces them
    written, layout = [], {}
    for task, rows, _ in sections:
        charts: dict[str, list[str]] = {}
        for row in rows:
            curves = curves_by_step(row.runs)
            if not curves:
                continue
            folder = root / _folder_name(row.label)
            writer = SummaryWriter(str(folder))
            for tag, steps in sorted(curves.items()):
                mean, low, high = band_tags(tag)
                for step in sorted(steps):
                    values = steps[step]
                    writer.add_scalar(mean, statistics.fmean(values), step)
                    writer.add_scalar(low, min(values), step)
                    writer.add_scalar(high, max(values), step)
                charts.setdefault(tag, list(band_tags(tag)))
            written.append((writer, folder))
        if charts:
            layout[f"{task}: mean over seeds, min-max band"] = {tag: ["Margin", tags] for tag, tags in charts.items()}
    for index, (writer, _) in enumerate(written):
        if index == 0 and layout:  # one layout for the whole logdir; TensorBoard reads it from any run
            writer.add_custom_scalars(layout)
        writer.close()
    return [folder for _, folder in written]
