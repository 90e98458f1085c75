"""One small registry class for everything picked by name: tasks, losses, datasets, models, optimisers,
schedulers.

    MODELS = Registry("model")

    @MODELS.register("mlp", schema=MLPConfig)
    def mlp(cfg, input_shape, out_features): ...

    MODELS.get("mlp")          # the builder
    MODELS.meta("mlp")         # {"schema": MLPConfig}
    MODELS.get("mpl")          # UnknownName: unknown model 'mpl' (did you mean mlp?). Models: cnn, mlp, ...

Modules register their objects with the registry instances below (fvcore's ``Registry``, timm's
``register_model``); a package's ``__init__`` imports its modules to gather them, so no module ever
imports the package that imports it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class UnknownName(UserError, LookupError):
    """A name that no entry of a registry has; the message names the nearest ones and all of them."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean focal?)' for the closest of ``choices``, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _same_definition(old: Any, new: Any) -> bool:
    """Whether ``new`` is ``old`` defined again: a module imported afresh (a notebook's reload)."""
    old, new = getattr(old, "cls", old), getattr(new, "cls", new)  # losses register a LossInfo
    names = ("__module__", "__qualname__")
    return all(getattr(old, n, None) is not None and getattr(old, n, None) == getattr(new, n, None) for n in names)


class Registry(Generic[T]):
    """Named entries of one kind, each an object with optional metadata."""

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._objects: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, obj: T | None = None, **meta: Any) -> Any:
        """Add ``obj`` under ``name``; without ``obj``, a decorator that adds what it decorates."""

        def add(target: T) -> T:
            if name in self._objects and not _same_definition(self._objects[name], target):
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._objects[name] = target
            self._meta[name] = dict(meta)
            return target

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        try:
            return self._objects[name]
        except KeyError:
            raise UnknownName(self.unknown(name)) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._meta[name]

    def unknown(self, name: str, choices: Iterable[str] | None = None) -> str:
        """The message for an unknown ``name``: the nearest names, then every name to choose from."""
        names = sorted(self._objects) if choices is None else list(choices)
        return (
            f"unknown {self.kind} {name!r}{did_you_mean(name, names)}. {self.plural.capitalize()}: {', '.join(names)}"
        )

    def names(self, where: Callable[[str, dict[str, Any]], bool] | None = None) -> list[str]:
        """Sorted names, or those whose (name, metadata) satisfy ``where``."""
        return sorted(n for n in self._objects if where is None or where(n, self._meta[n]))

    def __contains__(self, name: object) -> bool:
        return name in self._objects

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._objects))

    def __len__(self) -> int:
        return len(self._objects)


# The registries of losslab's trainer. Losses have theirs in losses.registry, built on the same class.
TASKS: Registry = Registry("task")
DATASETS: Registry = Registry("dataset")
MODELS: Registry = Registry("model")
OPTIMIZERS: Registry = Registry("optimiser")
SCHEDULERS: Registry = Registry("scheduler")
