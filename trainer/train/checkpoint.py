"""Checkpoint files: written atomically with one previous generation kept, read with ``weights_only=True``.

A run directory holds ``checkpoints/last.pt`` (the newest state), ``checkpoints/last.prev.pt`` (the
one before it) and ``checkpoints/best.pt`` (the epoch with the best main validation metric). Every
file holds the whole training state, so any of them can continue a run; :func:`load_latest` takes
the newest one that reads back, and says so when it has to fall back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError

LAST, PREVIOUS, BEST = "last.pt", "last.prev.pt", "best.pt"


class WriteError(UserError):
    """The run could not write a file into its folder: the disk is full, the folder is not writable, or
    it was removed while the run was going. The message says which, and where."""

    resumable = False  # whether a checkpoint is left to resume from


def write_failure(exc: BaseException, path: Path) -> WriteError:
    """A one-line :class:`WriteError` for an OSError (or torch's RuntimeError of a failed write) on ``path``."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk is full"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "the folder is not writable"
    elif code == errno.ENOENT and not path.parent.exists():
        what = "its folder was removed while the run was going"
    elif isinstance(exc, OSError):
        what = os.strerror(code) if code else str(exc)
    else:  # torch's writer reports a short write as a RuntimeError; the space left says why
        free = _free_bytes(path.parent)
        what = "the disk is full" if free is not None and free < 1 << 20 else f"the write failed ({_first_line(exc)})"
    return WriteError(f"cannot write {path}: {what}")


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[-1].strip()


# Keys every losslab checkpoint has; a file without them is not one.
REQUIRED_KEYS = frozenset({"model", "optimizer", "scheduler", "epoch", "global_step", "rng", "config"})


def save_atomic(state: dict[str, Any], path: Path, keep_previous: bool = False) -> None:
    """Write ``state`` to ``path`` so that a crash leaves either the old file or the new one, never half.

    The bytes go to a temporary file in the same folder, are flushed and fsynced, then renamed over
    ``path`` (rename is atomic on POSIX); the folder is fsynced so the rename itself survives a crash.
    With ``keep_previous`` the file being replaced is first renamed to ``<stem>.prev.pt``, so that a
    later corrupted ``path`` (disk full, a copy cut short) still leaves one good generation behind.
    A failed write (disk full, folder not writable or removed) removes the temporary file, leaves
    ``path`` as it was and raises a :class:`WriteError`.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, (OSError, RuntimeError)):
            raise write_failure(exc, path) from exc
        raise
    if keep_previous and path.exists():
        # Between these two renames only the .prev file exists; load_latest falls back to it.
        os.replace(path, previous_path(path))
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def duplicate_atomic(source: Path, path: Path) -> None:
    """Make ``path`` hold the same bytes as ``source`` (a file :func:`save_atomic` wrote), atomically.

    A hard link where the filesystem has them: no second serialisation or write of the same state
    (best.pt is usually the epoch just written as last.pt). Checkpoint files are never modified in
    place, only replaced, so the two names can share one file. Elsewhere, a copy.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:  # no hard links here (some network and FAT filesystems): copy the bytes
            shutil.copyfile(source, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise write_failure(exc, path) from exc
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` survive a crash."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def previous_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a file written by :func:`save_atomic` safely (tensors and plain containers: ``weights_only=True``)."""
    if not path.exists():
        raise UserError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise UserError(
            f"checkpoint {path} is corrupt or not a losslab checkpoint ({type(exc).__name__}: {exc})"
        ) from exc


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """:func:`load`, then check that the file is a whole training state."""
    state = load(path, map_location)
    if not isinstance(state, dict) or not set(state) >= REQUIRED_KEYS:
        missing = sorted(REQUIRED_KEYS - set(state)) if isinstance(state, dict) else ["(not a dict)"]
        raise UserError(f"checkpoint {path} is not a losslab training checkpoint (missing {', '.join(missing)})")
    return state


def newest(ckpt_dir: Path) -> Path | None:
    """The checkpoint a resume would try first (see :func:`load_latest`), or None."""
    return next((p for p in (ckpt_dir / n for n in (LAST, PREVIOUS, BEST)) if p.exists()), None)


@dataclass
class Loaded:
    state: dict[str, Any]
    path: Path


def load_latest(ckpt_dir: Path, map_location: str | torch.device = "cpu") -> Loaded:
    """The newest readable checkpoint of a run: last.pt, else last.prev.pt, else best.pt.

    A file that does not read back is reported on stderr and skipped; if none reads back the run
    cannot continue and a :class:`UserError` says why (a resume never silently starts over).
    """
    candidates = [ckpt_dir / name for name in (LAST, PREVIOUS, BEST)]
    existing = [p for p in candidates if p.exists()]
    if not existing:
        raise UserError(
            f"trainer.resume=true but there is no checkpoint in {ckpt_dir}. Point hydra.run.dir at the "
            "directory of the run to resume (it has checkpoints/last.pt), or drop trainer.resume=true "
            "to start a new run."
        )
    problems: list[str] = []
    for path in existing:
        try:
            state = load_checkpoint(path, map_location)
        except UserError as exc:
            problems.append(str(exc))
            print(f"warning: {exc}; trying an earlier checkpoint", file=sys.stderr)
            continue
        if path.name != LAST:
            print(
                f"warning: resuming from {path.name} (epoch {state['epoch']}, step {state['global_step']}) "
                f"because {LAST} is missing or unreadable; training after that point is redone.",
                file=sys.stderr,
            )
        return Loaded(state, path)
    raise UserError(
        f"cannot resume: no checkpoint in {ckpt_dir} reads back ({'; '.join(problems)}). "
        "Start a new run in a new directory (drop hydra.run.dir and trainer.resume)."
    )


# ---------------------------------------------------------------- random number generators


def rng_state() -> dict[str, Any]:
    """Every global RNG's full state, as tensors and plain values (loadable with weights_only=True)."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    return {
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved (CUDA states only for the devices present now)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": np_state["bit_generator"],
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]][: torch.cuda.device_count()]
        for index, cuda_state in enumerate(cuda_states):
            torch.cuda.set_rng_state(cuda_state, index)
