"""The schemas every composed config is checked against, and the check itself.

Each group's choice has its own schema: a loss's comes from its constructor (``loss_schema``), a
dataset's, model's, optimiser's and scheduler's is the dataclass it registered with. They are in
Hydra's ConfigStore as ``<group>/schema_<name>`` (each ``conf/<group>/<name>.yaml`` starts from
its own), so a misspelled key or a value of the wrong type fails while Hydra composes. Hydra
lets ``+key=value`` past any schema; :func:`check_config` then compares every key of the composed
config with the schema of what was chosen, so nothing is silently ignored.

``RESULT_NEUTRAL_KEYS`` is the one list of keys that never change what a run computes: resume,
the sweep's folder names and skip logic, and the comparison report all read it.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import ValidationError

import losses

from . import data, models, optim, tasks  # noqa: F401  (their modules register what each holds)
from .errors import UserError
from .registry import DATASETS, MODELS, OPTIMIZERS, SCHEDULERS, TASKS, Registry, did_you_mean
from .schema import option

# Keys that never change what a run computes: a resume may change them without a warning, a sweep
# leaves them out of its folder names and counts a run finished with other values as done, and the
# report does not tell runs apart by them.
RESULT_NEUTRAL_KEYS: tuple[str, ...] = (
    "trainer.device",
    "trainer.progress",
    "trainer.resume",
    "trainer.num_threads",
    "trainer.log_flush_secs",
    "trainer.eval_batch_size",
    "trainer.compile",
)
# Keys that change a result but that a resume is meant to change: more epochs, a test at the end, a label.
RESUME_MAY_CHANGE: tuple[str, ...] = ("trainer.max_epochs", "trainer.test", "tag")
# The config groups that name a sweep's folder only through the sweep directory they set.
SWEEP_GROUPS: tuple[str, ...] = ("experiment", "hparams_search")


@dataclass
class TaskConfig:
    name: str = MISSING
    # Defaults from the task object (trainer/tasks/<name>.py), read through the losslab.task resolver.
    main_metric: str = option(
        "${losslab.task:${task.name},main_metric}", "the validation metric that picks the best epoch"
    )
    main_metric_mode: str = option(
        "${losslab.task:${task.name},mode}", "max | min: which way the main metric is better"
    )


@dataclass
class EarlyStoppingConfig:
    patience: int | None = option(None, "stop after this many validations without improvement (null: never)")
    min_delta: float = option(0.0, "an improvement of the main metric smaller than this does not count")


@dataclass
class TrainerConfig:
    max_epochs: int = option(20, "epochs to train")
    device: str = option("auto", "auto | cpu | cuda | cuda:N")
    log_every_n_steps: int = option(10, "steps between two train/loss points")
    # Values reach the event files at each epoch's end, and mid-epoch once this many seconds have passed.
    log_flush_secs: float = option(2.0, "seconds between mid-epoch event-file writes (0: every value at once)")
    eval_batch_size: int = option(1024, "batch size of validation and test")
    # Tiny epochs (a table's 13 steps) cost less than their validation; a crash then loses up to n-1 epochs.
    val_every_n_epochs: int = option(1, "validate and checkpoint every n-th epoch and the last")
    progress: bool = option(True, "a progress bar on a terminal")
    resume: bool = option(False, "continue the run in hydra.run.dir from its last checkpoint")
    on_nan: str = option("stop", "stop | skip: what a non-finite training loss does")
    grad_clip: float | None = option(None, "clip the gradients' total norm to this (null: no clipping)")
    precision: str = option("32", "32 | bf16 | fp16 (fp16 with a gradient scaler)")
    compile: bool = option(False, "torch.compile the model for training steps")
    num_threads: int | None = option(None, "torch's CPU threads (null: torch's default)")
    deterministic: bool = option(True, "deterministic kernels on GPUs and compiled code")
    test: bool = option(True, "evaluate the best checkpoint on the test split at the end")
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    loss: Any = MISSING
    model: Any = MISSING
    data: Any = MISSING
    optim: Any = MISSING
    scheduler: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = option(0, "seeds the model's initialisation and the batch order")
    tag: str = option("", "a short free-form label for this run, shown in TensorBoard's HParams tab")


# ---------------------------------------------------------------- generated schemas


class Schemas:
    """Generated schema dataclasses, under names pickle can find (``Schemas.<group>_<name>``): the
    fork launcher sends composed configs to its workers."""


def _named(schema: type, key: str) -> type:
    schema.__module__, schema.__qualname__ = __name__, f"Schemas.{key}"
    setattr(Schemas, key, schema)
    return schema


def loss_schema(info: losses.LossInfo) -> type:
    """The loss's schema (``LossInfo.schema``: its name and typed parameters), under a picklable name."""
    return _named(info.schema(), f"loss_{info.name}")


def auto_model_schema() -> type:
    """model=auto: every key of every model, unset. Which keys it may set is known once the data's kind
    picks the model (:func:`check_config`)."""
    seen: dict[str, Any] = {}
    for name in MODELS:
        for f in dataclasses.fields(MODELS.meta(name)["schema"]):
            if f.name != "name":
                seen.setdefault(f.name, dataclasses.field(default=None))
    fields = [("name", str, dataclasses.field(default="auto"))] + [(k, Any, v) for k, v in seen.items()]
    return _named(dataclasses.make_dataclass("AutoModelConfig", fields), "model_auto")


@functools.cache
def group_schemas() -> dict[str, dict[str, type]]:
    """group -> option name -> schema dataclass, for every group a user picks from (the open
    schemas of what users bring are in ``OPEN_SCHEMAS``)."""
    return {
        "loss": {info.name: loss_schema(info) for info in losses.all_infos()},
        "data": {name: DATASETS.meta(name)["schema"] for name in DATASETS if not DATASETS.meta(name).get("open")},
        "model": {**{name: MODELS.meta(name)["schema"] for name in MODELS}, "auto": auto_model_schema()},
        "optim": {name: OPTIMIZERS.meta(name)["schema"] for name in OPTIMIZERS},
        "scheduler": {name: SCHEDULERS.meta(name)["schema"] for name in SCHEDULERS},
    }


GROUP_REGISTRIES: dict[str, Registry] = {
    "data": DATASETS,
    "model": MODELS,
    "optim": OPTIMIZERS,
    "scheduler": SCHEDULERS,
}


def _task_attribute(name: str, attribute: str) -> str:
    return getattr(TASKS.get(name), {"main_metric": "main_metric", "mode": "mode"}[attribute])


def _open_schemas() -> dict[str, dict[str, dict[str, Any]]]:
    """What users bring takes the arguments of their own class or function, so its schema is open to
    any key: :func:`check_config` compares those keys with the signature instead."""
    from .data.custom import CustomDataConfig

    return {
        "loss": {"custom": {"name": "custom", "target": None}, "combo": {"name": "combo", "terms": {}}},
        "model": {"custom": {"name": "custom", "target": None}},
        "data": {"custom": OmegaConf.to_container(OmegaConf.structured(CustomDataConfig))},
    }


def _open(node: dict[str, Any]) -> DictConfig:
    config = OmegaConf.create(node)
    OmegaConf.set_struct(config, False)  # Hydra keeps a node's own flag when it closes the config
    return config


def _epoch_at(fraction: float, *, _root_: DictConfig) -> int:
    """The 0-based epoch ``fraction`` of the way through ``trainer.max_epochs``."""
    return int(float(fraction) * int(_root_.trainer.max_epochs))


def register_configs() -> None:
    OmegaConf.register_new_resolver("losslab.task", _task_attribute, replace=True)
    # hydra.job.config.override_dirname.exclude_keys (conf/config.yaml) reads the neutral keys from here.
    OmegaConf.register_new_resolver(
        "losslab.dirname_excluded", lambda: [*RESULT_NEUTRAL_KEYS, "hydra.sweep.dir", *SWEEP_GROUPS], replace=True
    )
    # ${losslab.epoch_at:0.8}: the epoch 80% into training (ldam_drw's drw_epoch), whatever trainer.max_epochs is.
    OmegaConf.register_new_resolver("losslab.epoch_at", _epoch_at, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for group, schemas in group_schemas().items():
        for name, schema in schemas.items():
            cs.store(group=group, name=f"schema_{name}", node=schema)
    for group, nodes in _open_schemas().items():
        for name, node in nodes.items():
            cs.store(group=group, name=f"schema_{name}", node=_open(node))


register_configs()


# ---------------------------------------------------------------- the check after composition

ON_NAN = ("stop", "skip")
MODES = ("max", "min")


def _field_names(schema: type) -> list[str]:
    return [f.name for f in dataclasses.fields(schema)]


def _check_keys(node: Any, allowed: list[str], where: str, what: str) -> None:
    """Every key of ``node`` must be one of ``allowed``: else one line naming the nearest and all keys."""
    if not isinstance(node, DictConfig):
        raise UserError(f"{where} must be a group of keys ({what}), got {node!r}")
    for key in node:
        if key not in allowed:
            keys = ", ".join(k for k in allowed if k != "name") or "(none)"
            dotted = f"{where}.{key}" if where else str(key)
            raise UserError(f"{what} has no key {dotted}{did_you_mean(str(key), allowed)}. Its keys: {keys}")


def _choice(cfg: DictConfig, group: str, registry: Registry) -> str:
    name = cfg[group].get("name") if isinstance(cfg[group], DictConfig) else None
    if name not in registry:
        raise UserError(f"{registry.unknown(str(name))}; choose one with {group}=<name>")
    return str(name)


def check_config(cfg: DictConfig, choices: dict[str, str] | None = None) -> None:
    """Check a composed config before anything is built or written; fill in what model=auto stands for
    and the names of what users bring in ``_target_`` form (``choices``: the option chosen in each
    group, e.g. {"loss": "entropy_ce"}; by default Hydra's).

    Raises a UserError with one line that says what is wrong and what to choose instead.
    """
    _check_keys(cfg, _field_names(Config), "", "the config")
    task_name = str(cfg.task.get("name"))
    if task_name not in TASKS:
        raise UserError(f"{TASKS.unknown(task_name)}; choose one with task=<name>")
    task = TASKS.get(task_name)
    _check_keys(cfg.task, _field_names(TaskConfig), "task", f"task {task_name!r}")
    metrics = [*task.metric_names, "loss"]
    if cfg.task.main_metric not in metrics:
        raise UserError(
            f"task.main_metric={cfg.task.main_metric!r} is not a metric of task {task_name!r}"
            f"{did_you_mean(str(cfg.task.main_metric), metrics)}. Its metrics: {', '.join(metrics)}"
        )
    if cfg.task.main_metric_mode not in MODES:
        raise UserError(f"task.main_metric_mode must be max or min, got {cfg.task.main_metric_mode!r}")

    choices = _hydra_choices() if choices is None else choices
    _check_loss(cfg, task_name, choices.get("loss"))
    schemas = group_schemas()

    if _is_custom(cfg.data):
        _check_custom_data(cfg)
    else:
        data_name = _choice(cfg, "data", DATASETS)
        data.check_serves(data_name, task_name)
        _check_keys(cfg.data, _field_names(schemas["data"][data_name]), "data", f"dataset {data_name!r}")

    if _is_custom(cfg.model):
        _name_target_form(cfg, "model", choices.get("model") or models.custom.CUSTOM)
        models.custom.resolve(OmegaConf.to_container(cfg.model, resolve=True))
    elif cfg.model.get("name") == "auto":
        kind = DATASETS.meta(cfg.data.name)["kind"]
        if kind is not None:  # None: the data says (npz, custom); the recipe resolves it once they are read
            resolve_auto_model(cfg, kind)  # checks its keys too
    else:
        model_name = _choice(cfg, "model", MODELS)
        _check_keys(cfg.model, _field_names(schemas["model"][model_name]), "model", f"model {model_name!r}")

    for group in ("optim", "scheduler"):
        name = _choice(cfg, group, GROUP_REGISTRIES[group])
        _check_keys(cfg[group], _field_names(schemas[group][name]), group, f"{group} {name!r}")
    _check_keys(cfg.trainer, _field_names(TrainerConfig), "trainer", "trainer")
    check_trainer_options(cfg.trainer)


def _hydra_choices() -> dict[str, str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    return {k: v for k, v in HydraConfig.get().runtime.choices.items() if isinstance(v, str)}


def _is_custom(node: Any) -> bool:
    return isinstance(node, DictConfig) and ("_target_" in node or node.get("name") == "custom")


def _name_target_form(cfg: DictConfig, group: str, name: str) -> None:
    """A ``_target_`` config from the user's folder has no name: it gets its option's (reports, HParams)."""
    if "name" not in cfg[group]:
        with open_dict(cfg):
            cfg[group].name = name


def _check_loss(cfg: DictConfig, task_name: str, choice: str | None) -> None:
    from losses.from_config import COMBO, CUSTOM

    if "_target_" in cfg.loss:
        _name_target_form(cfg, "loss", choice or CUSTOM)
    loss_name = str(cfg.loss.get("name"))
    try:
        if "_target_" in cfg.loss or loss_name in (CUSTOM, COMBO):
            losses.from_config.resolve(OmegaConf.to_container(cfg.loss, resolve=True), task_name)
            return
        losses.check_fits(loss_name, task_name)
    except losses.LossError as exc:
        raise UserError(str(exc)) from None
    _check_keys(cfg.loss, _field_names(group_schemas()["loss"][loss_name]), "loss", f"loss {loss_name!r}")


def _check_custom_data(cfg: DictConfig) -> None:
    """data=custom (or ``_target_``): the harness's keys typed and filled in, the function's checked."""
    from .data import custom

    given = OmegaConf.to_container(cfg.data, resolve=True)
    own = {k: v for k, v in given.items() if k in (*custom.OWN_KEYS, "target")}
    try:
        checked = OmegaConf.merge(OmegaConf.structured(custom.CustomDataConfig), own)
    except ValidationError as exc:  # a value of the wrong type
        raise UserError(f"data.{exc.full_key}: {str(exc).splitlines()[0]}") from None
    custom.resolve(given)
    with open_dict(cfg):
        for key in custom.OWN_KEYS:
            cfg.data[key] = checked[key]
        cfg.data.name = custom.CUSTOM


def resolve_auto_model(cfg: DictConfig, kind: str) -> None:
    """model=auto: the model for the data's kind, with the keys set for auto (those it does not read fail)."""
    concrete = models.resolve_name("auto", kind)
    schema = MODELS.meta(concrete)["schema"]
    allowed = _field_names(schema)
    given = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if v is not None and k != "name"}
    for key in given:
        if key not in allowed:
            keys = ", ".join(k for k in allowed if k != "name")
            raise UserError(
                f"model 'auto' is {concrete!r} for {kind} data, which has no key model.{key}"
                f"{did_you_mean(key, allowed)}. Its keys: {keys}"
            )
    resolved = OmegaConf.merge(OmegaConf.structured(schema), given)
    resolved.name = "auto"
    with open_dict(cfg):
        cfg.model = resolved


def check_trainer_options(tcfg: DictConfig) -> None:
    """trainer.* values the schema's types cannot check."""
    if tcfg.on_nan not in ON_NAN:
        raise UserError(f"trainer.on_nan={tcfg.on_nan!r}; use stop (end the run) or skip (skip that batch)")
    if tcfg.num_threads is not None and tcfg.num_threads < 1:
        raise UserError(f"trainer.num_threads must be >= 1 (or null for torch's default), got {tcfg.num_threads}")
    if tcfg.grad_clip is not None and not tcfg.grad_clip > 0:
        raise UserError(f"trainer.grad_clip must be > 0 (or null for no clipping), got {tcfg.grad_clip}")
    if tcfg.log_every_n_steps < 1:
        raise UserError(f"trainer.log_every_n_steps must be >= 1, got {tcfg.log_every_n_steps}")
    if tcfg.log_flush_secs < 0:
        raise UserError(f"trainer.log_flush_secs must be >= 0 (0: write each value at once), got {tcfg.log_flush_secs}")
    if tcfg.max_epochs < 0:
        raise UserError(f"trainer.max_epochs must be >= 0, got {tcfg.max_epochs}")
    patience, min_delta = tcfg.early_stopping.patience, tcfg.early_stopping.min_delta
    if patience is not None and patience < 1:
        raise UserError(f"trainer.early_stopping.patience must be >= 1 (or null: never stop early), got {patience}")
    if min_delta < 0:
        raise UserError(f"trainer.early_stopping.min_delta must be >= 0, got {min_delta}")
    if tcfg.val_every_n_epochs < 1:
        raise UserError(f"trainer.val_every_n_epochs must be >= 1 (1: every epoch), got {tcfg.val_every_n_epochs}")


def drop_keys(data: dict[str, Any], dotted_keys: tuple[str, ...]) -> dict[str, Any]:
    """A copy of a nested plain dict without the given dotted keys."""
    out = OmegaConf.to_container(OmegaConf.create(data)) if data else {}
    for dotted in dotted_keys:
        *parents, leaf = dotted.split(".")
        node: Any = out
        for key in parents:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}{key}." if isinstance(value, dict) and value else f"{prefix}{key}"))
    return {k.rstrip("."): v for k, v in flat.items()}
