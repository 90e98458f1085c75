"""TensorBoard logging into the run's own directory, written synchronously by the training process.

Events go into one event file per process (TensorBoard's record format, through
``tensorboard.summary.writer.record_writer``). ``SummaryWriter`` would hand every event to a
background thread; on the small models this harness trains, waking that thread for each logged
value cost more than the training steps around it (GIL hand-overs), and a flush had to wait for it.
Writing in-process also makes ``positions()`` exact without waiting for anything.

``scalar()`` only records the value; the records are built and written together by ``flush()``,
which ``positions()`` (every checkpoint: each validated epoch) and ``close()`` call, and which
``scalar()`` itself calls once ``flush_secs`` have passed since the last write (so a long epoch's
train/loss, or the epochs between validations, still reach a live TensorBoard). Building and
writing a record in the middle of the step loop slows the steps after it, which shows on the table
MLPs' tiny epochs (figures in docs/performance.md).

Hyperparameters are written with ``torch.utils.tensorboard.summary.hparams`` into the run's own
event file. ``SummaryWriter.add_hparams`` would instead open a new sub-run per call, which splits
every run in two in the HParams tab of a sweep.
"""

from __future__ import annotations

import io
import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

# Several loggers in one process (tests, scripts/bench.py) each get their own file, as SummaryWriter does.
_file_counter = itertools.count()


class RunLogger:
    def __init__(self, run_dir: Path, flush_secs: float = 2.0) -> None:
        self.run_dir = Path(run_dir)
        self.flush_secs = flush_secs
        self._file = None
        self._pending: list[tuple[str, float, int, float]] = []  # (tag, value, step, wall time)
        self._last_flush = time.time()

    def _write(self, events: list) -> None:
        """Append Event records in one write(), opening the event file on first use (TensorBoard is
        imported then). The file is unbuffered: what is written is visible to a live TensorBoard."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        if self._file is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            stamp = f"{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_file_counter)}"
            name = f"events.out.tfevents.{stamp}"  # TensorBoard's own naming: one file per writer
            self._file = open(self.run_dir / name, "ab", buffering=0)  # noqa: SIM115 (closed in close())
            events = [Event(wall_time=time.time(), file_version="brain.Event:2"), *events]
        records = io.BytesIO()
        writer = RecordWriter(records)
        for event in events:
            writer.write(event.SerializeToString())
        try:
            self._file.write(records.getbuffer())
        except OSError as exc:  # name the file: the run reports where it could not write
            raise OSError(exc.errno, exc.strerror, self._file.name) from exc

    def scalar(self, tag: str, value: float, step: int) -> None:
        now = time.time()  # the event's wall time is when it was logged, not when it is written
        self._pending.append((tag, float(value), step, now))
        if now - self._last_flush >= self.flush_secs:
            self.flush()

    def flush(self) -> None:
        """Write the scalars logged since the last flush."""
        self._last_flush = time.time()
        if not self._pending:
            return
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        pending, self._pending = self._pending, []
        self._write(
            [
                Event(wall_time=wall, step=step, summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)]))
                for tag, value, step, wall in pending
            ]
        )

    def image(self, tag: str, png: bytes, step: int) -> None:
        """A PNG picture, written at once (the Images tab)."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk
        image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
        self.flush()
        self._write(
            [Event(wall_time=time.time(), step=step, summary=Summary(value=[Summary.Value(tag=tag, image=image)]))]
        )

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        tagged = {f"final/{tag}": value for tag, value in metrics.items()}
        _experiment, session_start, session_end = hparams_summary(hparams, tagged)
        self.flush()
        # The experiment header is left out on purpose: TensorBoard would take one run's copy for the
        # whole sweep and mark every hyperparameter as not varying. Without it, the HParams plugin
        # builds the table from all runs' session infos and flags the columns that differ (loss, seed).
        self._write([Event(wall_time=time.time(), step=0, summary=s) for s in (session_start, session_end)])
        # The HParams tab reads each metric from the scalar of the same tag in this run.
        for tag, value in tagged.items():
            self.scalar(tag, value, 0)
        self.flush()

    def positions(self) -> dict[str, int]:
        """The size of every event file of the run: where a checkpoint taken now stands (what was
        logged is flushed first, so every record so far is whole in its file)."""
        self.flush()
        return event_file_sizes(self.run_dir)

    def close(self) -> None:
        try:
            self.flush()
        finally:  # closed even when the last write fails (a full disk)
            if self._file is not None:
                self._file.close()
                self._file = None


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
