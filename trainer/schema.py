"""Helpers for the option dataclasses (the schemas every composed config is checked against).

``option(default, "what it does")`` is a dataclass field with a one-line description, which
``python -m trainer --help`` shows beside the key.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def option(default: Any = None, help: str = "", *, factory: Any = None) -> Any:  # noqa: A002  (argparse's name)
    """A dataclass field with its description; ``factory`` for mutable defaults (lists, dicts)."""
    metadata = {"help": help}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def describe(schema: type) -> list[tuple[str, Any, str]]:
    """(key, default, description) for each field of a schema dataclass, ``name`` left out."""
    rows = []
    for f in dataclasses.fields(schema):
        if f.name == "name":
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        rows.append((f.name, default, f.metadata.get("help", "")))
    return rows
