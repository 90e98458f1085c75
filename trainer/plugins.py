"""What users bring: their own losses, models and data, named by a dotted path.

    loss.target=my_losses.EntropyCE         a class or function in my_losses.py of the current folder
    _target_: my_models.Net                 the same in a config file of the user's own folder

``import_target`` finds the object (the current folder is on the import path, as for
``python -m``), ``check_arguments`` compares the arguments a config sets with those the object takes,
and ``call_with`` passes what the harness knows (input shape, number of outputs, ...) to the
arguments of those names. Every mistake is one ``UserError`` line; an exception raised *inside* the
user's code is left alone, and :func:`user_traceback` shows its frames in the user's files.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from .errors import UserError
from .registry import did_you_mean

# Objects handed over in Python (``trainer.run(..., loss=obj)``) instead of named in the config:
# group -> the label the config's ``target`` holds -> the object.
PROVIDED: dict[str, dict[str, Any]] = {}


def provided(group: str, label: Any) -> Any:
    """The object given to ``trainer.run`` for ``group`` under ``label``, or None."""
    return PROVIDED.get(group, {}).get(label) if isinstance(label, str) else None


def _folder_on_path() -> str:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # the `losslab` script starts with its own folder first, not the cwd
    return cwd


def import_target(dotted: Any, key: str) -> Any:
    """The object ``module.name`` (or ``package.module.name.attr``) names; ``key``: the config key, for messages."""
    if not isinstance(dotted, str) or "." not in dotted.strip(". "):
        raise UserError(
            f"{key}={dotted!r} must name an object as module.name, e.g. {key}=my_losses.EntropyCE for class "
            "EntropyCE in my_losses.py of the current folder"
        )
    cwd = _folder_on_path()
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest importable module, then attributes
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue  # this prefix is not a module; a shorter one may be
            raise  # the user's module imports something missing: their traceback says where
        return _attribute(module, parts[cut:], dotted, key)
    raise UserError(
        f"{key}={dotted}: cannot import module {parts[0]!r}: no {parts[0]}.py or package {parts[0]}/ in the current "
        f"folder {cwd} (which is on the import path) nor an installed module of that name; run from the folder "
        "that holds it, or add its folder to PYTHONPATH"
    )


def _attribute(module: Any, names: list[str], dotted: str, key: str) -> Any:
    obj = module
    for i, name in enumerate(names):
        if not hasattr(obj, name):
            where = ".".join([module.__name__, *names[:i]])
            source = getattr(module, "__file__", None) if i == 0 else None
            defined = defined_names(obj)
            raise UserError(
                f"{key}={dotted}: {where}{f' ({source})' if source else ''} defines no {name!r}"
                f"{did_you_mean(name, defined)}. It defines: {', '.join(defined) or '(no classes or functions)'}"
            )
        obj = getattr(obj, name)
    return obj


def defined_names(obj: Any) -> list[str]:
    """The public classes and functions a module defines itself (not those it imports)."""
    module_name = getattr(obj, "__name__", None)
    return sorted(
        name
        for name, value in vars(obj).items()
        if not name.startswith("_")
        and callable(value)
        and (not inspect.ismodule(obj) or getattr(value, "__module__", module_name) == module_name)
    )


def describe(obj: Any) -> str:
    """'my_losses.EntropyCE' for a class or function, 'an EntropyCE object' for an instance."""
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__name__} object"


def check_module_kind(obj: Any, key: str, dotted: str, what: str, functions: bool) -> None:
    """``obj`` must be an nn.Module class or instance (or, where ``functions``, any callable)."""
    if inspect.isclass(obj):
        if not issubclass(obj, nn.Module):
            raise UserError(
                f"{key}={dotted} is the class {obj.__name__}, which is not a torch.nn.Module; a {what} must "
                f"subclass nn.Module{' or be a function' if functions else ''}"
            )
        return
    if isinstance(obj, nn.Module):
        return
    if not callable(obj):
        raise UserError(f"{key}={dotted} is {describe(obj)}, which cannot be called; name a class or a function")
    if not functions:
        raise UserError(
            f"{key}={dotted} is the function {getattr(obj, '__name__', obj)!r}; a {what} must be an nn.Module class "
            "(a function that builds one: wrap it in an nn.Module subclass)"
        )


def parameters(obj: Any, skip: int = 0) -> tuple[dict[str, inspect.Parameter], bool]:
    """The named parameters ``obj`` takes (a class: its constructor's), after the first ``skip``
    positional ones; and whether it also takes ``**kwargs``."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature: take it on trust
        return {}, True
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    skipped = {p.name for p in positional[:skip]}
    named = {p.name: p for p in params if p.name not in skipped and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def check_arguments(
    obj: Any, given: Mapping[str, Any], what: str, where: str, provided: tuple[str, ...] = (), skip: int = 0
) -> None:
    """Every argument in ``given`` must be one ``obj`` takes; every required one must be given or
    ``provided`` by the harness. ``what`` names the object in messages (``loss.target=my_losses.Foo``),
    ``where`` is the config node its arguments are set in (``loss``)."""
    params, any_keyword = parameters(obj, skip)
    taken = ", ".join(p for p in params if p not in provided) or "(none)"
    if not any_keyword:
        for name in given:
            if name not in params:
                raise UserError(
                    f"{what} takes no argument {name!r}{did_you_mean(str(name), params)}. It takes: {taken}"
                )
    for name, p in params.items():
        if p.default is p.empty and name not in given and name not in provided:
            raise UserError(f"{what} needs its argument {name!r}: set {where}.{name}=<value>. It takes: {taken}")


def call_with(obj: Callable[..., Any], given: Mapping[str, Any], harness: Mapping[str, Any]) -> Any:
    """``obj(**given)``, plus the ``harness`` values for the arguments of those names it takes."""
    params, _ = parameters(obj)
    extra = {name: value for name, value in harness.items() if name in params and name not in given}
    return obj(**given, **extra)


# ---------------------------------------------------------------- tracebacks in the user's files


def _harness_roots() -> tuple[str, ...]:
    here = Path(__file__).resolve().parent
    ours = [str(here), str(here.parent / "losses"), str(here.parent / "hydra_plugins")]
    paths = sysconfig.get_paths()
    libraries = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(str(Path(p).resolve()) + os.sep for p in (*ours, *libraries))


def is_user_file(filename: str) -> bool:
    """Whether a frame's file is the user's: neither losslab's, nor the standard library's or an installed package's."""
    if filename.startswith("<"):
        return False
    resolved = str(Path(filename).resolve())
    return not any(resolved.startswith(root) or resolved + os.sep == root for root in _harness_roots())


def user_traceback(exc: BaseException) -> str | None:
    """The traceback of ``exc`` from the first frame in the user's own files on, without losslab's
    frames; None when no frame is the user's (then it is losslab's bug or a library's)."""
    frames = traceback.extract_tb(exc.__traceback__)
    first = next((i for i, f in enumerate(frames) if is_user_file(f.filename)), None)
    if first is None:
        return None
    shown = [f for f in frames[first:] if is_user_file(f.filename) or not f.filename.startswith(_harness_roots()[:3])]
    lines = ["Traceback (most recent call last; your code's frames):\n", *traceback.format_list(shown)]
    lines += traceback.format_exception_only(type(exc), exc)
    last = next(f for f in reversed(frames) if is_user_file(f.filename))
    lines.append(
        f"error: your code raised {type(exc).__name__} at {last.filename}, line {last.lineno}, in {last.name} "
        "(the whole traceback: HYDRA_FULL_ERROR=1)\n"
    )
    return "".join(lines)
