"""``losses.build`` against torch.nn and the seeds' worked examples."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import losses

REDUCTIONS = ("mean", "sum", "none")


def _logits(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ce_and_nll_match_torch_on_indices(reduction):
    x, y = _logits(8, 5), torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    w = [1.0, 2.0, 0.5, 1.0, 3.0]
    expected = nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float64), reduction=reduction)(x, y)
    got = losses.build("ce", weight=w, reduction=reduction)(x, y)
    torch.testing.assert_close(got, expected)
    nll = losses.build("nll", weight=w, reduction=reduction)(x, y)
    torch.testing.assert_close(
        nll, nn.NLLLoss(weight=torch.tensor(w, dtype=torch.float64), reduction=reduction)(F.log_softmax(x, 1), y)
    )


def test_ce_label_smoothing_and_ignore_index_match_torch():
    x, y = _logits(6, 4), torch.tensor([0, 1, -100, 3, 2, 1])
    expected = nn.CrossEntropyLoss(label_smoothing=0.2)(x, y)
    torch.testing.assert_close(losses.build("ce", label_smoothing=0.2)(x, y), expected)


def test_ce_on_binary_uses_a_two_way_head():
    loss = losses.build("ce", task="binary")
    assert loss.head_size("binary", 1) == 2
    x, y = _logits(5, 2), torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
    torch.testing.assert_close(loss(x, y), F.cross_entropy(x, y.long()))
    assert loss.predict(x).shape == (5,)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_applies_the_sigmoid(reduction):
    x, y = _logits(4, 3), (torch.rand(4, 3, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    got = losses.build("bce", task="multilabel", reduction=reduction)(x, y)
    torch.testing.assert_close(got, nn.BCELoss(reduction=reduction)(torch.sigmoid(x), y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_logits_weight_and_pos_weight(reduction):
    x, y = _logits(4, 3), (torch.rand(4, 3, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    pw, w = [1.0, 2.0, 3.0], [0.5, 1.0, 2.0]
    expected = nn.BCEWithLogitsLoss(
        weight=torch.tensor(w, dtype=torch.float64),
        pos_weight=torch.tensor(pw, dtype=torch.float64),
        reduction=reduction,
    )(x, y)
    got = losses.build("bce_logits", task="multilabel", weight=w, pos_weight=pw, reduction=reduction)(x, y)
    torch.testing.assert_close(got, expected)


def test_bce_logits_on_multiclass_uses_one_hot_targets():
    x, y = _logits(6, 4), torch.tensor([0, 1, 2, 3, 3, 0])
    got = losses.build("bce_logits", task="multiclass")(x, y)
    torch.testing.assert_close(got, F.binary_cross_entropy_with_logits(x, F.one_hot(y, 4).double()))


def test_binary_accepts_n_by_1_head_output():
    x, y = _logits(7, 1), torch.tensor([0, 1, 1, 0, 1, 0, 0], dtype=torch.float64)
    got = losses.build("bce_logits", task="binary")(x, y)
    torch.testing.assert_close(got, F.binary_cross_entropy_with_logits(x[:, 0], y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name, reference",
    [
        ("mse", lambda r: nn.MSELoss(reduction=r)),
        ("l1", lambda r: nn.L1Loss(reduction=r)),
        ("smooth_l1", lambda r: nn.SmoothL1Loss(beta=0.5, reduction=r)),
        ("huber", lambda r: nn.HuberLoss(delta=0.5, reduction=r)),
    ],
)
def test_regression_losses_match_torch(name, reference, reduction):
    x, y = _logits(9), _logits(9) * 2
    params = {"beta": 0.5} if name == "smooth_l1" else {"delta": 0.5} if name == "huber" else {}
    torch.testing.assert_close(losses.build(name, reduction=reduction, **params)(x, y), reference(reduction)(x, y))


def test_mse_on_multiclass_regresses_one_hot():
    x, y = _logits(5, 3), torch.tensor([0, 1, 2, 1, 0])
    torch.testing.assert_close(losses.build("mse", task="multiclass")(x, y), F.mse_loss(x, F.one_hot(y, 3).double()))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_matches_torch(reduction):
    x, y = _logits(4, 5), (torch.rand(4, 5, generator=torch.Generator().manual_seed(2)) > 0.5).double()
    expected = nn.MultiLabelSoftMarginLoss(reduction=reduction)(x, y)
    torch.testing.assert_close(losses.build("multilabel_soft_margin", reduction=reduction)(x, y), expected)


# ---- the seeds' worked examples, through losses.build


def test_seed_cross_entropy_1_2081():
    x = torch.tensor([[0.1, 0.05, 0.7, 0.15], [0.2, 0.3, 0.4, 0.1]])
    assert losses.build("ce")(x, torch.tensor([2, 0])).item() == pytest.approx(1.2081, abs=1e-4)


def test_seed_bce_0_8939():
    probs = torch.tensor([0.1, 0.7, 0.5, 0.2])
    logits = torch.log(probs / (1 - probs))  # bce applies the sigmoid itself
    got = losses.build("bce", task="binary")(logits, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert got.item() == pytest.approx(0.8939, abs=1e-4)


def test_seed_bce_with_logits_0_3135_and_0_6795():
    got = losses.build("bce_logits", task="multilabel", pos_weight=[1.0] * 64)(
        torch.full((10, 64), 0.999), torch.ones(10, 64)
    )
    assert got.item() == pytest.approx(0.3135, abs=1e-4)
    x = torch.tensor([[0.1, 0.2, 0.7], [0.4, 0.5, 0.1]])
    assert losses.build("bce_logits", task="multiclass")(x, torch.tensor([2, 1])).item() == pytest.approx(
        0.6795, abs=1e-4
    )


def test_seed_nll_0_8569():
    x = torch.tensor([[0.1, 0.2, 0.7], [0.4, 0.5, 0.1]])
    assert losses.build("nll")(x, torch.tensor([2, 1])).item() == pytest.approx(0.8569, abs=1e-4)


# ---- the API's errors


def test_available_lists_fitting_losses():
    assert {"ce", "nll", "bce_logits", "mse"} <= set(losses.available("multiclass"))
    assert "ce" not in losses.available("multilabel")
    assert set(losses.available()) >= {
        "ce",
        "nll",
        "bce",
        "bce_logits",
        "mse",
        "l1",
        "smooth_l1",
        "huber",
        "multilabel_soft_margin",
    }


def test_loss_that_does_not_fit_says_why_and_lists_alternatives():
    with pytest.raises(losses.LossDoesNotFitTaskError, match="exactly one label") as err:
        losses.build("ce", task="multilabel")
    assert "bce_logits" in str(err.value)


def test_unknown_loss_and_parameter_errors():
    with pytest.raises(losses.UnknownLossError, match="Losses: asl, balanced_softmax, bce"):
        losses.build("cross_entropy")
    with pytest.raises(losses.LossError, match="label_smoothing"):
        losses.build("ce", smoothing=0.1)
    with pytest.raises(ValueError, match="reduction"):
        losses.build("mse", reduction="avg")
