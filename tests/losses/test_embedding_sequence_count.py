"""The embedding, sequence and count losses against torch.nn: values, gradients, mining, stability."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import losses
from losses.ctc import ctc_targets, greedy_decode
from losses.embedding import mine_triplets, triplets_to_pairs
from losses.likelihood import gaussian_mean_var

REDUCTIONS = ("mean", "sum", "none")
LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1, 2, 3, 3, 0, 4])  # class 4 has no positive: never an anchor


def _randn(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).requires_grad_()


def _grad(value, x):
    (grad,) = torch.autograd.grad(value.sum(), x)
    return grad


# ---------------------------------------------------------------- mining


@pytest.mark.parametrize("mining", ["random", "batch_hard"])
def test_mined_triplets_have_same_class_positives_and_other_class_negatives(mining):
    z = _randn(len(LABELS), 3).detach()
    a, p, n = mine_triplets(LABELS, mining, torch.cdist(z, z))
    assert a.tolist() == [i for i in range(len(LABELS)) if LABELS[i] != 4]  # every anchor with a positive
    assert (LABELS[a] == LABELS[p]).all() and (a != p).all()
    assert (LABELS[a] != LABELS[n]).all()


def test_batch_hard_picks_the_farthest_positive_and_the_closest_negative():
    z = _randn(len(LABELS), 3).detach()
    d = torch.cdist(z, z)
    a, p, n = mine_triplets(LABELS, "batch_hard", d)
    for anchor, pos, neg in zip(a.tolist(), p.tolist(), n.tolist()):
        same = [j for j in range(len(LABELS)) if LABELS[j] == LABELS[anchor] and j != anchor]
        other = [j for j in range(len(LABELS)) if LABELS[j] != LABELS[anchor]]
        assert d[anchor, pos] == max(d[anchor, j] for j in same)
        assert d[anchor, neg] == min(d[anchor, j] for j in other)


def test_random_mining_is_deterministic_given_the_torch_seed_and_covers_every_candidate():
    torch.manual_seed(5)
    first = mine_triplets(LABELS)
    torch.manual_seed(5)
    again = mine_triplets(LABELS)
    assert all(torch.equal(u, v) for u, v in zip(first, again))
    # Anchor 0 (class 0) has positives {1, 6, 11}; over many draws every one of them comes up.
    seen = {int(mine_triplets(LABELS)[1][0]) for _ in range(200)}
    assert seen == {1, 6, 11}


def test_pairs_from_triplets():
    first, second, y = triplets_to_pairs(torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([4, 5]))
    assert list(zip(first.tolist(), second.tolist(), y.tolist())) == [(0, 1, 1), (2, 3, 1), (0, 4, -1), (2, 5, -1)]


# ---------------------------------------------------------------- embedding losses vs torch.nn


def _mined(loss, x, seed=3):
    """The loss on x, and the triplets it trained on (same RNG draw)."""
    torch.manual_seed(seed)
    value = loss(x, LABELS)
    torch.manual_seed(seed)
    return value, loss.mine(x, LABELS)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("mining", ["random", "batch_hard"])
@pytest.mark.parametrize("params", [{}, {"margin": 0.5, "p": 1.0, "swap": True}])
def test_triplet_margin_matches_torch(reduction, mining, params):
    x = _randn(len(LABELS), 4)
    loss = losses.build("triplet_margin", reduction=reduction, mining=mining, **params)
    value, (a, p, n) = _mined(loss, x)
    expected = nn.TripletMarginLoss(reduction=reduction, **params)(x[a], x[p], x[n])
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(_grad(value, x), _grad(expected, x))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_cosine_embedding_matches_torch(reduction, margin):
    x = _randn(len(LABELS), 4)
    loss = losses.build("cosine_embedding", margin=margin, reduction=reduction)
    value, triplets = _mined(loss, x)
    first, second, y = triplets_to_pairs(*triplets)
    expected = nn.CosineEmbeddingLoss(margin=margin, reduction=reduction)(x[first], x[second], y.double())
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(_grad(value, x), _grad(expected, x))
    torch.testing.assert_close(loss.predict(x).norm(dim=1), torch.ones(len(x), dtype=x.dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("mining", ["random", "batch_hard"])
def test_hinge_embedding_matches_torch_on_pair_distances(reduction, mining):
    x = _randn(len(LABELS), 4)
    loss = losses.build("hinge_embedding", margin=2.0, reduction=reduction, mining=mining)
    value, triplets = _mined(loss, x)
    first, second, y = triplets_to_pairs(*triplets)
    distance = F.pairwise_distance(x[first], x[second])
    expected = nn.HingeEmbeddingLoss(margin=2.0, reduction=reduction)(distance, y.double())
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(_grad(value, x), _grad(expected, x))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("similarity", ["cosine", "neg_distance"])
def test_margin_ranking_matches_torch(reduction, similarity):
    x = _randn(len(LABELS), 4)
    loss = losses.build("margin_ranking", margin=0.2, similarity=similarity, reduction=reduction)
    value, (a, p, n) = _mined(loss, x)
    if similarity == "cosine":
        x1, x2 = F.cosine_similarity(x[a], x[p]), F.cosine_similarity(x[a], x[n])
    else:
        x1, x2 = -F.pairwise_distance(x[a], x[p]), -F.pairwise_distance(x[a], x[n])
    expected = nn.MarginRankingLoss(margin=0.2, reduction=reduction)(x1, x2, torch.ones_like(x1))
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(_grad(value, x), _grad(expected, x))


@pytest.mark.parametrize("name", ["triplet_margin", "cosine_embedding", "hinge_embedding", "margin_ranking"])
def test_embedding_loss_on_a_batch_without_tuples_is_zero_and_backpropagates(name):
    x = _randn(4, 3)
    value = losses.build(name)(x, torch.zeros(4, dtype=torch.long))  # a single class: no negatives
    assert value.item() == 0.0
    value.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    assert losses.build(name, reduction="none")(x, torch.zeros(4, dtype=torch.long)).shape == (0,)


def test_embedding_losses_refuse_unknown_mining_and_classification_tasks():
    with pytest.raises(losses.LossError, match="mining must be one of random, batch_hard"):
        losses.build("triplet_margin", mining="semi")
    with pytest.raises(losses.LossError, match="similarity"):
        losses.build("margin_ranking", similarity="dot")
    with pytest.raises(losses.LossDoesNotFitTaskError, match="task=embedding"):
        losses.build("triplet_margin", task="multiclass")
    assert losses.available("embedding") == ["cosine_embedding", "hinge_embedding", "margin_ranking", "triplet_margin"]


# ---------------------------------------------------------------- ctc

SEQ_TARGET = torch.tensor([[3, 1, 4, -1, -1], [1, 1, -1, -1, -1], [0, 9, 2, 6, 5], [7, -1, -1, -1, -1]])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("blank", [0, 10])
def test_ctc_matches_torch(reduction, blank):
    x = _randn(4, 12, 11)
    loss = losses.build("ctc", blank=blank, reduction=reduction)
    assert loss.head_size("sequence", 10) == 11
    value = loss(x, SEQ_TARGET)
    # By hand: labels moved past the blank (+1 when blank = 0), lengths = non-padding entries.
    lengths = (SEQ_TARGET >= 0).sum(1)
    targets = torch.cat([SEQ_TARGET[i, : lengths[i]] + (1 if blank == 0 else 0) for i in range(4)])
    expected = nn.CTCLoss(blank=blank, reduction=reduction)(
        x.log_softmax(-1).transpose(0, 1), targets, torch.full((4,), 12), lengths
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(_grad(value, x), _grad(expected, x))


def test_ctc_targets_and_zero_infinity():
    shifted, lengths = ctc_targets(SEQ_TARGET, blank=0)
    assert lengths.tolist() == [3, 2, 5, 1]
    assert shifted[0].tolist() == [4, 2, 5, 0, 0]
    # [1, 1] needs 3 steps (a blank between the repeats); with 2 steps it is impossible: inf, or 0.
    x = _randn(1, 2, 11)
    assert losses.build("ctc")(x, SEQ_TARGET[1:2]).isinf()
    value = losses.build("ctc", zero_infinity=True)(x, SEQ_TARGET[1:2])
    assert value.item() == 0.0
    assert torch.isfinite(_grad(value, x)).all()


def test_greedy_decode_merges_repeats_and_drops_blanks():
    steps = [3, 3, 0, 3, 5, 5, 0, 0, 1]  # blank = 0; class k is score index k + 1
    x = F.one_hot(torch.tensor([steps]), 11).double()
    assert greedy_decode(x).tolist() == [[2, 2, 4, 0, -1, -1, -1, -1, -1]]
    assert losses.build("ctc").predict(x).tolist() == greedy_decode(x).tolist()
    # With blank = 10 classes keep their own index.
    steps = [2, 10, 2, 2, 10, 0]
    assert greedy_decode(F.one_hot(torch.tensor([steps]), 11), blank=10).tolist() == [[2, 2, 0, -1, -1, -1]]


def test_ctc_says_what_it_needs():
    with pytest.raises(losses.LossError, match=r"\(N, T, C \+ 1\)"):
        losses.build("ctc")(torch.zeros(4, 11), SEQ_TARGET)
    with pytest.raises(losses.LossDoesNotFitTaskError, match="task=sequence"):
        losses.build("ctc", task="multiclass")


# ---------------------------------------------------------------- poisson_nll and gaussian_nll


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_matches_torch(reduction, log_input, full):
    x = _randn(8, 1) if log_input else (_randn(8, 1).detach().abs() + 0.1).requires_grad_()
    y = torch.tensor([0.0, 1, 2, 3, 0, 5, 1, 7], dtype=torch.float64)
    loss = losses.build("poisson_nll", task="count", log_input=log_input, full=full, reduction=reduction)
    value = loss(x, y)
    expected = nn.PoissonNLLLoss(log_input=log_input, full=full, reduction=reduction)(x.squeeze(1), y)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(_grad(value, x), _grad(expected, x))
    rate = x.exp() if log_input else x
    torch.testing.assert_close(loss.predict(x.detach()), rate.detach().squeeze(1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("task", ["regression", "count"])
def test_gaussian_nll_has_a_variance_head_and_matches_torch(reduction, full, task):
    loss = losses.build("gaussian_nll", task=task, full=full, eps=1e-4, reduction=reduction)
    assert loss.head_size(task, 1) == 2
    x, y = _randn(8, 2), _randn(8, seed=1).detach()
    value = loss(x, y)
    mean, var = x[:, 0], F.softplus(x[:, 1])
    expected = nn.GaussianNLLLoss(full=full, eps=1e-4, reduction=reduction)(mean, y, var)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(_grad(value, x), _grad(expected, x))
    torch.testing.assert_close(loss.predict(x.detach()), mean.detach())


def test_gaussian_nll_with_several_targets():
    x, y = _randn(5, 6), _randn(5, 3, seed=1).detach()
    mean, var = gaussian_mean_var(x)
    assert mean.shape == var.shape == (5, 3)
    expected = F.gaussian_nll_loss(x[:, :3], y, F.softplus(x[:, 3:]))
    torch.testing.assert_close(losses.build("gaussian_nll")(x, y), expected)


def test_likelihood_losses_refuse_classification_and_poisson_refuses_regression():
    with pytest.raises(losses.LossDoesNotFitTaskError, match="standardised"):
        losses.build("poisson_nll", task="regression")
    with pytest.raises(losses.LossDoesNotFitTaskError, match="not classes"):
        losses.build("gaussian_nll", task="multiclass")
    assert {"poisson_nll", "gaussian_nll", "mse", "l1", "huber", "smooth_l1"} <= set(losses.available("count"))


# ---------------------------------------------------------------- numerical stability


def _finite(value, x):
    return bool(torch.isfinite(value).all()) and bool(torch.isfinite(_grad(value, x)).all())


@pytest.mark.parametrize("name", ["triplet_margin", "cosine_embedding", "hinge_embedding", "margin_ranking"])
@pytest.mark.parametrize("mining", ["random", "batch_hard"])
def test_embedding_losses_are_finite_for_huge_embeddings(name, mining):
    x = _randn(len(LABELS), 4, scale=1e4).float().detach().requires_grad_()
    torch.manual_seed(0)
    assert _finite(losses.build(name, mining=mining)(x, LABELS), x)


def test_ctc_is_finite_for_huge_logits():
    x = _randn(4, 12, 11, scale=1e4).float().detach().requires_grad_()
    assert _finite(losses.build("ctc")(x, SEQ_TARGET), x)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_gaussian_nll_is_finite_for_huge_outputs(sign):
    x = torch.full((6, 2), sign * 1e4, requires_grad=True)
    assert _finite(losses.build("gaussian_nll")(x, torch.arange(6.0)), x)


def test_poisson_nll_is_finite_where_the_value_is_representable():
    y = torch.tensor([0.0, 1, 3])
    x = torch.full((3, 1), -1e4, requires_grad=True)  # log-rate: rate underflows to 0, loss = -y x
    assert _finite(losses.build("poisson_nll", task="count")(x, y), x)
    x = torch.full((3, 1), 1e4, requires_grad=True)  # rate given directly
    assert _finite(losses.build("poisson_nll", task="count", log_input=False)(x, y), x)
    # A log-rate of 1e4 means a loss of about e^10000: not representable, and reported as inf, not nan.
    value = losses.build("poisson_nll", task="count")(torch.full((3, 1), 1e4), y)
    assert value.isinf() and value > 0
