"""Every registered classification and regression loss: finite at extreme logits, probabilities for the metrics.

And the files generated from the registry (conf/loss, docs/losses.md) are current.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import losses

ROOT = Path(__file__).resolve().parents[2]
NATURAL_SIZE = {"multiclass": 10, "multilabel": 10, "binary": 1, "regression": 1}
N = 12


def _targets(task: str, gen: torch.Generator) -> torch.Tensor:
    if task == "multiclass":
        return torch.randint(0, NATURAL_SIZE[task], (N,), generator=gen)
    if task == "multilabel":
        return (torch.rand(N, NATURAL_SIZE[task], generator=gen) > 0.7).float()
    if task == "binary":
        return (torch.rand(N, generator=gen) > 0.5).float()
    return torch.randn(N, generator=gen)


def _extreme_outputs(task: str, head: int, target: torch.Tensor, magnitude: float, gen: torch.Generator):
    """Outputs of size ``magnitude``: random signs, confidently right, confidently wrong, uniform in between."""
    signs = torch.where(torch.rand(N, head, generator=gen) > 0.5, 1.0, -1.0) * magnitude
    if task == "multiclass" or (task == "binary" and head == 2):
        right = torch.full((N, head), -magnitude)
        right[torch.arange(N), target.long()] = magnitude
    elif task in ("multilabel", "binary"):
        right = (target.reshape(N, -1) * 2 - 1).expand(N, head) * magnitude
    else:
        right = torch.full((N, head), magnitude)
    uniform = (torch.rand(N, head, generator=gen) * 2 - 1) * magnitude
    return {"random signs": signs, "confidently right": right, "confidently wrong": -right, "uniform": uniform}


CASES = [(task, name) for task in NATURAL_SIZE for name in losses.available(task)]


@pytest.mark.parametrize("task, name", CASES, ids=[f"{t}-{n}" for t, n in CASES])
def test_loss_and_gradient_stay_finite_at_extreme_outputs(task, name, magnitude=1e4):
    gen = torch.Generator().manual_seed(0)
    target = _targets(task, gen)
    loss_fn = losses.build(name, task=task, labels=target, num_classes=NATURAL_SIZE[task])
    head = loss_fn.head_size(task, NATURAL_SIZE[task])
    for case, output in _extreme_outputs(task, head, target, magnitude, gen).items():
        output = output.clone().requires_grad_()
        loss = loss_fn(output, target)
        loss = loss if loss.dim() == 0 else loss.mean()
        (grad,) = torch.autograd.grad(loss, output)
        assert torch.isfinite(loss), f"{name} on {task}, {case} x {magnitude:g}: loss {loss}"
        assert torch.isfinite(grad).all(), f"{name} on {task}, {case} x {magnitude:g}: gradient not finite"


CLASSIFICATION = [(t, n) for t, n in CASES if t != "regression"]


@pytest.mark.parametrize("task, name", CLASSIFICATION, ids=[f"{t}-{n}" for t, n in CLASSIFICATION])
def test_predict_gives_probabilities_the_metrics_and_ece_can_use(task, name):
    from trainer.tasks import get_task
    from trainer.train.evaluate import build_metrics

    gen = torch.Generator().manual_seed(1)
    target = _targets(task, gen)
    loss_fn = losses.build(name, task=task, labels=target, num_classes=NATURAL_SIZE[task])
    head = loss_fn.head_size(task, NATURAL_SIZE[task])
    output = torch.randn(N, head, generator=gen) * 3
    preds = loss_fn.predict(output)
    expected_shape = (N,) if task == "binary" else (N, NATURAL_SIZE[task])
    assert preds.shape == expected_shape
    assert ((preds >= 0) & (preds <= 1)).all()
    if task == "multiclass":
        torch.testing.assert_close(preds.sum(dim=1), torch.ones(N))
    metrics = build_metrics(task, NATURAL_SIZE[task], torch.device("cpu"))
    metrics.update(preds, get_task(task).metric_target(target))
    values = {k: float(v) for k, v in metrics.compute().items()}
    assert all(v == v for v in values.values()), values  # no NaN
    if task in ("multiclass", "binary"):
        assert 0.0 <= values["ece"] <= 1.0


def test_generated_loss_configs_and_table_are_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, f"run python scripts/generate.py\n{result.stdout}{result.stderr}"


def test_generate_check_fails_when_a_file_is_out_of_date(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("generate_under_test", ROOT / "scripts" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["generate.py"])
    (tmp_path / "conf" / "loss").mkdir(parents=True)
    assert generate.main() == 0  # writes a fresh copy under tmp_path
    monkeypatch.setattr(sys, "argv", ["generate.py", "--check"])
    assert generate.main() == 0
    table = tmp_path / "docs" / "losses.md"
    table.write_text(table.read_text().replace("| `focal` |", "| `focal_old` |"))
    shutil.copy(tmp_path / "conf" / "loss" / "ce.yaml", tmp_path / "conf" / "loss" / "no_such_loss.yaml")
    assert generate.main() == 1
    out = capsys.readouterr().out
    assert "docs/losses.md" in out and "no_such_loss.yaml" in out
