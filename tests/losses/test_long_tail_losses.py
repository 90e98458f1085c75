"""The long-tail losses (logit_adjust, balanced_softmax, ldam) and mae: values and gradients against the papers'
formulas (and LDAM-DRW's reference code), the class counts the registry computes from the training labels, and a
short training run each.

Every formula check runs in float64 on random logits with imbalanced class counts, one class absent from the
training labels (counted once, as for weight=auto).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import compose
from test_modern_losses import assert_value_and_grad

import losses
from losses.from_config import build as build_from_config
from losses.from_config import resolve

REDUCTIONS = ("mean", "sum", "none")
COUNTS = [500, 120, 30, 8, 0]  # imbalanced; the last class never occurs in the training labels
C = len(COUNTS)
N = 9
LONG_TAIL = ("logit_adjust", "balanced_softmax", "ldam")
NEW = (*LONG_TAIL, "mae")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _logits(n: int = N, c: int = C, scale: float = 2.0, seed: int = 0) -> torch.Tensor:
    return (torch.randn(n, c, generator=_gen(seed), dtype=torch.float64) * scale).requires_grad_()


def _classes(n: int = N, c: int = C, seed: int = 1) -> torch.Tensor:
    y = torch.randint(0, c, (n,), generator=_gen(seed))
    y[:c] = torch.arange(c)  # every class appears in the batch, the absent one included
    return y


def _training_labels(counts: list[int] = COUNTS) -> torch.Tensor:
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return labels[torch.randperm(len(labels), generator=_gen(5))]


def _counts64(counts: list[int] = COUNTS) -> np.ndarray:
    """n_c as the losses see them: float64, an absent class counted once."""
    return np.maximum(np.array(counts, dtype=np.float64), 1.0)


def _build(name: str, **params) -> torch.nn.Module:
    return losses.build(name, task="multiclass", labels=_training_labels(), num_classes=C, **params)


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


# ---------------------------------------------------------------- logit_adjust and balanced_softmax


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_logit_adjust_is_ce_of_logits_plus_tau_log_prior(tau, reduction):
    x, y = _logits(), _classes()
    n = _counts64()
    log_pi = torch.tensor(np.log(n / n.sum()))  # the priors pi_c = n_c / sum_k n_k of the training labels
    loss = _build("logit_adjust", tau=tau, reduction=reduction)

    def reference(x):
        adjusted = x + tau * log_pi
        per_sample = torch.logsumexp(adjusted, dim=1) - adjusted[torch.arange(N), y]
        return _reduce(per_sample, reduction)

    assert_value_and_grad(lambda x: loss(x, y), reference, x)


def test_logit_adjust_at_tau_zero_is_ce_and_predicts_with_the_unadjusted_logits():
    x, y = _logits(), _classes()
    torch.testing.assert_close(_build("logit_adjust", tau=0.0)(x, y), F.cross_entropy(x, y))
    for name in ("logit_adjust", "balanced_softmax"):
        torch.testing.assert_close(_build(name).predict(x), torch.softmax(x, dim=1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_balanced_softmax_is_ren_et_al_and_logit_adjust_at_tau_one(reduction):
    x, y = _logits(), _classes()
    n = torch.tensor(_counts64())
    balanced = _build("balanced_softmax", reduction=reduction)
    adjusted = _build("logit_adjust", tau=1.0, reduction=reduction)

    def ren_et_al(x):  # p_y = n_y exp(z_y) / sum_j n_j exp(z_j), written out (the logits are small here)
        weighted = n * torch.exp(x)
        return _reduce(-torch.log(weighted[torch.arange(N), y] / weighted.sum(dim=1)), reduction)

    def ce_plus_log_n(x):  # log n_c = log pi_c + log N: the constant cancels in the softmax
        return F.cross_entropy(x + torch.log(n), y, reduction=reduction)

    assert_value_and_grad(lambda x: balanced(x, y), ren_et_al, x)
    assert_value_and_grad(lambda x: adjusted(x, y), ren_et_al, x)
    assert_value_and_grad(lambda x: balanced(x, y), ce_plus_log_n, x)


def test_balanced_softmax_is_an_alias_with_only_reduction():
    info = losses.info("balanced_softmax")
    assert list(info.params()) == ["reduction"]
    assert issubclass(info.cls, losses.info("logit_adjust").cls)
    assert "logit_adjust" in info.summary and "tau = 1" in info.summary
    assert _build("balanced_softmax").tau == 1.0


# ---------------------------------------------------------------- ldam


@pytest.mark.parametrize("max_m", [0.5, 1.0])
def test_ldam_margins_follow_n_to_the_minus_quarter_and_peak_at_max_m(max_m):
    margins = _build("ldam", max_m=max_m).margins
    n = torch.tensor(_counts64())
    assert margins.dtype == torch.float64
    torch.testing.assert_close(margins.max(), torch.tensor(max_m, dtype=torch.float64))
    ratio = margins * n**0.25  # Delta_c * n_c^(1/4) = the constant C_m
    torch.testing.assert_close(ratio, ratio[0].expand_as(ratio))
    assert margins.argmax() == n.argmin() and margins.argmin() == n.argmax()  # the rarest class, the largest margin


def _reference_ldam(x, target, cls_num_list, max_m, s, weight, reduction):
    """kaidic/LDAM-DRW losses.py LDAMLoss.forward, transcribed (float64, CPU, and with a reduction)."""
    m_list = 1.0 / np.sqrt(np.sqrt(cls_num_list))
    m_list = torch.tensor(m_list * (max_m / np.max(m_list)))
    index = torch.zeros_like(x, dtype=torch.bool)
    index.scatter_(1, target.view(-1, 1), True)
    batch_m = torch.matmul(m_list[None, :], index.double().transpose(0, 1)).view((-1, 1))
    output = torch.where(index, x - batch_m, x)
    return F.cross_entropy(s * output, target, weight=weight, reduction=reduction)


def _reference_drw_weights(cls_num_list, epoch, drw_epoch, beta=0.9999):
    """kaidic/LDAM-DRW cifar_train.py, train_rule == 'DRW' (idx = epoch // 160, with drw_epoch for 160)."""
    idx = min(epoch // drw_epoch, 1)
    betas = [0, beta]
    effective_num = 1.0 - np.power(betas[idx], cls_num_list)
    per_cls_weights = (1.0 - betas[idx]) / np.array(effective_num)
    per_cls_weights = per_cls_weights / np.sum(per_cls_weights) * len(cls_num_list)
    return torch.tensor(per_cls_weights)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("max_m, s", [(0.5, 1.0), (0.5, 30.0), (1.5, 2.0)])
def test_ldam_matches_the_reference_code(max_m, s, reduction):
    x, y = _logits(scale=0.5 if s == 30 else 2.0), _classes()
    loss = _build("ldam", max_m=max_m, s=s, reduction=reduction)
    reference = _reference_ldam
    assert_value_and_grad(lambda x: loss(x, y), lambda x: reference(x, y, _counts64(), max_m, s, None, reduction), x)
    torch.testing.assert_close(loss.predict(x), torch.softmax(s * x, dim=1))  # the probabilities it trains


def test_ldam_is_ce_of_the_margin_shifted_logits():
    x, y = _logits(), _classes()
    loss = _build("ldam")
    margins = torch.tensor(_counts64()) ** -0.25
    margins = 0.5 * margins / margins.max()
    shifted = x - F.one_hot(y, C).double() * margins[y][:, None]
    torch.testing.assert_close(loss(x, y), F.cross_entropy(shifted, y))
    torch.testing.assert_close(_build("ldam", max_m=0.0)(x, y), F.cross_entropy(x, y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ldam_drw_weights_are_one_before_drw_epoch_and_effective_number_after(reduction):
    x, y = _logits(), _classes()
    drw_epoch = 3
    loss = _build("ldam", drw_epoch=drw_epoch, reduction=reduction)
    assert loss.class_weight() is None  # never told the epoch: epoch 0
    for epoch in (0, 1, 2, 3, 4, 10, 1):  # the weights follow the epoch alone, also backwards (a resume)
        loss.set_epoch(epoch)
        weight = _reference_drw_weights(_counts64(), epoch, drw_epoch)
        if epoch < drw_epoch:
            torch.testing.assert_close(weight, torch.ones(C, dtype=torch.float64))
            assert loss.class_weight() is None
        else:
            torch.testing.assert_close(loss.class_weight(), weight)
            torch.testing.assert_close(weight.sum(), torch.tensor(float(C), dtype=torch.float64))
        assert_value_and_grad(
            lambda x, w=weight: loss(x, y),
            lambda x, w=weight: _reference_ldam(x, y, _counts64(), 0.5, 1.0, w, reduction),
            x,
        )


def test_ldam_drw_weights_are_the_effective_number_formula():
    loss = _build("ldam", drw_epoch=0, drw_beta=0.999)
    loss.set_epoch(0)
    n, beta = _counts64(), 0.999
    w = (1 - beta) / (1 - beta**n)
    torch.testing.assert_close(loss.class_weight(), torch.tensor(w * C / w.sum()))
    assert loss.class_weight()[-1] == loss.class_weight().max()  # the absent class, counted once
    never = _build("ldam")  # drw_epoch = null: never re-weighted
    never.set_epoch(10_000)
    assert never.class_weight() is None


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"max_m": -0.1}, "max_m"),
        ({"s": 0.0}, r"s \(the logit scale\)"),
        ({"drw_epoch": -1}, "drw_epoch"),
        ({"drw_epoch": 1.5}, "drw_epoch"),
        ({"drw_beta": 1.0}, "drw_beta"),
    ],
)
def test_ldam_refuses_bad_parameters_in_one_line(params, fragment):
    with pytest.raises(losses.LossError, match=fragment) as err:
        _build("ldam", **params)
    assert "\n" not in str(err.value)


def test_set_epoch_is_on_every_loss_and_combo_passes_it_to_its_terms():
    labels = _training_labels()
    losses.build("ce").set_epoch(3)  # the default: nothing to do
    spec = {"name": "combo", "terms": {"ce": {}, "ldam": {"drw_epoch": 2}}}
    combo = build_from_config(resolve(spec, "multiclass"), "multiclass", labels=labels, num_classes=C)
    ldam = combo.terms[1]
    assert ldam.class_weight() is None
    combo.set_epoch(2)
    assert ldam.class_weight() is not None
    combo.set_epoch(1)
    assert ldam.class_weight() is None


# ---------------------------------------------------------------- mae


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mae_is_the_l1_distance_of_the_softmax_to_the_one_hot_target(reduction):
    x, y = _logits(), _classes()
    loss = losses.build("mae", reduction=reduction)

    def reference(x):
        return _reduce((torch.softmax(x, dim=1) - F.one_hot(y, C).double()).abs().sum(dim=1), reduction)

    assert_value_and_grad(lambda x: loss(x, y), reference, x)
    p_y = torch.softmax(x, dim=1)[torch.arange(N), y]
    torch.testing.assert_close(losses.build("mae", reduction="none")(x, y), 2 * (1 - p_y))
    torch.testing.assert_close(losses.build("mae")(x, y), 2 * losses.build("gce", q=1.0)(x, y))


# ---------------------------------------------------------------- stability (test_stability.py's checks, with labels)


@pytest.mark.parametrize("name", NEW)
def test_loss_and_gradient_stay_finite_at_extreme_logits(name, magnitude=1e4):
    loss_fn = _build(name, **({"drw_epoch": 0} if name == "ldam" else {}))
    y = _classes()
    right = torch.full((N, C), -magnitude, dtype=torch.float32)
    right[torch.arange(N), y] = magnitude
    signs = torch.where(torch.rand(N, C, generator=_gen(3)) > 0.5, 1.0, -1.0) * magnitude
    for case, output in {"right": right, "wrong": -right, "random signs": signs}.items():
        output = output.clone().requires_grad_()
        loss = loss_fn(output, y)
        (grad,) = torch.autograd.grad(loss, output)
        assert torch.isfinite(loss), f"{name}, confidently {case}: loss {loss}"
        assert torch.isfinite(grad).all(), f"{name}, confidently {case}: gradient not finite"
        preds = loss_fn.predict(output.detach())
        assert torch.isfinite(preds).all() and ((preds >= 0) & (preds <= 1)).all()
        torch.testing.assert_close(preds.sum(dim=1), torch.ones(N))


# ---------------------------------------------------------------- class counts from the labels


@pytest.mark.parametrize("name", LONG_TAIL)
def test_class_counts_come_from_the_training_labels(name):
    loss = _build(name)
    n = _counts64()
    buffer = loss.margins if name == "ldam" else loss.log_prior
    expected = n**-0.25 * (0.5 / (n**-0.25).max()) if name == "ldam" else np.log(n / n.sum())
    torch.testing.assert_close(buffer, torch.tensor(expected))
    assert torch.isfinite(buffer).all()  # the absent class is counted once
    assert loss.state_dict() == {}  # derived from the labels, not saved in checkpoints


@pytest.mark.parametrize("name", LONG_TAIL)
def test_building_without_labels_says_how_to_pass_them_in_one_line(name):
    with pytest.raises(losses.LossError) as err:
        losses.build(name, task="multiclass")
    message = str(err.value)
    assert "\n" not in message
    assert "training labels" in message and "python -m trainer passes them" in message
    assert f"losses.build({name!r}, task=..., labels=<training targets>, num_classes=<C>)" in message
    with pytest.raises(losses.LossError, match="python -m trainer passes them"):
        build_from_config(resolve({"name": name}, "multiclass"), "multiclass")


@pytest.mark.parametrize("name", LONG_TAIL)
def test_class_counts_is_not_a_user_parameter(name):
    import dataclasses
    import importlib.util

    from conftest import ROOT

    info = losses.info(name)
    assert info.needs_class_counts
    assert "class_counts" not in info.params() and "class_counts" not in info.defaults()
    assert "class_counts" not in {f.name for f in dataclasses.fields(info.schema())}
    spec = importlib.util.spec_from_file_location("generate_for_long_tail", ROOT / "scripts" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    text = generate.loss_yaml(info)
    assert "class_counts" not in text and (ROOT / "conf" / "loss" / f"{name}.yaml").read_text() == text
    with pytest.raises(losses.LossError, match="has no parameter"):
        _build(name, class_counts=[1.0] * C)
    resolve({"name": name}, "multiclass")  # the harness provides it: the config need not set it


def test_help_shows_the_ldam_keys_but_not_class_counts(capsys):
    from trainer.cli import print_help

    print_help(["task=multiclass", "loss=ldam"])
    out = capsys.readouterr().out
    assert "loss.max_m=0.5" in out and "loss.drw_epoch=null" in out
    assert "class_counts" not in out


def test_the_config_refuses_class_counts():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose("task=multiclass", "loss=ldam", "loss.class_counts=[1,2]")


# ---------------------------------------------------------------- training


FAST = ("trainer.device=cpu", "trainer.progress=false", "trainer.max_epochs=1", "trainer.num_threads=1")
TABLE_MULTICLASS = ("task=multiclass", "data=breast_cancer")  # 2 classes (212 / 357), tabular: fast

RUNS = {
    "logit_adjust": ("loss=logit_adjust", "loss.tau=1.5"),
    "balanced_softmax": ("loss=balanced_softmax",),
    "ldam-drw": ("loss=ldam", "loss.drw_epoch=0"),
    "mae": ("loss=mae",),
}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_loss_trains_one_epoch_with_finite_metrics(run, tmp_path):
    from trainer.train import train

    results = train(compose(*TABLE_MULTICLASS, *RUNS[run], *FAST), tmp_path)
    numbers = {k: v for k, v in results.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    assert "test/loss" in numbers and "test/acc" in numbers, results
    assert all(math.isfinite(v) for v in numbers.values()), numbers
    assert 0.0 <= results["test/ece"] <= 1.0


def test_the_trainer_tells_ldam_each_epoch(tmp_path, monkeypatch):
    from losses.ldam import LDAM
    from trainer.train import train

    seen: list[tuple[int, bool]] = []
    original = LDAM.set_epoch

    def recording(self, epoch: int) -> None:
        original(self, epoch)
        seen.append((epoch, self.class_weight() is not None))

    monkeypatch.setattr(LDAM, "set_epoch", recording)
    fast = [o for o in FAST if not o.startswith("trainer.max_epochs")]
    results = train(
        compose(*TABLE_MULTICLASS, "loss=ldam", "loss.drw_epoch=1", "trainer.max_epochs=2", *fast), tmp_path
    )
    assert seen == [(0, False), (1, True)]  # 0-based, re-weighted from drw_epoch on
    assert math.isfinite(results["test/loss"])
