"""TensorBoard logging into the run's own directory.

Hyperparameters are written with ``torch.utils.tensorboard.summary.hparams`` into the run's own
event file. ``SummaryWriter.add_hparams`` would instead open a new sub-run per call, which splits
every run in two in the HParams tab of a sweep.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class RunLogger:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._writer = None

    @property
    def writer(self):
        """The SummaryWriter, made on first use: importing TensorBoard is not on the way to the first step."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            # No purge_step: its SessionLog.START marker makes readers hide events at or after that
            # step, which also hid the events logged at the checkpoint's own step, and not every reader
            # honours it. Resume instead cuts the files back to the checkpoint (truncate_events).
            self._writer = SummaryWriter(log_dir=str(self.run_dir))
        return self._writer

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        tagged = {f"final/{tag}": value for tag, value in metrics.items()}
        _experiment, session_start, session_end = hparams_summary(hparams, tagged)
        # The experiment header is left out on purpose: TensorBoard would take one run's copy for the
        # whole sweep and mark every hyperparameter as not varying. Without it, the HParams plugin
        # builds the table from all runs' session infos and flags the columns that differ (loss, seed).
        file_writer = self.writer._get_file_writer()
        for summary in (session_start, session_end):
            file_writer.add_summary(summary)
        # The HParams tab reads each metric from the scalar of the same tag in this run.
        for tag, value in tagged.items():
            self.writer.add_scalar(tag, value, 0)

    def flush(self) -> None:
        self.writer.flush()

    def positions(self) -> dict[str, int]:
        """Flush, then the size of every event file of the run: where a checkpoint taken now stands."""
        self.writer.flush()  # waits until every queued event is written: sizes end on a record boundary
        return event_file_sizes(self.run_dir)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()


def event_file_sizes(run_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(Path(run_dir).glob("events.out.tfevents.*")) if p.is_file()}


def truncate_events(run_dir: Path, positions: dict[str, int]) -> list[str]:
    """Cut a run's event files back to ``positions`` (from the checkpoint being resumed).

    Events written after that checkpoint (by the process that was killed) are removed from the
    files themselves: cut off the end of the files the checkpoint knew, and files it did not know
    deleted. The resumed run then logs those steps once, for every TensorBoard reader, without
    relying on a reader's purge logic. Returns what was changed, for the log.
    """
    changed: list[str] = []
    for name, size in event_file_sizes(run_dir).items():
        path = Path(run_dir) / name
        if name not in positions:
            path.unlink()
            changed.append(f"removed {name}")
        elif size > positions[name]:
            os.truncate(path, positions[name])
            changed.append(f"cut {name} from {size} to {positions[name]} bytes")
    return changed
