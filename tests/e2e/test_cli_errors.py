"""The CLI speaks to users: one ``error:`` line with the nearest names, exit 2, and a refused run writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli
from hydra import compose, initialize_config_dir

from trainer.cli import CONF_DIR, user_message
from trainer.config import check_config


def message_for(*overrides: str) -> str:
    """The line the CLI prints for these overrides: Hydra's composition, then losslab's check."""
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
        check_config(cfg)
    except Exception as exc:
        message = user_message(exc)
        assert message is not None, f"{type(exc).__name__} would be shown as a traceback: {exc}"
        return message
    raise AssertionError(f"{overrides} was accepted")


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["loss=focl"], "unknown loss 'focl' (did you mean focal?). Choose loss= one of: asl, balanced_softmax, bce,"),
        (["task=multiclas"], "unknown task 'multiclas' (did you mean multiclass or multilabel?)"),
        (["optim=adan"], "unknown optimiser 'adan' (did you mean adam or adamw?). Choose optim= one of: adam,"),
        (["data=digitz"], "unknown dataset 'digitz' (did you mean digits?)"),
        (["optim.lrr=0.1"], "optim has no key optim.lrr (did you mean lr?). Its keys: lr, weight_decay, betas"),
        (["+optim.lrr=0.1"], "optim 'adamw' has no key optim.lrr (did you mean lr?). Its keys: lr,"),
        # _target_ names the user's own model or data: a module that is not there is one line too
        (["+model._target_=my.Net"], "model._target_=my.Net: cannot import module 'my': no my.py or package my/"),
        (["+data._target_=my.Data"], "data._target_=my.Data: cannot import module 'my': no my.py or package my/"),
        (["+trainer.max_epoch=3"], "trainer has no key trainer.max_epoch (did you mean max_epochs?)"),
        (["+foo=1"], "the config has no key foo. Its keys: task, loss, model, data, optim"),
        (["model=mlp", "model.channels=[8]"], "model has no key model.channels. Its keys: hidden, dropout"),
        (["optim=adam", "+optim.momentum=0.5"], "optim 'adam' has no key optim.momentum"),
        (
            ["task=binary", "+model.channels=[8]"],
            "model 'auto' is 'mlp' for table data, which has no key model.channels",
        ),
        (["task=multilabel", "loss=ce"], "loss 'ce' does not fit task 'multilabel'"),
        (["task.main_metric=f1_macr"], "task.main_metric='f1_macr' is not a metric of task 'multiclass' (did you mean"),
        (["lossx=ce"], "the config has no key lossx (did you mean loss?). Its keys: task, loss,"),
    ],
)
def test_a_mistake_is_one_line_naming_the_nearest_choices(overrides, expected):
    message = message_for(*overrides)
    assert expected in message and "\n" not in message, message
    assert "schema_" not in message and "search path" not in message.lower()


def test_a_wrong_type_names_the_key():
    message = message_for("optim.lr=fast")
    assert "optim.lr" in message and "fast" in message and "\n" not in message


@pytest.mark.slow
def test_a_refused_run_exits_2_with_one_line_and_writes_nothing(tmp_path):
    for args in (["task=multilabel", "loss=ce"], ["+optim.lrr=0.1"], ["loss=focl"]):
        result = run_cli(*args, cwd=tmp_path)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, result.stderr
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
        assert list(tmp_path.iterdir()) == [], args  # no outputs/<task>/<time>/ folder, no .hydra/, no log


@pytest.mark.slow
def test_help_lists_only_what_a_user_can_choose_with_each_keys_description():
    result = run_cli("task=binary", "optim=sgd", "--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "schema_" not in out
    assert "the losses listed fit task=binary" in out and "bce_logits" in out and "triplet_margin" not in out
    assert "optim.momentum=0.9" in out and "momentum factor" in out
    assert "model (auto: mlp for this data)" in out and "widths of the hidden layers" in out
    assert "trainer.max_epochs=30" in out and "epochs to train" in out


@pytest.mark.slow
def test_hydra_full_error_keeps_the_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HYDRA_FULL_ERROR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "+optim.lrr=0.1"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "Traceback" in result.stderr and "UserError" in result.stderr
