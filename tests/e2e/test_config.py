"""Config composition: every task picks its loss, model and data; typos and wrong types fail early."""

from __future__ import annotations

import pytest
from conftest import compose, run_cli

EXPECTED_DEFAULTS = {
    "multiclass": ("ce", "digits", "acc"),
    "multilabel": ("bce_logits", "digit_strips", "f1_micro"),
    "binary": ("bce_logits", "breast_cancer", "acc"),
    "regression": ("mse", "diabetes", "r2"),
}


@pytest.mark.parametrize("task", sorted(EXPECTED_DEFAULTS))
def test_task_picks_default_loss_model_and_data(task):
    cfg = compose(f"task={task}")
    loss, data, metric = EXPECTED_DEFAULTS[task]
    assert cfg.task.name == task
    assert cfg.loss.name == loss
    assert cfg.data.name == data
    assert cfg.model.name == "auto"
    assert cfg.task.main_metric == metric


def test_required_keys_exist_and_override():
    cfg = compose("seed=3", "trainer.max_epochs=2", "trainer.device=cpu", "data.batch_size=16", "optim.lr=0.01")
    assert (cfg.seed, cfg.trainer.max_epochs, cfg.trainer.device) == (3, 2, "cpu")
    assert (cfg.data.batch_size, cfg.optim.lr) == (16, 0.01)


def test_loss_override_and_loss_parameters_are_typed():
    cfg = compose("task=multilabel", "loss=bce_logits", "loss.reduction=sum")
    assert cfg.loss.reduction == "sum"
    cfg = compose("loss=ce", "loss.label_smoothing=0.1")
    assert cfg.loss.label_smoothing == pytest.approx(0.1)
    with pytest.raises(Exception, match="label_smoothing"):
        compose("loss=ce", "loss.label_smoothing=lots")


@pytest.mark.parametrize(
    "override, fragment",
    [("optim.lrr=0.1", "lrr"), ("optim.lr=fast", "optim.lr"), ("trainer.max_epoch=3", "max_epoch")],
)
def test_typos_and_wrong_types_fail_at_composition(override, fragment):
    with pytest.raises(Exception, match=fragment):
        compose(override)


def test_optimisers_and_schedulers_compose():
    for optim in ("adam", "adamw", "sgd"):
        assert compose(f"optim={optim}").optim.name == optim
    for sched in ("none", "cosine", "step"):
        assert compose(f"scheduler={sched}").scheduler.name == sched


def test_cli_help_lists_groups():
    result = run_cli("--help")
    assert result.returncode == 0
    for group in ("task:", "loss:", "model:", "data:", "optim:", "scheduler:"):
        assert group in result.stdout
    assert "bce_logits" in result.stdout


def test_cli_cfg_job_shows_the_config():
    result = run_cli("task=binary", "--cfg", "job")
    assert result.returncode == 0
    assert "name: bce_logits" in result.stdout and "name: breast_cancer" in result.stdout


def test_cli_typo_fails_with_one_line_and_no_traceback():
    result = run_cli("optim.lrr=0.1")
    assert result.returncode == 2
    assert "lrr" in result.stderr and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("optim", ["adam", "adamw", "sgd"])
def test_fused_optimisers_update_like_the_per_tensor_loop(optim):
    """optim.fused (the default) picks torch's fused kernels; the updates equal the loop's to rounding."""
    import torch

    from trainer.optim import build_optimizer

    def steps(fused: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        cfg = compose(f"optim={optim}", f"optim.fused={str(fused).lower()}", "optim.weight_decay=0.01").optim
        optimizer = build_optimizer(cfg, model)
        assert optimizer.param_groups[0]["fused"] is (True if fused else None)
        x, y = torch.randn(32, 6), torch.randn(32, 3)
        for _ in range(5):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        return [p.detach().clone() for p in model.parameters()]

    assert compose(f"optim={optim}").optim.fused is True
    for fused, loop in zip(steps(True), steps(False)):
        torch.testing.assert_close(fused, loop, rtol=1e-5, atol=1e-6)
