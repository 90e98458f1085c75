"""The embedding, sequence and count tasks: their metrics, data, configs, and short training runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import compose, read_metrics, run_cli

from trainer.data.embedded import count_log_rate, make_counts
from trainer.tasks.metrics import CharErrorRate, PoissonDeviance, RecallAtOne, SequenceAccuracy, edit_distance

# ---------------------------------------------------------------- metrics on hand-made examples


def test_recall_at_1_leaves_the_sample_itself_out():
    z = torch.tensor([[0.0], [0.1], [5.0], [5.2], [10.0]])
    y = torch.tensor([0, 0, 1, 1, 0])
    metric = RecallAtOne()
    metric.update(z, y)
    # 10.0's nearest other point is 5.2 (class 1): the only miss.
    assert metric.compute().item() == pytest.approx(0.8)
    # Accumulated over batches, and chunked, it is the same.
    chunked = RecallAtOne(chunk_size=2)
    chunked.update(z[:2], y[:2])
    chunked.update(z[2:], y[2:])
    assert chunked.compute().item() == pytest.approx(0.8)


def test_recall_at_1_matches_a_brute_force_loop():
    g = torch.Generator().manual_seed(0)
    z, y = torch.randn(60, 3, generator=g), torch.randint(0, 3, (60,), generator=g)
    metric = RecallAtOne(chunk_size=7)
    metric.update(z, y)
    hits = 0
    for i in range(60):
        d = [float((z[i] - z[j]).norm()) if j != i else float("inf") for j in range(60)]
        hits += int(y[int(np.argmin(d))] == y[i])
    assert metric.compute().item() == pytest.approx(hits / 60)


def test_sequence_accuracy_and_cer_on_hand_made_sequences():
    target = torch.tensor([[1, 2, 3, -1, -1], [4, -1, -1, -1, -1], [5, 5, 6, 7, -1]])
    preds = torch.tensor([[1, 2, 3, -1, -1, -1], [4, 4, -1, -1, -1, -1], [5, 6, 7, -1, -1, -1]])  # other width
    acc, cer = SequenceAccuracy(), CharErrorRate()
    acc.update(preds, target)
    cer.update(preds, target)
    assert acc.compute().item() == pytest.approx(1 / 3)
    assert cer.compute().item() == pytest.approx((0 + 1 + 1) / (3 + 1 + 4))  # one insertion, one deletion
    assert edit_distance([1, 2, 3], [3, 2, 1]) == 2 and edit_distance([], [1, 2]) == 2


def test_cer_matches_torchmetrics_on_digit_strings():
    from torchmetrics.text import CharErrorRate as TorchmetricsCER

    rng = np.random.default_rng(0)
    seqs = [[rng.integers(0, 10, size=rng.integers(1, 6)).tolist() for _ in range(40)] for _ in range(2)]
    target, preds = (torch.tensor([s + [-1] * (5 - len(s)) for s in batch]) for batch in seqs)
    ours, reference = CharErrorRate(), TorchmetricsCER()
    ours.update(preds, target)
    reference.update(["".join(map(str, p)) for p in seqs[1]], ["".join(map(str, t)) for t in seqs[0]])
    assert ours.compute().item() == pytest.approx(reference.compute().item())


def test_poisson_deviance_matches_torchmetrics_tweedie():
    from torchmetrics.regression import TweedieDevianceScore

    g = torch.Generator().manual_seed(0)
    rate = torch.rand(50, generator=g) * 4 + 0.1
    counts = torch.poisson(rate, generator=g)
    ours, reference = PoissonDeviance(), TweedieDevianceScore(power=1)
    ours.update(rate, counts)
    reference.update(rate, counts)
    assert counts.min() == 0  # zero counts are part of the check
    assert ours.compute().item() == pytest.approx(reference.compute().item(), rel=1e-5)
    # Non-positive predictions (a loss like mse may give them) are floored, not a crash.
    floored = PoissonDeviance()
    floored.update(torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, 2.0]))
    assert torch.isfinite(floored.compute())


# ---------------------------------------------------------------- data


def test_digit_sequences_are_strips_of_1_to_5_digits_padded_with_minus_one():
    from trainer.data import build_data

    bundle = build_data(compose("task=sequence", "data.num_samples=400").data, "sequence")
    assert bundle.input_shape == (1, 8, 40) and bundle.num_outputs == 10
    assert [len(s) for s in bundle.splits().values()] == [280, 60, 60]
    y = bundle.train.y
    lengths = (y >= 0).sum(1)
    assert y.shape == (280, 5) and lengths.min() == 1 and lengths.max() == 5
    # Padding only at the end, digits 0-9 elsewhere.
    assert torch.equal(y >= 0, torch.arange(5)[None, :] < lengths[:, None])
    assert y[y >= 0].max() <= 9


def test_counts_come_from_the_documented_rate_function():
    x, y = make_counts(20000, seed=0)
    assert x.shape == (20000, 5) and (y >= 0).all() and (y == np.round(y)).all()
    rate = np.exp(count_log_rate(x))
    # Poisson: the counts' mean and variance match the rate's in expectation.
    assert y.mean() == pytest.approx(rate.mean(), rel=0.02)
    assert np.corrcoef(y, rate)[0, 1] > 0.6
    from trainer.data import build_data

    bundle = build_data(compose("task=count").data, "count")
    again = build_data(compose("task=count").data, "count")
    assert torch.equal(bundle.test.y, again.test.y)  # seeded by data.split_seed
    assert bundle.kind == "table" and bundle.input_shape == (5,)


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize(
    "task, loss, model, data, metric, mode",
    [
        ("embedding", "triplet_margin", "embed_cnn", "digits", "recall_at_1", "max"),
        ("sequence", "ctc", "seq_cnn", "digit_sequences", "seq_acc", "max"),
        ("count", "poisson_nll", "auto", "counts", "deviance", "min"),
    ],
)
def test_new_tasks_compose(task, loss, model, data, metric, mode):
    cfg = compose(f"task={task}")
    assert (cfg.loss.name, cfg.model.name, cfg.data.name) == (loss, model, data)
    assert (cfg.task.main_metric, cfg.task.main_metric_mode) == (metric, mode)


def test_embedding_loss_parameters_are_typed():
    cfg = compose("task=embedding", "loss=margin_ranking", "loss.margin=0.3", "model.l2_normalize=true")
    assert cfg.loss.margin == pytest.approx(0.3) and cfg.loss.similarity == "cosine" and cfg.model.l2_normalize
    with pytest.raises(Exception, match="margin"):
        compose("task=embedding", "loss.margin=wide")


# ---------------------------------------------------------------- training end to end (small settings)


def _train(tmp_path, *overrides):
    from trainer.train import train

    # One thread: on a shared, busy CPU, torch's thread pool oversubscribes and runs many times slower.
    cfg = compose(*overrides, "trainer.device=cpu", "trainer.progress=false", "trainer.num_threads=1")
    return train(cfg, tmp_path)


def test_embedding_trains_to_a_useful_nearest_neighbour_accuracy(tmp_path):
    results = _train(tmp_path, "task=embedding", "trainer.max_epochs=2")
    assert results["test/recall_at_1"] > 0.85, results  # chance is about 0.1


@pytest.mark.parametrize("loss", ["cosine_embedding", "hinge_embedding", "margin_ranking"])
def test_each_embedding_loss_trains(tmp_path, loss):
    results = _train(tmp_path, "task=embedding", f"loss={loss}", "trainer.max_epochs=1", "model.embedding_dim=16")
    assert results["test/recall_at_1"] > 0.7, results


def test_sequence_trains_with_ctc(tmp_path):
    # ~160 steps: CTC first learns to emit only blanks, then the digits.
    results = _train(tmp_path, "task=sequence", "data.num_samples=1200", "data.batch_size=32", "trainer.max_epochs=6")
    assert results["test/seq_acc"] > 0.5 and results["test/cer"] < 0.2, results


def test_count_poisson_beats_the_constant_rate_and_gaussian_nll_trains(tmp_path):
    results = _train(tmp_path / "poisson", "task=count", "trainer.max_epochs=5")
    from trainer.data import build_data

    data = build_data(compose("task=count").data, "count")
    constant = PoissonDeviance()
    constant.update(torch.full_like(data.test.y, float(data.train.y.mean())), data.test.y)
    assert results["test/deviance"] < 0.9 * constant.compute().item(), results
    results = _train(tmp_path / "gauss", "task=count", "loss=gaussian_nll", "trainer.max_epochs=3")
    assert np.isfinite(results["test/deviance"]) and results["test/mae"] < 2.0, results


def test_gaussian_nll_on_regression_reports_the_mean_in_target_units(tmp_path):
    results = _train(tmp_path, "task=regression", "loss=gaussian_nll", "trainer.max_epochs=20")
    assert results["test/r2"] > 0.2 and 20 < results["test/mae"] < 80, results  # diabetes: target std ~77


def test_cli_runs_the_count_task_and_a_loss_that_does_not_fit_is_refused(tmp_path):
    result = run_cli("task=count", "trainer.max_epochs=2", "trainer.num_threads=1", f"hydra.run.dir={tmp_path / 'ok'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/deviance" in read_metrics(tmp_path / "ok")
    from trainer.errors import UserError  # what the CLI prints as "error: ..." with exit code 2

    with pytest.raises(UserError, match="triplet_margin"):  # it lists the losses that fit
        _train(tmp_path / "bad", "task=embedding", "loss=ce")
    assert not (tmp_path / "bad" / "checkpoints").exists()
