"""losslab's trainer: ``python -m trainer loss=<loss> task=<task>``, or ``trainer.run([...])`` from Python."""

from typing import Any


def __getattr__(name: str) -> Any:
    # Imported on first use: `python -m trainer` does not pay for what only Python callers need.
    if name in ("run", "compose"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")
