"""TensorBoard logging into the run's own directory, written synchronously by the training process.

Events go straight into one event file per process (TensorBoard's record format, through
``tensorboard.summary.writer.record_writer``). ``SummaryWriter`` would hand every event to a
background thread; on the small models this harness trains, waking that thread for each logged
value cost more than the training steps around it (GIL hand-overs), and a flush had to wait for it.
Writing in-process also makes ``positions()`` exact without waiting for anything.

Hyperparameters are written with ``torch.utils.tensorboard.summary.hparams`` into the run's own
event file. ``SummaryWriter.add_hparams`` would instead open a new sub-run per call, which splits
every run in two in the HParams tab of a sweep.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

# Several loggers in one process (tests, scripts/bench.py) each get their own file, as SummaryWriter does.
_file_counter = itertools.count()


class RunLogger:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._file = None
        self._records = None

    def _write(self, event) -> None:
        """Append one Event record, opening the event file on first use (TensorBoard is imported then)."""
        if self._records is None:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.summary.writer.record_writer import RecordWriter

            self.run_dir.mkdir(parents=True, exist_ok=True)
            stamp = f"{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_file_counter)}"
            name = f"events.out.tfevents.{stamp}"  # TensorBoard's own naming: one file per writer
            # Unbuffered: each record is one write(), visible at once to a live `tensorboard --logdir`.
            self._file = open(self.run_dir / name, "ab", buffering=0)  # noqa: SIM115 (closed in close())
            self._records = RecordWriter(self._file)
            self._records.write(Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        self._records.write(event.SerializeToString())

    def _summary(self, summary, step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        self._write(Event(wall_time=time.time(), step=step, summary=summary))

    def scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        self._summary(Summary(value=[Summary.Value(tag=tag, simple_value=float(value))]), step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        tagged = {f"final/{tag}": value for tag, value in metrics.items()}
        _experiment, session_start, session_end = hparams_summary(hparams, tagged)
        # The experiment header is left out on purpose: TensorBoard would take one run's copy for the
        # whole sweep and mark every hyperparameter as not varying. Without it, the HParams plugin
        # builds the table from all runs' session infos and flags the columns that differ (loss, seed).
        for summary in (session_start, session_end):
            self._summary(summary, 0)
        # The HParams tab reads each metric from the scalar of the same tag in this run.
        for tag, value in tagged.items():
            self.scalar(tag, value, 0)

    def positions(self) -> dict[str, int]:
        """The size of every event file of the run: where a checkpoint taken now stands (records are
        written unbuffered, so every one logged so far is whole in its file)."""
        return event_file_sizes(self.run_dir)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._records = None


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
