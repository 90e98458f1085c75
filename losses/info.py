"""What the loss registry knows about one loss (``LossInfo``), and the errors of choosing one."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from torch import nn

from trainer.errors import UserError

# Constructor arguments the harness fills in and the user never sets: they are left out of a loss's
# ``params()``, hence of its schema, its conf/loss/<name>.yaml and --help. ``class_counts``: the
# per-class counts of the training labels, given to a loss whose constructor takes it (``losses.build``).
CLASS_COUNTS = "class_counts"
HARNESS_PARAMS = ("task", CLASS_COUNTS)


class LossError(UserError, ValueError):
    """A user-facing mistake in choosing or configuring a loss (unknown name, wrong task, bad parameter)."""


class UnknownLossError(LossError):
    pass


class LossDoesNotFitTaskError(LossError):
    pass


@dataclass(frozen=True)
class LossInfo:
    """What the registry knows about one loss."""

    name: str
    cls: type[nn.Module]
    natural_task: str
    # task -> "native" or a short description of the adaptation ("one-hot targets", "2-way head", ...)
    fits: dict[str, str]
    # task -> why it does not fit (only for tasks where a user might reasonably try it)
    why_not: dict[str, str] = field(default_factory=dict)
    needs_output: str = "logits"
    needs_target: str = ""
    summary: str = ""

    def params(self) -> dict[str, inspect.Parameter]:
        """The loss's own parameters: its constructor's keyword arguments, minus those the harness
        fills in (``HARNESS_PARAMS``: ``task``, ``class_counts``)."""
        signature = inspect.signature(self.cls.__init__)
        return {
            name: p
            for name, p in signature.parameters.items()
            if name not in ("self", *HARNESS_PARAMS) and p.kind is p.KEYWORD_ONLY
        }

    @property
    def needs_class_counts(self) -> bool:
        """Whether the constructor takes ``class_counts`` (``losses.build`` computes it from the labels)."""
        return CLASS_COUNTS in inspect.signature(self.cls.__init__).parameters

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params().items()}

    def schema(self) -> type:
        """A dataclass with the loss's name and typed parameters, made from its constructor (the
        Hydra schema that types its arguments)."""
        hints = typing.get_type_hints(self.cls.__init__) if self.params() else {}
        fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=self.name))]
        for name, param in self.params().items():
            kind = _schema_type(hints.get(name, Any), param.default)
            fields.append((name, kind, dataclasses.field(default=param.default)))
        return dataclasses.make_dataclass(f"{self.cls.__name__}Config", fields)


def _schema_type(annotation: Any, default: Any) -> Any:
    """The OmegaConf type for a loss parameter: its annotation, or Any for unions like 'list | str'."""
    if isinstance(annotation, str):
        annotation = {"float": float, "int": int, "str": str, "bool": bool}.get(annotation, Any)
    if annotation in (float, int, str, bool):
        return Optional[annotation] if default is None else annotation  # noqa: UP045  (a runtime type for OmegaConf)
    return Any
