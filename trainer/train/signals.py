"""Graceful stop on SIGINT / SIGTERM: finish the current step, write a checkpoint, say how to resume.

The training loop polls :attr:`StopRequest.requested` between optimiser steps (a plain Python
attribute: no device synchronisation). A second signal while stopping aborts at once; the
checkpoint files are written atomically, so an abort never leaves a half-written one. Before the
first step there is nothing to save: Ctrl-C stops at once, and is never lost on the way.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    """Context manager for SIGINT and SIGTERM over a whole run: stop at once while it starts, then
    at a step boundary with a checkpoint.

    Entered before the run builds anything. Until :meth:`arm` there is nothing to save, so Ctrl-C
    stops at once, as Python's own handler does (KeyboardInterrupt), and SIGTERM keeps its previous
    behaviour. The Ctrl-C is also remembered: third-party code running in that window may swallow
    the exception (building the optimiser imports ``torch._dynamo``, which imports ``mpmath``, whose
    backend probe has a bare ``except:``), and :meth:`arm` raises it again, so it is never lost.
    Raised inside a callback that cannot pass it on (the weakref callbacks of importlib's module
    locks), Python would print it as "Exception ignored ... KeyboardInterrupt" and go on; that
    print is left out, as :meth:`arm` stops the run anyway. Code that must not be interrupted at
    all runs inside :meth:`deferred`.

    From :meth:`arm` on, either signal only sets :attr:`signum`; the training loop polls
    :attr:`requested` between steps. A second signal then aborts at once.

    Handlers can only be installed from the main thread; elsewhere (a thread pool) the signals keep
    their previous behaviour and :attr:`requested` stays False.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._armed = False
        self._previous: dict[int, object] = {}
        self._previous_unraisablehook: Callable[[sys.UnraisableHookArgs], object] | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def interrupted_while_starting(self) -> bool:
        """A Ctrl-C arrived before :meth:`arm`: whatever error followed it in start-up, it is what stops the run."""
        return self.signum is not None and not self._armed

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous_unraisablehook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        self._install({signal.SIGINT: self._interrupt_now})
        return self

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold SIGINT and SIGTERM until the end of this block, then act on them as before it.

        For code that cannot be interrupted. Building the optimiser imports ``torch._dynamo``, which
        imports triton, whose C++ module set-up aborts the whole process (SIGABRT, "terminate called
        after throwing an instance of 'nanobind::python_error'") when a KeyboardInterrupt is raised
        inside it: 2 of 200 Ctrl-Cs at random moments of that import did. The block takes about a
        second, once per process.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        held: list[int] = []
        saved = {
            sig: signal.signal(sig, lambda signum, _frame: held.append(signum))
            for sig in EXIT_CODES
            if signal.getsignal(sig) is not signal.SIG_IGN
        }
        try:
            yield
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
            if held:  # delivered now, to the handler it would have reached
                signal.raise_signal(held[0])

    def arm(self) -> None:
        """The step loop starts: from now on a signal is a request to stop at the next step boundary."""
        if self.signum is not None:  # a Ctrl-C during start-up, swallowed on its way out
            raise KeyboardInterrupt
        self._armed = True
        self._install(dict.fromkeys(EXIT_CODES, self._handle))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        if self._previous_unraisablehook is not None:
            sys.unraisablehook, self._previous_unraisablehook = self._previous_unraisablehook, None

    def _install(self, handlers: dict[int, Callable[[int, FrameType | None], None]]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in handlers.items():
            if signal.getsignal(sig) is signal.SIG_IGN:  # e.g. SIGINT of a background job: keep ignoring it
                continue
            previous = signal.signal(sig, handler)
            self._previous.setdefault(sig, previous)  # the handler from before the run, restored on exit

    def _interrupt_now(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        raise KeyboardInterrupt

    def _unraisable(self, unraisable: sys.UnraisableHookArgs) -> None:
        if unraisable.exc_type is KeyboardInterrupt and self.interrupted_while_starting:
            return  # the start-up Ctrl-C, lost in a callback: arm() raises it again
        (self._previous_unraisablehook or sys.__unraisablehook__)(unraisable)

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
