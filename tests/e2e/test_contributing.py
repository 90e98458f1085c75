"""CONTRIBUTING.md's recipes, followed in code: a new loss, dataset, model and task, end to end.

Each test registers its objects the way the recipe says (``@register``, ``DATASETS.register``,
``MODELS.register``, ``TASKS.register``), writes the config files the recipe asks for into a
temporary config folder that Hydra searches next to ``conf/`` (``hydra.searchpath``), and trains
or checks through the same code ``python -m trainer`` runs.

Registration is global to the process, and other modules read the registries while pytest collects
them (``losses.available(task)`` in parametrize lists): the objects here are registered by
module-scoped fixtures when the tests run, under ``contrib_`` names, and removed again afterwards.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, compose, read_metrics
from omegaconf import OmegaConf
from torch import Tensor, nn

import losses
import trainer.config
from losses.base import TaskLoss, check_reduction
from losses.registry import LOSSES, register
from trainer.data import DataBundle, Split
from trainer.data.bundle import SplitConfig
from trainer.data.validate import validate_bundle
from trainer.errors import UserError
from trainer.registry import DATASETS, MODELS, TASKS, Registry
from trainer.schema import option
from trainer.tasks import _MODULES, TASK_NAMES, get_task
from trainer.tasks.base import Task, check_class_indices

LOSS, DATA, MODEL, TASK = "contrib_test_loss", "contrib_test_data", "contrib_test_model", "contrib_test_task"
QUICK = ("trainer.max_epochs=1", "trainer.device=cpu", "trainer.num_threads=1", "trainer.progress=false")


# ---------------------------------------------------------------- what the recipes add


class ContribLoss(TaskLoss):
    """Cross entropy of temperature-scaled logits (the loss of the add-a-loss recipe)."""

    # Every instance the trainer builds, and every head size it asks for: proof that it used this loss.
    built: list[ContribLoss] = []
    head_sizes: list[tuple[str, int]] = []

    def __init__(self, task: str, *, temperature: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(task)
        self.temperature = temperature
        self.reduction = check_reduction(reduction)
        self.calls = 0
        ContribLoss.built.append(self)

    @classmethod
    def head_size(cls, task: str, natural_size: int) -> int:
        cls.head_sizes.append((task, natural_size))
        return natural_size

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        self.calls += 1
        return F.cross_entropy(output / self.temperature, target, reduction=self.reduction)


@dataclass
class ContribDataConfig(SplitConfig):
    """A seeded 3-class table (the dataset of the add-a-dataset recipe)."""

    num_rows: int = option(120, "rows in the whole table")


FEATURES, CLASSES = 4, 3
# Each call of the loader: the options it was given.
loader_calls: list[dict[str, Any]] = []


def load_contrib_data(cfg, task: str) -> DataBundle:
    loader_calls.append({"num_rows": cfg.num_rows, "task": task})
    generator = torch.Generator().manual_seed(cfg.split_seed)
    x = torch.randn(cfg.num_rows, FEATURES, generator=generator)
    y = torch.bucketize(x[:, 0].contiguous(), torch.tensor([-0.4, 0.4]))  # 3 classes read off the first feature
    n_val = n_test = cfg.num_rows // 5
    n_train = cfg.num_rows - n_val - n_test
    splits = [Split(x[a:b], y[a:b]) for a, b in ((0, n_train), (n_train, n_train + n_val), (n_train + n_val, None))]
    return DataBundle(*splits, task=task, kind="table", num_outputs=CLASSES)


@dataclass
class ContribModelConfig:
    """A one-hidden-layer network (the model of the add-a-model recipe)."""

    name: str = MODEL
    width: int = option(16, "width of the hidden layer")


# Each call of the builder: (width, input shape, output size).
model_calls: list[tuple[int, tuple[int, ...], int]] = []


def build_contrib_model(cfg, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    model_calls.append((cfg.width, tuple(input_shape), out_features))
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(input_shape), cfg.width), nn.ReLU(), nn.Linear(cfg.width, out_features)
    )


class ContribTask(Task):
    """Ordered levels 0..K-1, scored by the mean absolute error (the task of the add-a-task recipe)."""

    name = TASK
    summary = "ordered levels 0..K-1"
    main_metric, mode = "mae", "min"
    metric_names = ("mae",)
    target = "levels (N,) in [0, K)"
    target_dtype = torch.long

    def metrics(self, num_outputs: int) -> dict:
        from torchmetrics.regression import MeanAbsoluteError

        return {"mae": MeanAbsoluteError()}

    def predict(self, output: Tensor) -> Tensor:
        return output.argmax(dim=-1).float()

    def check_targets(self, y: Tensor, num_outputs: int, where: str) -> None:
        check_class_indices(y, num_outputs, where, self.name)


# ---------------------------------------------------------------- registering, and leaving no trace


@contextmanager
def removed_afterwards(registry: Registry, name: str) -> Iterator[None]:
    """Whatever is registered under ``name`` in the block is gone after it (registries have no removal)."""
    assert name not in registry, f"{name} is registered already"
    try:
        yield
    finally:
        registry._objects.pop(name, None)
        registry._meta.pop(name, None)


def refresh_schemas() -> None:
    """The schemas are gathered when trainer.config is imported; a registration after that needs this."""
    trainer.config.group_schemas.cache_clear()
    trainer.config.register_configs()


def load_generate():
    spec = importlib.util.spec_from_file_location("generate_for_contributing", ROOT / "scripts" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Iterator[Path]:
    """The loss, dataset and model registered, and their config files in a folder Hydra searches."""
    from hydra.core.config_store import ConfigStore

    conf = tmp_path_factory.mktemp("contrib_conf")
    with (
        removed_afterwards(LOSSES, LOSS),
        removed_afterwards(DATASETS, DATA),
        removed_afterwards(MODELS, MODEL),
    ):
        register(LOSS, natural_task="multiclass", fits={"multiclass": "native"}, needs_target="class indices")(
            ContribLoss
        )
        DATASETS.register(DATA, tasks=("multiclass",), kind="table", schema=ContribDataConfig)(load_contrib_data)
        MODELS.register(MODEL, schema=ContribModelConfig)(build_contrib_model)
        refresh_schemas()
        # The files the recipes ask for: conf/loss/<name>.yaml as scripts/generate.py writes it, and
        # conf/data, conf/model files starting from their schema.
        (conf / "loss").mkdir()
        (conf / "loss" / f"{LOSS}.yaml").write_text(load_generate().loss_yaml(losses.info(LOSS)))
        (conf / "data").mkdir()
        (conf / "data" / f"{DATA}.yaml").write_text(
            f"defaults:\n  - schema_{DATA}\n  - _self_\n\nname: {DATA}\nbatch_size: 16\nnum_rows: 150\n"
        )
        (conf / "model").mkdir()
        (conf / "model" / f"{MODEL}.yaml").write_text(f"defaults:\n  - schema_{MODEL}\n  - _self_\n\nname: {MODEL}\n")
        try:
            yield conf
        finally:
            repo = ConfigStore.instance().repo
            for group, name in (("loss", LOSS), ("data", DATA), ("model", MODEL)):
                repo[group].pop(f"schema_{name}.yaml", None)
            if hasattr(trainer.config.Schemas, f"loss_{LOSS}"):
                delattr(trainer.config.Schemas, f"loss_{LOSS}")
    refresh_schemas()  # model=auto's schema again without the test model's keys


def compose_with(conf: Path, *overrides: str):
    return compose(f"hydra.searchpath=[file://{conf}]", *overrides)


CHOSEN = (f"loss={LOSS}", f"data={DATA}", f"model={MODEL}")


# ---------------------------------------------------------------- the loss, dataset and model recipes


def test_loss_dataset_and_model_train_end_to_end(plugin, tmp_path):
    from trainer.train import train

    ContribLoss.built.clear()
    ContribLoss.head_sizes.clear()
    loader_calls.clear()
    model_calls.clear()
    cfg = compose_with(plugin, *CHOSEN, "loss.temperature=2.0", "data.num_rows=100", "model.width=8", *QUICK)
    threads = torch.get_num_threads()
    try:
        results = train(cfg, tmp_path / "run")
    finally:
        torch.set_num_threads(threads)

    metrics = read_metrics(tmp_path / "run")
    assert metrics["epochs"] == 1 and set(results) == set(metrics)
    assert {"val/acc", "val/loss", "test/acc", "test/loss"} <= set(metrics)
    # The dataset was loaded with its own option, from the command line over its config file.
    assert loader_calls == [{"num_rows": 100, "task": "multiclass"}]
    # The loss was built with its own parameter and trained on: one forward call per training step,
    # plus the evaluations (val after the epoch, then val and test in finish).
    (loss,) = ContribLoss.built
    assert loss.temperature == 2.0 and loss.calls >= metrics["steps"] > 0
    assert metrics["steps"] == math.ceil(60 / 16)  # 100 rows - 20 val - 20 test, batches of 16
    # The model was sized from the data (4 features) and from the loss's head (3 classes).
    assert ContribLoss.head_sizes == [("multiclass", CLASSES)]
    assert model_calls == [(8, (FEATURES,), CLASSES)]
    saved = OmegaConf.load(tmp_path / "run" / ".hydra" / "config.yaml")
    assert (saved.loss.name, saved.data.name, saved.model.name) == (LOSS, DATA, MODEL)


def test_generate_writes_the_new_loss_config_and_table_row(plugin):
    generate = load_generate()
    files = generate.expected_files()
    config = files[ROOT / "conf" / "loss" / f"{LOSS}.yaml"]
    assert f"  - schema_{LOSS}\n" in config and "temperature: 1.0\n" in config and "reduction: mean\n" in config
    assert f"| `{LOSS}` |" in files[ROOT / "docs" / "losses.md"]
    assert LOSS in losses.available("multiclass") and LOSS not in losses.available("regression")


def test_the_new_loss_is_checked_against_the_task(plugin):
    cfg = compose_with(plugin, "task=regression", f"loss={LOSS}", *QUICK)
    with pytest.raises(UserError, match=f"loss '{LOSS}' does not fit task 'regression'"):
        trainer.config.check_config(cfg)


def test_the_new_schemas_refuse_keys_they_do_not_have(plugin):
    with pytest.raises(UserError) as data_error:
        trainer.config.check_config(compose_with(plugin, *CHOSEN, "+data.num_rowz=3"))
    message = str(data_error.value)
    assert f"dataset '{DATA}' has no key data.num_rowz (did you mean num_rows?)" in message
    assert message.endswith(
        "Its keys: batch_size, split_seed, label_noise, label_noise_mode, label_noise_splits, imbalance, folds, fold, "
        "val_fraction, test_fraction, num_rows"
    )

    with pytest.raises(UserError, match=f"model '{MODEL}' has no key model.layers. Its keys: width$"):
        trainer.config.check_config(compose_with(plugin, *CHOSEN, "+model.layers=2"))
    with pytest.raises(UserError, match=f"loss '{LOSS}' has no key loss.temprature \\(did you mean temperature"):
        trainer.config.check_config(compose_with(plugin, *CHOSEN, "+loss.temprature=2"))
    # Without the +, Hydra itself refuses the key while composing: the schema is in the config file's defaults.
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="Could not override 'data.num_rowz'"):
        compose_with(plugin, *CHOSEN, "data.num_rowz=3")


def test_the_new_dataset_serves_only_its_tasks_and_picks_its_auto_model(plugin):
    with pytest.raises(UserError, match=f"dataset '{DATA}' does not serve task 'binary'"):
        trainer.config.check_config(compose_with(plugin, "task=binary", f"data={DATA}", "model=mlp"))
    cfg = compose_with(plugin, f"data={DATA}", "model=auto")  # conftest.compose runs check_config
    assert cfg.model.name == "auto" and "hidden" in cfg.model  # kind="table": auto stands for the mlp


# ---------------------------------------------------------------- the task recipe


@pytest.fixture(scope="module")
def contrib_task() -> Iterator[ContribTask]:
    task = ContribTask()
    with removed_afterwards(TASKS, TASK):
        TASKS.register(task.name, task)
        yield task


def test_a_registered_task_is_found_and_its_metric_resolved(contrib_task):
    assert get_task(TASK) is contrib_task
    node = OmegaConf.create(
        {
            "task": {
                "name": TASK,
                "main_metric": "${losslab.task:${task.name},main_metric}",
                "main_metric_mode": "${losslab.task:${task.name},mode}",
            }
        }
    )
    assert (node.task.main_metric, node.task.main_metric_mode) == ("mae", "min")
    # The task schema's own defaults read the same resolver.
    defaults = OmegaConf.structured(trainer.config.Config)
    defaults.task.name = TASK
    assert (defaults.task.main_metric, defaults.task.main_metric_mode) == ("mae", "min")
    with pytest.raises(UserError, match="unknown task 'contrib_test_tsak' \\(did you mean contrib_test_task\\?\\)"):
        get_task("contrib_test_tsak")


def test_a_registered_task_checks_its_targets_and_builds_its_metrics(contrib_task):
    from trainer.train.evaluate import build_metrics

    x = torch.randn(12, 2)

    def bundle(y: Tensor) -> DataBundle:
        split = Split(x, y)
        return DataBundle(split, split, split, task=TASK, kind="table", num_outputs=CLASSES)

    validate_bundle(bundle(torch.arange(12) % CLASSES))  # levels 0..2: fine
    with pytest.raises(
        UserError, match=f"the train split's targets must be class indices in \\[0, 3\\) for task={TASK}"
    ):
        validate_bundle(bundle(torch.arange(12) % 5))
    assert set(build_metrics(TASK, CLASSES, torch.device("cpu"))) == set(contrib_task.metric_names)


@pytest.mark.parametrize("module", _MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_task_module_follows_the_recipe(module):
    """TASK = an instance in its module, registered under its name; conf/task/<name>.yaml whose default
    loss fits the task and whose data serves it; and the losses' task list has it."""
    task = module.TASK
    assert isinstance(task, Task) and module.__name__ == f"trainer.tasks.{task.name}"
    assert get_task(task.name) is task and task.name in TASK_NAMES and task.name in losses.TASKS
    assert (ROOT / "conf" / "task" / f"{task.name}.yaml").is_file()
    assert task.main_metric in task.metric_names and task.mode in ("max", "min")
    cfg = compose(f"task={task.name}")
    trainer.config.check_config(cfg)  # the default loss fits, the default data serves the task
    assert cfg.task.main_metric == task.main_metric and cfg.task.main_metric_mode == task.mode


# ---------------------------------------------------------------- the shipped datasets and models follow it too


@pytest.mark.parametrize(("registry", "group"), [(DATASETS, "data"), (MODELS, "model")], ids=["data", "model"])
def test_every_dataset_and_model_has_a_config_starting_from_its_schema(registry, group):
    from dataclasses import is_dataclass

    names = [n for n in registry if not n.startswith("contrib_test_")]
    assert names
    for name in names:
        assert is_dataclass(registry.meta(name)["schema"]), name
        config = OmegaConf.load(ROOT / "conf" / group / f"{name}.yaml")
        assert list(config.defaults) == [f"schema_{name}", "_self_"], name
        assert config.name == name
    if registry is DATASETS:
        for name in names:
            meta = registry.meta(name)
            assert meta["kind"] in ("image", "table", "signal", None) and set(meta["tasks"]) <= set(TASK_NAMES), name
