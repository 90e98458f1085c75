"""Graceful stop on SIGINT / SIGTERM: finish the current step, write a checkpoint, say how to resume.

The training loop polls :attr:`StopRequest.requested` between optimiser steps (a plain Python
attribute: no device synchronisation). A second signal while stopping aborts at once; the
checkpoint files are written atomically, so an abort never leaves a half-written one.
"""

from __future__ import annotations

import os
import shlex
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType

# Exit status of a process stopped by a signal, by the shell's convention: 128 + the signal number.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(BaseException):
    """Training stopped on a signal after writing a checkpoint.

    A BaseException, like KeyboardInterrupt, so that code catching ``Exception`` (a sweep that goes
    on after one failed job) does not swallow the user's request to stop.
    """

    def __init__(self, signum: int, checkpoint: Path, epoch: int, step: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step} (epoch {epoch})")
        self.signum = signum
        self.checkpoint = checkpoint
        self.epoch = epoch
        self.step = step

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + self.signum)


class StopRequest:
    """Context manager that turns SIGINT and SIGTERM into a stop request for the training loop.

    Handlers can only be installed from the main thread; elsewhere (a thread pool) the signals keep
    their previous behaviour and :attr:`requested` stays False.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in EXIT_CODES:
                if signal.getsignal(sig) is signal.SIG_IGN:  # e.g. SIGINT of a background job: keep ignoring it
                    continue
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:  # asked twice: stop now, without the checkpoint
            os.write(2, f"\n{name} again: aborting without a checkpoint\n".encode())
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(EXIT_CODES.get(signum, 128 + signum))
        self.signum = signum
        # os.write, not print: a handler may run in the middle of another write to stderr.
        os.write(2, f"\n{name}: stopping after the current step to save a checkpoint (send again to abort)\n".encode())


def resume_command(run_dir: Path, overrides: list[str]) -> str:
    """The command that continues the run in ``run_dir``: its overrides, its directory, resume on."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith(("trainer.resume=", "hydra.run.dir="))]
    args = [*kept, f"hydra.run.dir={Path(run_dir).resolve()}", "trainer.resume=true"]
    return "python -m trainer " + " ".join(shlex.quote(a) for a in args)


def resume_sweep_command(sweep_dir: Path, argv: list[str]) -> str:
    """The command that continues a multirun: the same arguments, pinned to the same sweep folder.

    Re-running a sweep in its folder skips the jobs that finished and resumes the interrupted ones.
    """
    kept = [a for a in argv if not a.lstrip("+~").startswith("hydra.sweep.dir=")]
    args = [*kept, f"hydra.sweep.dir={Path(sweep_dir).resolve()}"]
    return "python -m trainer " + " ".join(shlex.quote(a) for a in args)
