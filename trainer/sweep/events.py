"""Reading a run's TensorBoard event files back: the report's curves and the aggregate runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def read_curves(run_dir: Path, tags: Sequence[str] | None = None) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch scalars (``tags``, None: all) from the run's event files; on a repeated step the latest wins."""
    import logging

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # A resumed run's event file starts by purging the steps after its checkpoint; that is expected.
    logging.getLogger("tensorboard").setLevel(logging.ERROR)
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    available = set(acc.Tags().get("scalars", []))
    curves = {}
    for tag in sorted(available) if tags is None else tags:
        if tag in available:
            by_step = {e.step: e.value for e in acc.Scalars(tag)}
            curves[tag] = sorted(by_step.items())
    return curves
