"""A loss from its config, in any of the forms a user writes it:

    name: ce                                  a registered loss and its arguments (conf/loss/ce.yaml)
    name: custom, target: my_losses.Foo       the user's loss; its arguments beside (loss.beta=0.2)
    _target_: my_losses.Foo                   the same in a config file of the user's folder
    name: combo, terms: {ce: {}, focal: {weight: 0.5}}   a weighted sum of any of the above

:func:`resolve` checks a config without building anything (``python -m trainer`` runs it before it
writes a file); :func:`build` makes the module. A ``target`` that names a class registered with
``@losses.register`` is that registered loss, with its task checks and schema.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any

from omegaconf import OmegaConf
from torch import nn

from trainer import plugins
from trainer.errors import UserError

from .combo import Combo
from .custom import wrap
from .info import HARNESS_PARAMS, LossInfo
from .registry import LOSSES, check_fits
from .registry import build as build_registered
from .registry import info as registered_info

CUSTOM, COMBO = "custom", "combo"
# What the harness passes to a user's loss class that takes arguments of these names.
HARNESS_ARGUMENTS = ("task", "num_classes")
TERM_KEYS = ("weight", "loss", "target", "_target_")


@dataclass
class Resolved:
    """A checked loss config: a registered loss (``info``), a user's object, or a combination."""

    label: str
    args: dict[str, Any] = field(default_factory=dict)
    info: LossInfo | None = None
    obj: Any = None
    terms: list[tuple[str, float, Resolved]] = field(default_factory=list)


def _registered_class(obj: Any) -> LossInfo | None:
    return next((LOSSES.get(n) for n in LOSSES if LOSSES.get(n).cls is obj), None)


def _check_registered(info: LossInfo, task: str, args: dict[str, Any], key: str) -> None:
    check_fits(info.name, task)
    plugins.check_arguments(info.cls, args, f"loss {info.name!r} ({key})", key, HARNESS_PARAMS)
    OmegaConf.merge(OmegaConf.structured(info.schema()), {"name": info.name, **args})  # types, as a built-in's


def resolve(spec: dict[str, Any], task: str, key: str = "loss") -> Resolved:
    """Check ``spec`` (a loss config as a plain dict) for ``task``; UserError lines for every mistake."""
    spec = dict(spec)
    name = spec.pop("name", None)
    if "_target_" in spec or name == CUSTOM:
        target_key = "_target_" if "_target_" in spec else "target"
        if target_key == "target" and not spec.get("target"):
            raise UserError(f"{key}=custom needs {key}.target=<module.name>, e.g. {key}.target=my_losses.EntropyCE")
        dotted = spec.pop(target_key)
        spec.pop("target" if target_key == "_target_" else "_target_", None)
        obj = plugins.provided("loss", dotted)  # an object handed to trainer.run(loss=...)
        if obj is None:
            obj = plugins.import_target(dotted, f"{key}.{target_key}")
        return _resolve_object(obj, dotted, spec, task, key)
    if name == COMBO:
        return _resolve_combo(spec, task, key)
    loss = registered_info(str(name))
    check_fits(loss.name, task)
    plugins.check_arguments(loss.cls, spec, f"loss {loss.name!r} ({key})", key, HARNESS_PARAMS)
    return Resolved(label=loss.name, args=spec, info=loss)


def _resolve_object(obj: Any, dotted: str, args: dict[str, Any], task: str, key: str) -> Resolved:
    registered = _registered_class(obj)
    if registered is not None:
        _check_registered(registered, task, args, key)
        return Resolved(label=registered.name, args=args, info=registered)
    where = f"{key}.target"
    plugins.check_module_kind(obj, where, dotted, "loss", functions=True)
    if inspect.isclass(obj):
        plugins.check_arguments(obj, args, f"{where}={dotted}", key, HARNESS_ARGUMENTS)
    elif isinstance(obj, nn.Module):
        if args:
            raise UserError(
                f"{where}={dotted} is a loss object, already built: it takes no arguments ({', '.join(args)})"
            )
    else:  # a function (output, target, **arguments)
        plugins.check_arguments(obj, args, f"{where}={dotted}", key, skip=2)
    return Resolved(label=dotted, args=args, obj=obj)


def _resolve_combo(spec: dict[str, Any], task: str, key: str) -> Resolved:
    terms = spec.pop("terms", None) or {}
    if spec:
        raise UserError(f"{key}=combo has no key {key}.{next(iter(spec))}; its keys: terms")
    if not isinstance(terms, dict) or not terms:
        raise UserError(
            f"{key}=combo needs {key}.terms: one entry per term, e.g. {key}.terms={{ce:{{}},focal:{{weight:0.5}}}}"
        )
    resolved = []
    for label, term in terms.items():
        where = f"{key}.terms.{label}"
        term = dict(term or {}) if isinstance(term, dict) or term is None else {"weight": term}
        weight = term.pop("weight", 1.0)
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise UserError(f"{where}.weight must be a number, got {weight!r}")
        if term.get("loss") == COMBO or (term.get("loss") is None and label == COMBO):
            raise UserError(f"{where}: a combo cannot hold another combo; list its terms in {key}.terms")
        if "target" in term or "_target_" in term:
            term.pop("loss", None)
            term["name"] = CUSTOM
        else:
            term["name"] = term.pop("loss", label)
            if term["name"] == CUSTOM:
                raise UserError(f"{where}: a custom term needs target=<module.name>")
            if term["name"] not in LOSSES:
                raise UserError(
                    f"{where}: {LOSSES.unknown(str(term['name']))}; a term's label is its loss unless it sets "
                    f"loss=<name> or target=<module.name>"
                )
        resolved.append((str(label), float(weight), resolve(term, task, where)))
    return Resolved(label=COMBO, terms=resolved)


def build(resolved: Resolved, task: str, labels: Any = None, num_classes: int | None = None) -> nn.Module:
    """The loss module of a resolved config (class weights such as weight=auto from ``labels``)."""
    if resolved.terms:
        return Combo(task, {label: (w, build(term, task, labels, num_classes)) for label, w, term in resolved.terms})
    if resolved.info is not None:
        return build_registered(resolved.info.name, task, labels=labels, num_classes=num_classes, **resolved.args)
    obj = resolved.obj
    if inspect.isclass(obj):
        obj = plugins.call_with(obj, resolved.args, {"task": task, "num_classes": num_classes})
    elif not isinstance(obj, nn.Module) and resolved.args:
        obj = functools.update_wrapper(functools.partial(obj, **resolved.args), obj)
    return wrap(task, obj, resolved.label)
