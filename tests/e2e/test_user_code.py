"""What users bring: their own losses, models and data, from a project folder outside the checkout.

Each test writes the user's files into a temporary folder, works from there (as a user's shell
would) and runs losslab through ``trainer.run`` (the CLI's composition, in-process) or the CLI.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import read_metrics, read_scalars, run_cli

import losses
import trainer
from trainer.errors import UserError

FAST = ["trainer.max_epochs=1", "trainer.progress=false"]

MY_LOSSES = '''
import torch
import torch.nn.functional as F

import losses


class EntropyCE(torch.nn.Module):
    """Cross entropy minus beta times the prediction's entropy."""

    def __init__(self, beta: float = 0.1):
        super().__init__()
        self.beta = beta

    def forward(self, logits, target):
        log_p = F.log_softmax(logits, dim=-1)
        entropy = -(log_p.exp() * log_p).sum(-1).mean()
        return F.nll_loss(log_p, target) - self.beta * entropy


class Scaled(torch.nn.Module):
    """MSE with its own predict: the metrics see twice the output."""

    def forward(self, output, target):
        return F.mse_loss(output.squeeze(-1), target)

    def predict(self, output):
        return 2 * output.squeeze(-1)


def squared(output, target, scale=1.0):
    return scale * (output.squeeze(-1) - target).pow(2).mean()


def returns_float(output, target):
    return 0.5


def per_row_wrong(output, target):
    return (output - 1).pow(2)[:3]


def detached(output, target):
    return F.cross_entropy(output, target).detach()


class NotALoss:
    pass


THRESHOLD = 3


@losses.register("entropy_reg", natural_task="multiclass", fits={"multiclass": "native", "binary": "2-way head"},
                 why_not={"regression": "it needs class labels"})
class RegisteredEntropy(losses.TaskLoss):
    """Registered: cross entropy with an entropy bonus."""

    def __init__(self, task, *, beta: float = 0.1):
        super().__init__(task)
        self.beta = beta

    @classmethod
    def head_size(cls, task, natural_size):
        return 2 if task == "binary" else natural_size

    def forward(self, logits, target):
        log_p = F.log_softmax(logits, dim=-1)
        return F.nll_loss(log_p, target.long()) + self.beta * (log_p.exp() * log_p).sum(-1).mean()
'''

MY_MODELS = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_features, num_classes, width=16):
        super().__init__()
        self.width = width
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.net(x)


class ThreeOutputs(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.lin = nn.Linear(in_features, 3)

    def forward(self, x):
        return self.lin(x.flatten(1))


class Boom(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.lin = nn.Linear(in_features, out_features)

    def forward(self, x):
        raise RuntimeError("my model is broken")


def not_a_class(x):
    return x
"""

MY_DATA = """
import numpy as np
import torch
from torch.utils.data import Dataset


def blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 4)) + y[:, None]).astype(np.float32)
    a, b = int(n * 0.6), int(n * 0.8)
    return {"train": (x[:a], y[:a]), "val": (x[a:b], y[a:b]), "test": (x[b:], y[b:]), "class_names": ["a", "b", "c"]}


class Images(Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, 4, (n,), generator=g)
        self.x = torch.randn(n, 1, 8, 8, generator=g) + self.y[:, None, None, None].float()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def images(n=160):
    return {"train": Images(n, 0), "val": Images(n // 4, 1), "test": Images(n // 4, 2)}


def no_test():
    return {"train": Images(8, 0), "val": Images(8, 1)}
"""

MODULES = ("my_losses", "my_models", "my_data")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user's project folder outside the checkout, with their modules, as the working directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name, text in zip(MODULES, (MY_LOSSES, MY_MODELS, MY_DATA)):
        (folder / f"{name}.py").write_text(text)
    (folder / "my_conf" / "loss").mkdir(parents=True)
    (folder / "my_conf" / "loss" / "entropy_ce.yaml").write_text("_target_: my_losses.EntropyCE\nbeta: 0.1\n")
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in MODULES:  # each test writes its own copy: import it afresh
        sys.modules.pop(name, None)
    losses.LOSSES._objects.pop("entropy_reg", None)
    losses.LOSSES._meta.pop("entropy_reg", None)


def run(project: Path, *overrides: str, name: str = "run", **objects):
    return trainer.run([*FAST, *overrides], run_dir=project / "runs" / name, **objects)


def checked(*overrides: str):
    """The config as the CLI checks it, names of ``_target_`` forms filled in from the choices."""
    from trainer.config import check_config

    cfg = trainer.compose(overrides)
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if isinstance(v, str)}
    from omegaconf import open_dict

    with open_dict(cfg):
        del cfg["hydra"]
    check_config(cfg, choices)
    return cfg


BLOBS = ["data=custom", "data.target=my_data.blobs"]


# ---------------------------------------------------------------- losses


def test_quick_form_trains_with_its_arguments_and_shows_them_in_hparams(project):
    from trainer.train.recipe import build_loss, hparams_of

    overrides = ["loss=custom", "loss.target=my_losses.EntropyCE", "loss.beta=0.2", *BLOBS]
    results = run(project, *overrides)
    assert math.isfinite(results["val/loss"]) and 0 <= results["val/acc"] <= 1
    cfg = checked(*overrides)
    assert hparams_of(cfg)["loss.beta"] == 0.2 and hparams_of(cfg)["loss.target"] == "my_losses.EntropyCE"

    from trainer.data import build_data

    loss_fn = build_loss(cfg, build_data(cfg.data, "multiclass"))
    logits, target = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    log_p = torch.log_softmax(logits, -1)
    expected = torch.nn.functional.nll_loss(log_p, target) + 0.2 * (log_p.exp() * log_p).sum(-1).mean()
    assert torch.allclose(loss_fn(logits, target), expected)
    assert torch.allclose(loss_fn.predict(logits), torch.softmax(logits, -1))  # the task's default


def test_hydra_form_from_the_users_config_folder_takes_its_option_name(project):
    overrides = ["hydra.searchpath=[file://my_conf]", "loss=entropy_ce", "loss.beta=0.3", *BLOBS]
    cfg = checked(*overrides)
    assert cfg.loss.name == "entropy_ce" and cfg.loss.beta == 0.3
    assert run(project, *overrides)["val/loss"] > 0


def test_registered_loss_gets_task_checks_head_size_and_a_typed_schema(project):
    from trainer.data import build_data
    from trainer.train.recipe import build_loss

    target = ["loss=custom", "loss.target=my_losses.RegisteredEntropy"]
    with pytest.raises(UserError, match="loss 'entropy_reg' does not fit task 'regression': it needs class labels"):
        checked(*target, "task=regression")
    with pytest.raises(UserError, match=r"takes no argument 'bta' \(did you mean beta\?\)"):
        checked(*target, "loss.bta=1")
    with pytest.raises(Exception, match="could not be converted to Float"):
        checked(*target, "loss.beta=abc")
    cfg = checked(*target, "task=binary", "loss.beta=0.5")
    loss_fn = build_loss(cfg, build_data(cfg.data, "binary"))
    assert type(loss_fn).__name__ == "RegisteredEntropy" and loss_fn.beta == 0.5  # not wrapped
    assert loss_fn.head_size("binary", 1) == 2
    assert "entropy_reg" in losses.available("binary")
    assert run(project, *target, "task=binary")["val/loss"] > 0


def test_unregistered_loss_uses_its_own_predict_and_a_function_takes_its_arguments(project):
    from trainer.data import build_data
    from trainer.train.recipe import build_loss

    cfg = checked("task=regression", "loss=custom", "loss.target=my_losses.Scaled")
    loss_fn = build_loss(cfg, build_data(cfg.data, "regression"))
    out = torch.randn(5, 1)
    assert torch.equal(loss_fn.predict(out), 2 * out.squeeze(-1))

    cfg = checked("task=regression", "loss=custom", "loss.target=my_losses.squared", "loss.scale=3")
    loss_fn = build_loss(cfg, build_data(cfg.data, "regression"))
    target = torch.randn(5)
    assert torch.allclose(loss_fn(out, target), 3 * (out.squeeze(-1) - target).pow(2).mean())
    assert torch.equal(loss_fn.predict(out), out.squeeze(-1))  # regression's default: the values
    assert run(project, "task=regression", "loss=custom", "loss.target=my_losses.squared")["val/rmse"] > 0


def test_combo_sums_weighted_terms_and_logs_each_term(project):
    from trainer.data import build_data
    from trainer.train.recipe import build_loss

    overrides = ["loss=combo", "+loss.terms.ent={target:my_losses.EntropyCE,beta:0.2,weight:0.1}", *BLOBS]
    cfg = checked(*overrides)
    loss_fn = build_loss(cfg, build_data(cfg.data, "multiclass"))
    logits, target = torch.randn(8, 3), torch.randint(0, 3, (8,))
    ce = torch.nn.functional.cross_entropy(logits, target)
    focal = losses.build("focal", task="multiclass")(logits, target)
    ent = sys.modules["my_losses"].EntropyCE(0.2)(logits, target)
    assert torch.allclose(loss_fn(logits, target), ce + 0.5 * focal + 0.1 * ent)
    assert set(loss_fn.parts) == {"ce", "focal", "ent"} and torch.allclose(loss_fn.parts["focal"], focal)

    results = run(project, *overrides, "trainer.max_epochs=2", "trainer.log_every_n_steps=1")
    for term in ("ce", "focal", "ent"):
        assert f"val/loss/{term}" in results and f"test/loss/{term}" in results
    scalars = read_scalars(project / "runs" / "run")
    assert len(scalars["train/loss/ce"]) == len(scalars["train/loss"]) > 1
    assert len(scalars["val/loss/focal"]) == 2


def test_combo_mistakes_name_the_term(project):
    with pytest.raises(UserError, match=r"loss 'focal' \(loss.terms.focal\) takes no argument 'gama' \(did you mean"):
        checked("loss=combo", "loss.terms.focal.gama=1")
    with pytest.raises(UserError, match="loss.terms.fcal: unknown loss 'fcal'"):
        checked("loss=combo", "+loss.terms.fcal={}")
    with pytest.raises(UserError, match="loss 'poisson_nll' does not fit task 'multiclass'"):
        checked("loss=combo", "+loss.terms.poisson_nll={weight:1}")
    with pytest.raises(UserError, match="loss.terms.focal.weight must be a number"):
        checked("loss=combo", "loss.terms.focal.weight=abc")


# ---------------------------------------------------------------- models


def test_custom_model_gets_sizes_from_the_data_and_its_own_arguments(project):
    from trainer.models import build_model

    cfg = checked("model=custom", "model.target=my_models.Net", "model.width=8", *BLOBS)
    model = build_model(cfg.model, "table", (4,), 3)
    assert model.width == 8 and model.net[-1].out_features == 3 and model.net[1].in_features == 4
    assert run(project, "model=custom", "model.target=my_models.Net", *BLOBS)["val/acc"] >= 0


def test_model_mistakes(project):
    with pytest.raises(UserError, match=r"outputs shape \(2, 3\) for a batch of 2, but loss ce needs \(2, 10\)"):
        run(project, "model=custom", "model.target=my_models.ThreeOutputs")
    with pytest.raises(UserError, match=r"takes no argument 'depth' \(did you mean width\?\). It takes: width$"):
        checked("model=custom", "model.target=my_models.Net", "model.depth=2")
    with pytest.raises(UserError, match="is the function 'not_a_class'; a model must be an nn.Module class"):
        checked("model=custom", "model.target=my_models.not_a_class")
    with pytest.raises(UserError, match="model=custom needs model.target"):
        checked("model=custom")


def test_objects_from_python(project):
    sys.path.insert(0, str(project))
    my_losses, my_models = __import__("my_losses"), __import__("my_models")
    net = my_models.Net(4, 3)
    results = run(project, *BLOBS, loss=my_losses.EntropyCE(0.3), model=net)
    assert results["val/loss"] > 0
    data = __import__("my_data").blobs()
    assert run(project, data=data, loss=my_losses.EntropyCE, name="again")["val/acc"] >= 0


# ---------------------------------------------------------------- data


def test_custom_data_from_tensors(project):
    results = run(project, *BLOBS, "data.n=120")
    assert results["steps"] == math.ceil(72 / 64)  # 60% of 120 rows, batches of 64


def test_a_streamed_dataset_trains_exactly_as_in_memory_and_resumes_mid_epoch(project, monkeypatch):
    """The DataLoader path gives the same batches as the in-memory one, and a SIGTERM mid-epoch resumes exactly."""
    from trainer.train import recipe as recipe_module
    from trainer.train.signals import Interrupted

    common = ["data=custom", "data.target=my_data.images", "data.batch_size=16", "trainer.max_epochs=2"]
    in_memory = run(project, *common, "data.in_memory=true", name="memory")
    streamed = run(project, *common, "data.in_memory=false", "data.num_workers=2", name="stream")
    assert {k: v for k, v in streamed.items() if k.startswith(("val/", "test/"))} == {
        k: v for k, v in in_memory.items() if k.startswith(("val/", "test/"))
    }

    real_step = recipe_module.Recipe.train_step

    def step_then_signal(self, x, y, epoch):
        real_step(self, x, y, epoch)
        if self.state.global_step == 11:  # batch 3 of the second epoch (8 batches per epoch)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(recipe_module.Recipe, "train_step", step_then_signal)
    stream = [*common, "data.in_memory=false", "data.num_workers=1"]
    with pytest.raises(Interrupted):
        run(project, *stream, name="resumed")
    monkeypatch.setattr(recipe_module.Recipe, "train_step", real_step)
    resumed = run(project, *stream, "trainer.resume=true", name="resumed")
    assert resumed["val/loss"] == in_memory["val/loss"] and resumed["test/acc"] == in_memory["test/acc"]


def test_data_mistakes(project):
    with pytest.raises(UserError, match=r"returned a dict without test; return \{'train'"):
        run(project, "data=custom", "data.target=my_data.no_test")
    with pytest.raises(UserError, match="takes no argument 'size'. It takes: n, seed"):
        checked(*BLOBS, "data.size=3")
    with pytest.raises(UserError, match="data.batch_size: Value 'many'"):
        checked(*BLOBS, "data.batch_size=many")


# ---------------------------------------------------------------- bad input: one line, nothing lost


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuch.Loss", r"cannot import module 'nosuch': no nosuch.py or package nosuch/ in the current folder .*"),
        ("my_losses.EntropyCX", r"defines no 'EntropyCX' \(did you mean EntropyCE\?\). It defines: EntropyCE, "),
        ("my_losses.THRESHOLD", r"is a int object, which cannot be called"),
        ("my_losses.NotALoss", r"is the class NotALoss, which is not a torch.nn.Module"),
        ("EntropyCE", r"must name an object as module.name"),
    ],
)
def test_a_target_that_cannot_be_used_is_one_line(project, target, message):
    with pytest.raises(UserError, match=message):
        checked("loss=custom", f"loss.target={target}")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("returns_float", r"your loss my_losses.returns_float returned float, not a torch.Tensor"),
        ("per_row_wrong", r"my_losses.per_row_wrong returned a tensor of shape \(3, 3\) for a batch of 64"),
        ("detached", r"my_losses.detached returned a tensor without a gradient"),
    ],
)
def test_a_loss_that_returns_the_wrong_thing_names_itself(project, target, message):
    with pytest.raises(UserError, match=message):
        run(project, "loss=custom", f"loss.target=my_losses.{target}", *BLOBS)


def test_cli_outside_the_checkout_shows_the_users_frames_and_sweeps_with_builtins(project):
    (project / "my_bad.py").write_text("def loss(output, target):\n    return output.sum() / 0 + [][1]\n")
    bad = run_cli("loss=custom", "loss.target=my_bad.loss", "trainer.max_epochs=1", cwd=project)
    assert bad.returncode == 1
    assert f'File "{project / "my_bad.py"}", line 2, in loss' in bad.stderr
    assert "IndexError: list index out of range" in bad.stderr and "trainer/train/recipe.py" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: your code raised IndexError at ")

    help_text = run_cli("hydra.searchpath=[file://my_conf]", "--help", cwd=project).stdout
    assert "entropy_ce" in help_text and "custom" in help_text and "combo" in help_text

    sweep = run_cli(
        "-m", "hydra.searchpath=[file://my_conf]", "loss=ce,entropy_ce", "seed=0,1", *BLOBS, *FAST,
        "hydra.sweep.dir=sweep", cwd=project, timeout=600,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    runs = sorted(p.parent for p in (project / "sweep").rglob("metrics.json"))
    names = [p.name for p in runs]  # one folder per job, named by what varies
    assert len(names) == 4 and sum("loss=entropy_ce,seed=" in n for n in names) == 2, names
    assert all(list(p.glob("events.out.tfevents.*")) for p in runs)
    assert json.loads((runs[2] / "metrics.json").read_text())["val/loss"] > 0

    from trainer.sweep.report import compare

    compare(project / "sweep", make_plot=False)
    report = (project / "sweep" / "report.md").read_text()
    assert "loss=entropy_ce" in report and "loss=ce" in report
    assert read_metrics(runs[0])["epochs"] == 1


def test_an_exception_in_the_users_data_function_is_left_as_it_is(project):
    (project / "my_data.py").write_text(textwrap.dedent(MY_DATA) + "\n\ndef broken():\n    return {}['x']\n")
    sys.modules.pop("my_data", None)
    with pytest.raises(KeyError):
        run(project, "data=custom", "data.target=my_data.broken")


def test_a_module_imported_again_registers_its_loss_again_but_another_class_may_not_take_the_name(project):
    import importlib

    first = importlib.import_module("my_losses").RegisteredEntropy
    sys.modules.pop("my_losses")
    again = importlib.import_module("my_losses").RegisteredEntropy  # a notebook's reload
    assert again is not first and losses.info("entropy_reg").cls is again

    class Other(losses.TaskLoss):
        pass

    with pytest.raises(RuntimeError, match="loss 'entropy_reg' registered twice"):
        losses.register("entropy_reg", natural_task="multiclass", fits={"multiclass": "native"})(Other)


def test_npz_images_with_model_auto_get_the_cnn(project):
    import numpy as np

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = (rng.integers(0, 200, size=(60, 1, 8, 8)) + 20 * y[:, None, None, None]).astype(np.uint8)
    np.savez(project / "arrays.npz", x=x, y=y)
    results = run(project, "data=npz", "data.path=arrays.npz")
    config = (project / "runs" / "run" / ".hydra" / "config.yaml").read_text()
    assert "channels:" in config and results["val/acc"] >= 0  # cnn's keys: model=auto read the images


def test_help_lists_the_users_options_and_their_arguments(project, capsys):
    from trainer.cli import print_help

    print_help(["hydra.searchpath=[file://my_conf]", "loss=custom", "loss.target=my_losses.EntropyCE", *BLOBS])
    shown = capsys.readouterr().out
    lines = shown.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("loss:"))
    wrapped = [lines[first]]
    for line in lines[first + 1 :]:  # the option list wraps onto lines indented past the group names
        if not line.startswith(" " * 18):
            break
        wrapped.append(line)
    loss_options = " ".join(wrapped)
    assert "entropy_ce" in shown and "combo" in loss_options and "custom" in loss_options
    assert any("loss.beta=0.1" in line and "an argument of my_losses.EntropyCE" in line for line in shown.splitlines())
    assert any("data.n=240" in line and "an argument of my_data.blobs" in line for line in shown.splitlines())
