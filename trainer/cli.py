"""Command line: ``python -m trainer [overrides]`` (Hydra), and how it speaks to users.

Every mistake in the command line or the config ends the same way: one line ``error: ...`` that says
what is wrong and names the nearest valid choices, exit status 2, no traceback (HYDRA_FULL_ERROR=1
shows it). ``--help`` lists what a user can choose, and the keys of the current choices.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import config as _config
from . import plugins
from .errors import UserError
from .models import resolve_name
from .registry import DATASETS, did_you_mean
from .train.distributed import cleanup, is_main, share_run_stamp
from .train.signals import EXIT_CODES, Interrupted, resume_command, resume_sweep_command

# The configs ship inside the installed package (trainer/conf); a source checkout keeps them at the top.
_PACKAGED = Path(__file__).resolve().parent / "conf"
CONF_DIR = str(_PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[1] / "conf")
# The config groups a user picks from, in the order --help lists them.
GROUPS = ("task", "loss", "model", "data", "optim", "scheduler", "experiment", "hparams_search", "hydra/launcher")
# Whether the user asked for tracebacks (HYDRA_FULL_ERROR=1); cli() sets HYDRA_FULL_ERROR=1 for Hydra itself.
FULL_ERROR = "LOSSLAB_FULL_ERROR"
log = logging.getLogger("losslab")
INTERRUPTED = (
    "\ninterrupted (Ctrl-C): stopped at once, without a checkpoint of this moment. A run that had saved "
    "one continues from it with trainer.resume=true (and the same overrides)."
)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | dict | None:
    from .train import train  # heavy imports only once the config is known to be valid

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        # Sweeps skip finished jobs, resume interrupted ones and record failures instead of stopping.
        from .sweep import run_sweep_job

        try:
            return run_sweep_job(cfg, run_dir, train)
        except Interrupted as exc:  # SIGINT/SIGTERM: the job saved a checkpoint; stop the whole sweep
            _stopped(exc, resume_sweep_command(Path(HydraConfig.get().sweep.dir), sys.argv[1:]))
    try:
        _config.check_config(cfg)
        results = train(cfg, run_dir)
    except Interrupted as exc:
        _stopped(exc, resume_command(run_dir, _overrides()))
    except UserError as exc:
        remove_if_empty(run_dir)  # Hydra made the folder; a refused run leaves nothing behind
        if os.environ.get(FULL_ERROR) == "1":
            raise
        message = str(exc)
        if getattr(exc, "resumable", False):  # a failed write: say how to go on once there is room
            message += f"; once it can be written, resume with: {resume_command(run_dir, _overrides())}"
        # Here, not in cli(): an exception leaving this function makes Hydra print a line of its own.
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:
        yours = None if os.environ.get(FULL_ERROR) == "1" else plugins.user_traceback(exc)
        if yours is None:
            raise  # losslab's own bug, or a library's: the whole traceback
        remove_if_empty(run_dir)
        print(yours, file=sys.stderr, end="")  # the user's loss, model or data raised: their frames
        sys.exit(1)
    main_key = f"val/{cfg.task.main_metric}"
    if is_main():  # under torchrun, rank 0 speaks for all
        print(_summary(cfg, run_dir, results))
    return results.get(main_key)


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task)


def _stopped(exc: Interrupted, command: str) -> None:
    """After SIGINT/SIGTERM: say where the checkpoint is and how to go on; exit 130 / 143."""
    print(f"\n{exc}; checkpoint saved to {exc.checkpoint}\nresume with:\n  {command}", file=sys.stderr, flush=True)
    sys.exit(exc.exit_code)


def _summary(cfg: DictConfig, run_dir: Path, results: dict) -> str:
    shown = ", ".join(f"{k}={v:.4f}" for k, v in results.items() if k.startswith("test/")) or "(no test)"
    return (
        f"\n{cfg.task.name} / loss={cfg.loss.name}: {shown}\n"
        f"  {results['epochs']} epochs in {results['wall_time_s']:.1f}s; best epoch {results['best_epoch']}\n"
        f"  run directory: {run_dir}\n"
        f"  view the curves: tensorboard --logdir {run_dir} --host localhost"
    )


def remove_if_empty(run_dir: Path) -> None:
    """Remove ``run_dir`` if it is empty, then its empty parents inside the working directory."""
    folder, cwd = run_dir.resolve(), Path.cwd().resolve()
    while folder != cwd:
        try:
            folder.rmdir()
        except OSError:  # not empty, or not ours to remove
            return
        folder = folder.parent
        if not folder.is_relative_to(cwd):
            return


def cli() -> None:
    """``python -m trainer``; under torchrun, the processes first agree on one run directory."""
    if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        print_help([a for a in sys.argv[1:] if a not in ("--help", "-h")])
        exit_now(0)
    share_run_stamp()
    user_full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ[FULL_ERROR] = "1" if user_full_error else "0"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors instead of printing them: we say them in one line
    try:
        main()
    except SystemExit as exc:  # a stopped run (130/143), a failed grid sweep (1)
        cleanup(wait_for_others=False)
        exit_now(exc.code)
    except KeyboardInterrupt:  # Ctrl-C before the step loop could take it as a stop request, or a second one
        cleanup(wait_for_others=False)
        if user_full_error:
            raise
        print(INTERRUPTED, file=sys.stderr)
        exit_now(130)
    except Exception as exc:
        cleanup(wait_for_others=False)  # the others may be inside a collective; torchrun stops them
        message = user_message(exc)
        if message is None or user_full_error:
            raise  # a bug (ours or in the user's own code): the traceback shows where
        print(f"error: {message}", file=sys.stderr)
        exit_now(2)
    cleanup(wait_for_others=True)
    exit_now(0)


def exit_now(code: object) -> NoReturn:
    """Exit without Python's module-by-module interpreter teardown.

    Once torch._dynamo is imported (every torch.optim optimiser imports it) that teardown takes most
    of a second, paid by every run after its last line of output. Everything losslab writes is closed
    by now; the atexit handlers (logging's final flush, multiprocessing's clean-up) still run, then
    the standard streams are flushed. ``code`` as in ``sys.exit``.
    """
    for sig in EXIT_CODES:  # SIGINT, SIGTERM: a (second) one now would only cut the exit handlers short
        signal.signal(sig, signal.SIG_IGN)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()  # CPython's own routine for these handlers; there is no public one
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


# ---------------------------------------------------------------- errors in one line


def user_message(exc: BaseException) -> str | None:
    """The one-line message for a user's mistake (a UserError, or Hydra's and OmegaConf's config
    errors); None for anything else, which is a bug to show with its traceback."""
    from hydra.errors import HydraException, InstantiationException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, InstantiationException) and isinstance(exc.__cause__, HydraException | UserError):
        return _first_line(str(exc.__cause__))  # a plugin (the sweeper) refused its options: its own words
    if isinstance(exc, MissingConfigException):
        return _missing_option(exc)
    if isinstance(exc, OverrideParseException):
        return f"cannot read the override: {_first_line(str(exc))}"
    if isinstance(exc, HydraException):
        return _composition_error(exc)
    if isinstance(exc, OmegaConfBaseException):
        return _omegaconf_error(exc)
    return None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _user_folders(argv: list[str] | None = None) -> list[Path]:
    """The ``file://`` folders of a ``hydra.searchpath=[...]`` override: the user's own option files."""
    folders = []
    for arg in sys.argv[1:] if argv is None else argv:
        key, _, value = arg.lstrip("+").partition("=")
        if key == "hydra.searchpath":
            for item in value.strip("[]").split(","):
                item = item.strip().strip("'\"")
                if item.startswith("file://"):
                    folders.append(Path(item[len("file://") :]))
    return folders


def _options(group: str, argv: list[str] | None = None) -> list[str]:
    """The options of a config group: its files, and those of the user's folders, without the schemas."""
    names: set[str] = set()
    for root in (Path(CONF_DIR), *_user_folders(argv)):
        folder = root / group
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(n for n in names if not n.startswith("schema_"))


def _missing_option(exc: Any) -> str:
    path = str(exc.missing_cfg_file or "")
    group, _, name = path.rpartition("/")
    if not group:
        return _first_line(str(exc))
    options = [o for o in (exc.options or _options(group)) if not o.startswith("schema_")]
    kind = {"data": "dataset", "optim": "optimiser", "hydra/launcher": "launcher"}.get(group, group.replace("_", " "))
    yours = (
        "" if _user_folders() else f"; your own {group}/{name}.yaml is found with hydra.searchpath=[file://<folder>]"
    )
    return f"unknown {kind} {name!r}{did_you_mean(name, options)}. Choose {group}= one of: {', '.join(options)}{yours}"


def _composition_error(exc: BaseException) -> str:
    from omegaconf.errors import OmegaConfBaseException

    text = str(exc)
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None)
        unknown = re.match(r"Could not override '([^']+)'", text)
        if unknown and key:
            return _unknown_key(str(key), getattr(cause, "object_type", None))
        return f"{_first_line(text)}: {_omegaconf_error(cause)}"
    group = re.match(r"Could not override '([^'.]+)'\. No match in the defaults list", text)
    if group:
        name = group.group(1)
        return f"unknown option group {name!r}{did_you_mean(name, GROUPS)}. Groups: {', '.join(GROUPS)}"
    return _first_line(text)


def _unknown_key(key: str, object_type: Any) -> str:
    parent, _, leaf = key.rpartition(".")
    if object_type is not None and dataclasses.is_dataclass(object_type):
        keys = [f.name for f in dataclasses.fields(object_type) if f.name != "name"]
        where = f"{parent} " if parent else "the config "
        return f"{where}has no key {key}{did_you_mean(leaf, keys)}. Its keys: {', '.join(keys)}"
    return f"there is no key {key}; a new key needs +{key}=..., and only keys a schema reads are accepted"


def _omegaconf_error(exc: BaseException) -> str:
    key = getattr(exc, "full_key", None)
    message = _first_line(str(exc))
    return f"{key}: {message}" if key and key not in message else message


# ---------------------------------------------------------------- --help


def print_help(overrides: list[str]) -> None:
    """What a user can choose, and the keys of the choices these overrides make (defaults: the task's)."""
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("config", overrides=[o for o in overrides if not o.startswith("-")])
        chosen = (o.lstrip("+").split("=", 1) for o in overrides if "=" in o)
        _config.check_config(cfg, {key: value for key, value in chosen if "." not in key and "/" not in key})
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        exit_now(2)
    width = shutil.get_terminal_size((100, 20)).columns
    lines = [
        "losslab: train a model with a loss on a task, log to TensorBoard, compare losses end to end.",
        "",
        "usage: python -m trainer [group=option ...] [key=value ...]",
        "       python -m trainer -m key=a,b,c ...         a sweep: one job per combination",
        "       python -m trainer task=binary --help       the keys of those choices",
        "",
        f"Groups (choose one option of each; the losses listed fit task={cfg.task.name}):",
    ]
    for group in GROUPS:
        options = _options(group, overrides)
        if group == "loss":  # the built-in losses that fit the task; custom, combo and the user's files
            import losses

            fit = losses.available(cfg.task.name)
            options = [o for o in options if o in fit or o not in losses.LOSSES]
        lines.append(_wrap(f"  {group + ':':<16} ", ", ".join(options), width))
    lines += ["", "Keys of these choices (key=value to change one):"]
    for group in ("task", "loss", "model", "data", "optim", "scheduler", "trainer"):
        node = cfg[group]
        name = str(node.get("name", ""))
        if group == "model" and name == "auto":  # the keys are those of the model auto stands for
            kind = DATASETS.meta(cfg.data.name)["kind"]
            name = resolve_name("auto", kind) if kind else "auto"
            lines.append(
                f"  model (auto: {name} for this data)"
                if kind
                else "  model (auto: cnn for images, cnn1d for signals, mlp else)"
            )
        else:
            lines.append(f"  {group}" + (f" ({name})" if name and group != "task" else ""))
        docs = _key_docs(group, name)
        for key, value in _flat_items(node, docs):
            if key == "name" and group != "task":
                continue
            shown = f"{group}.{key}={_value(value)}"
            lines.append(f"    {shown:<36} {docs.get(str(key), '')}".rstrip())
        owner = node.get("target") or node.get("_target_")
        for key, default in _target_arguments(group, node):
            lines.append(f"    {f'{group}.{key}={_value(default)}':<36} an argument of {owner}")
    lines += ["", f"  seed={cfg.seed}    tag={cfg.tag!r}", "", "More: README.md; Hydra's own options: --hydra-help"]
    print("\n".join(lines))


# The keys of what users bring (their schemas are open: the other keys are their own arguments).
OPEN_KEY_DOCS = {
    "target": "your own: module.name of a class or function (in the current folder)",
    "_target_": "your own: module.name of a class or function (in the current folder)",
    "terms": "one entry per term: {weight: w, <the term's arguments>}",
}


def _target_arguments(group: str, node: Any) -> list[tuple[str, Any]]:
    """The arguments of a user's loss, model or data function that the config leaves at their defaults."""
    import inspect

    dotted = node.get("target") or node.get("_target_") if group in ("loss", "model", "data") else None
    if not isinstance(dotted, str):
        return []
    try:
        obj = plugins.import_target(dotted, f"{group}.target")
    except UserError:
        return []
    skip = 2 if group == "loss" and inspect.isfunction(obj) else 0
    params, _ = plugins.parameters(obj, skip)
    provided = {"loss": ("task", "num_classes"), "data": ("task", "split_seed")}.get(group, ())
    provided = provided or ("input_shape", "in_features", "in_channels", "out_features", "num_classes")
    return [
        (name, None if p.default is p.empty else p.default)
        for name, p in params.items()
        if name not in node and name not in provided
    ]


def _key_docs(group: str, name: str) -> dict[str, str]:
    from .data.custom import CustomDataConfig

    schema = {"task": _config.TaskConfig, "trainer": _config.TrainerConfig}.get(group)
    if schema is None:
        known = _config.group_schemas().get(group, {})
        schema = CustomDataConfig if (group, name) == ("data", "custom") else known.get(name)
    if schema is None:
        return dict(OPEN_KEY_DOCS)
    return {**OPEN_KEY_DOCS, **_field_docs(schema)}


def _field_docs(schema: Any, prefix: str = "") -> dict[str, str]:
    """key -> help of a schema's fields; a nested schema's as ``outer.inner`` (trainer.early_stopping.patience)."""
    docs = {}
    for f in dataclasses.fields(schema):
        nested = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(nested):
            docs.update(_field_docs(type(nested), f"{prefix}{f.name}."))
        else:
            docs[prefix + f.name] = f.metadata.get("help", "")
    return docs


def _flat_items(node: Any, docs: dict[str, str], prefix: str = "") -> list[tuple[str, Any]]:
    """A node's keys and values, with a nested schema's keys spelled out (those ``docs`` names)."""
    from omegaconf import OmegaConf

    items = []
    for key, value in node.items():
        name = f"{prefix}{key}"
        if OmegaConf.is_dict(value) and any(k.startswith(name + ".") for k in docs):
            items += _flat_items(value, docs, name + ".")
        else:
            items.append((name, value))
    return items


def _value(value: Any) -> str:
    from omegaconf import OmegaConf

    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    return value if isinstance(value, str) else json.dumps(value).replace(" ", "")


def _wrap(prefix: str, text: str, width: int) -> str:
    import textwrap

    return textwrap.fill(text, width=max(60, width), initial_indent=prefix, subsequent_indent=" " * len(prefix))
