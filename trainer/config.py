"""Structured configs: the schema every composed config is checked against.

Registered in Hydra's ConfigStore, so a misspelled key or a value of the wrong type fails at
start-up with Hydra's message instead of deep inside a run. The loss schemas are generated from the
loss registry (``losses``), one per loss, so each loss's own parameters are typed too.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

import losses


@dataclass
class TaskConfig:
    name: str = MISSING
    # Metric that picks the best checkpoint and sorts comparisons, and whether higher is better.
    main_metric: str = MISSING
    main_metric_mode: str = "max"


@dataclass
class DataConfig:
    name: str = MISSING
    batch_size: int = 64
    # Fractions of the whole set held out for validation and test; the split is seeded by split_seed
    # (not by seed) so that runs with different seeds are compared on the same data.
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    # Generated sets (digit strips, counts): how many samples.
    num_samples: int | None = None
    # Label noise on the training split only (fraction of labels flipped).
    label_noise: float = 0.0
    label_noise_mode: str = "symmetric"
    # Datasets read from disk.
    root: str | None = None
    path: str | None = None
    target: Any | None = None
    download: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    # torchvision sets (trainer/vision_data.py): augmentation of the training split only.
    random_crop_padding: int = 0  # random crop of the original size after zero padding by this much
    random_flip: bool = False  # random horizontal flip
    image_size: int = 64  # celeba: images resized and centre-cropped to this square size
    attribute: str | None = None  # celeba with task=binary: the attribute to predict, by name
    # Own tables (data=csv, trainer/tabular_data.py).
    delimiter: str | None = None  # multilabel from one column of delimited labels, e.g. "|"
    split_column: str | None = None  # a column whose values (train/val/test) give the split
    drop: list[str] = field(default_factory=list)  # columns that are not features (ids, free text)
    max_categories: int = 50  # text columns with more distinct values are refused, not one-hot encoded


@dataclass
class ModelConfig:
    name: str = MISSING
    hidden: list[int] = field(default_factory=lambda: [128, 64])
    channels: list[int] = field(default_factory=lambda: [32, 64])
    dropout: float = 0.1
    embedding_dim: int = 32
    # embed_cnn: L2-normalise the embeddings (distances then live on the unit sphere).
    l2_normalize: bool = False
    weights: str | None = None


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    # torch's fused implementation: one kernel per parameter for the whole update, on CPU as on GPUs
    # (AdamW on a table MLP: 40 instead of 108 us a step here). false: the per-tensor loop.
    fused: bool = True


@dataclass
class SchedulerConfig:
    name: str = "none"
    # step: multiply the lr by gamma every step_size epochs.
    step_size: int = 10
    gamma: float = 0.1
    # cosine: anneal to min_lr over the run's epochs.
    min_lr: float = 0.0
    warmup_epochs: int = 0


@dataclass
class TrainerConfig:
    max_epochs: int = 20
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    log_every_n_steps: int = 10
    # Logged values reach the event files at each epoch's end, and mid-epoch once this many seconds
    # have passed since the last write; 0 writes each value at once (costs steps on small models).
    log_flush_secs: float = 2.0
    eval_batch_size: int = 1024
    # Validate (val/ scalars, best epoch) and checkpoint after every n-th epoch and after the last.
    # On tiny epochs (a table's 13 steps) that work costs more than the steps; a crash then loses
    # up to n-1 epochs (SIGINT/SIGTERM still checkpoint at once).
    val_every_n_epochs: int = 1
    progress: bool = True
    resume: bool = False
    on_nan: str = "stop"  # stop | skip
    grad_clip: float | None = None
    precision: str = "32"  # 32 | bf16 | fp16
    compile: bool = False
    num_threads: int | None = None
    deterministic: bool = True
    test: bool = True


@dataclass
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    loss: Any = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    # A short free-form label for this run, shown in TensorBoard's HParams tab.
    tag: str = ""


def _schema_type(annotation: Any, default: Any) -> Any:
    """The OmegaConf type for a loss parameter: its annotation, or Any for unions like 'list | str'."""
    if isinstance(annotation, str):
        annotation = {"float": float, "int": int, "str": str, "bool": bool}.get(annotation, Any)
    if annotation in (float, int, str, bool):
        return Optional[annotation] if default is None else annotation  # noqa: UP045  (a runtime type for OmegaConf)
    return Any


class LossSchemas:
    """Each loss's schema dataclass (:func:`loss_schema`) under the loss's name."""


def loss_schema(info: losses.LossInfo) -> type:
    """A dataclass with the loss's name and typed parameters, made from its constructor."""
    hints = typing.get_type_hints(info.cls.__init__) if info.params() else {}
    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=info.name))]
    for name, param in info.params().items():
        kind = _schema_type(hints.get(name, Any), param.default)
        fields.append((name, kind, dataclasses.field(default=param.default)))
    schema = dataclasses.make_dataclass(f"{info.cls.__name__}Config", fields)
    # A name pickle can find (module.qualname): the fork launcher sends composed configs to its workers.
    schema.__module__, schema.__qualname__ = __name__, f"LossSchemas.{info.name}"
    setattr(LossSchemas, info.name, schema)
    return schema


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for info in losses.all_infos():
        cs.store(group="loss", name=f"schema_{info.name}", node=loss_schema(info))


register_configs()
