"""weight / pos_weight = auto (or a method): computed once from the training labels, against the formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import compose

import losses
from losses.class_weights import EFFECTIVE_NUM_BETA

# 10 samples: class 0 x5, class 1 x3, class 2 x2 (class 3 absent)
CLASSES = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])


def test_inv_freq_is_sklearns_balanced_weighting():
    from sklearn.utils.class_weight import compute_class_weight

    loss = losses.build("ce", weight="inv_freq", labels=CLASSES, num_classes=3)
    expected = compute_class_weight("balanced", classes=torch.arange(3).numpy(), y=CLASSES.numpy())
    torch.testing.assert_close(loss.weight, torch.tensor(expected, dtype=torch.float32))
    # auto is inv_freq for weight
    torch.testing.assert_close(losses.build("ce", weight="auto", labels=CLASSES, num_classes=3).weight, loss.weight)


def test_effective_num_follows_cui_et_al():
    counts = torch.tensor([5.0, 3.0, 2.0], dtype=torch.float64)
    raw = (1 - EFFECTIVE_NUM_BETA) / (1 - EFFECTIVE_NUM_BETA**counts)
    expected = raw / raw.sum() * 3
    loss = losses.build("ce", weight="effective_num", labels=CLASSES, num_classes=3)
    torch.testing.assert_close(loss.weight, expected.float())
    assert EFFECTIVE_NUM_BETA == 0.999


def test_an_absent_class_is_counted_once():
    loss = losses.build("ce", weight="inv_freq", labels=CLASSES, num_classes=4)
    counts = torch.tensor([5.0, 3.0, 2.0, 1.0])
    torch.testing.assert_close(loss.weight, counts.mean() / counts)


def test_pos_weight_methods_on_multilabel():
    y = torch.tensor([[1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=torch.float32)
    positives, negatives = torch.tensor([4.0, 1.0, 1.0]), torch.tensor([1.0, 4.0, 4.0])
    for method in ("auto", "neg_pos", "inv_freq"):
        loss = losses.build("bce_logits", task="multilabel", pos_weight=method, labels=y)
        torch.testing.assert_close(loss.pos_weight, negatives / positives)
    loss = losses.build("bce_logits", task="multilabel", pos_weight="effective_num", labels=y)
    b = EFFECTIVE_NUM_BETA
    expected = (1 - b ** negatives.double()) / (1 - b ** positives.double())
    torch.testing.assert_close(loss.pos_weight, expected.float())
    # weight on multilabel: per label column, from the positives
    loss = losses.build("bce_logits", task="multilabel", weight="inv_freq", labels=y)
    torch.testing.assert_close(loss.weight, positives.mean() / positives)


def test_binary_pos_weight_and_two_way_head_weight():
    y = torch.tensor([1.0, 1.0, 1.0, 0.0])
    loss = losses.build("bce_logits", task="binary", pos_weight="auto", labels=y)
    torch.testing.assert_close(loss.pos_weight, torch.tensor([1 / 3]))
    x = torch.tensor([0.3, -1.2, 2.0, 0.5])
    torch.testing.assert_close(loss(x, y), F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor([1 / 3])))
    ce = losses.build("ce", task="binary", weight="auto", labels=y)  # 2-way head: [n0, n1] = [1, 3]
    torch.testing.assert_close(ce.weight, torch.tensor([2.0, 2 / 3]))


def test_per_label_loss_on_multiclass_uses_one_hot_columns():
    loss = losses.build("bce_logits", task="multiclass", pos_weight="neg_pos", labels=CLASSES, num_classes=3)
    torch.testing.assert_close(loss.pos_weight, torch.tensor([5 / 5, 7 / 3, 8 / 2]))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"name": "ce", "weight": "auto"}, "labels=<training targets>"),
        ({"name": "ce", "weight": "neg_pos", "labels": CLASSES}, "not a weighting method"),
        ({"name": "ce", "weight": "balanced", "labels": CLASSES}, "inv_freq"),
        ({"name": "bce_logits", "task": "binary", "weight": "auto", "labels": CLASSES[:4] > 0}, "pos_weight=auto"),
        ({"name": "mse", "task": "regression", "reduction": "avg"}, "reduction"),
    ],
)
def test_clear_errors(kwargs, fragment):
    kwargs = dict(kwargs)
    with pytest.raises(losses.LossError, match=fragment):
        losses.build(kwargs.pop("name"), **kwargs)


def test_the_trainer_computes_auto_weights_from_the_training_split_only():
    from trainer.data import build_data
    from trainer.train.recipe import build_loss

    cfg = compose("task=binary", "loss.pos_weight=auto", "loss.label_smoothing=0.1")
    data = build_data(cfg.data, "binary")
    loss = build_loss(cfg, data)
    n_pos = float(data.train.y.sum())
    torch.testing.assert_close(loss.pos_weight, torch.tensor([(len(data.train.y) - n_pos) / n_pos]))
    assert loss.label_smoothing == pytest.approx(0.1)

    cfg = compose("task=multiclass", "loss.weight=effective_num")
    data = build_data(cfg.data, "multiclass")
    counts = torch.bincount(data.train.y, minlength=10).double()
    raw = 1 / (1 - EFFECTIVE_NUM_BETA**counts)
    torch.testing.assert_close(build_loss(cfg, data).weight, (raw / raw.sum() * 10).float())
