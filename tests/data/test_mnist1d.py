"""data=mnist1d and the signal models (linear, cnn1d, gru; and the mlp) of MNIST-1D's paper.

The signals are generated once for the module (about 20 s: importing the mnist1d package and its
generator), with the network unavailable, into a temporary cache folder that every test reads.
"""

from __future__ import annotations

import math
import random
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose, read_metrics

import trainer.config
from trainer.data import build_data
from trainer.data import mnist1d as data_mnist1d
from trainer.errors import UserError
from trainer.models import build_model, resolve_name
from trainer.models.signal import CNN1D, GRUClassifier

QUICK = ("trainer.max_epochs=1", "trainer.device=cpu", "trainer.num_threads=1", "trainer.progress=false")


@dataclass
class Generated:
    folder: Path
    network_calls: list[str]
    global_random_state_kept: bool


def _block_the_network(mp: pytest.MonkeyPatch, calls: list[str]) -> None:
    """Every way to the network, and the package's download path (get_dataset), fails and is recorded."""
    import mnist1d.data
    import requests

    def refuse(what: str):
        def call(*args, **kwargs):
            calls.append(what)
            raise AssertionError(f"MNIST-1D reached for the network: {what}")

        return call

    mp.setattr(requests, "get", refuse("requests.get"))
    mp.setattr(urllib.request, "urlopen", refuse("urllib.request.urlopen"))
    mp.setattr(socket.socket, "connect", refuse("socket.connect"))
    mp.setattr(mnist1d.data, "get_dataset", refuse("mnist1d.data.get_dataset"))


def bundle(folder: Path, *overrides: str):
    cfg = compose("task=multiclass", "data=mnist1d", f"data.cache_dir={folder}", *overrides)
    return build_data(cfg.data, "multiclass")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Generated:
    folder = tmp_path_factory.mktemp("mnist1d_cache")
    calls: list[str] = []
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with pytest.MonkeyPatch.context() as mp:
        _block_the_network(mp, calls)
        bundle(folder)
    after = np.random.get_state()
    kept = (
        np.array_equal(after[1], numpy_state[1]) and after[2:] == numpy_state[2:] and random.getstate() == python_state
    )
    return Generated(folder, calls, kept)


def raw(folder: Path) -> dict[str, np.ndarray]:
    return data_mnist1d.raw_arrays(compose("task=multiclass", "data=mnist1d", f"data.cache_dir={folder}").data)


# ---------------------------------------------------------------- generation and the cache


def test_generated_offline_without_the_download_or_the_global_random_state(generated):
    assert generated.network_calls == []
    assert [p.suffix for p in generated.folder.iterdir()] == [".npz"]  # one cache file, no temporary left
    # make_dataset seeds NumPy's and Python's global generators; the loader puts them back.
    assert generated.global_random_state_kept


def test_a_second_load_reads_the_cache_and_never_generates(generated, monkeypatch, tmp_path):
    import mnist1d.data

    def refuse(*args, **kwargs):
        raise AssertionError("generated again")

    monkeypatch.setattr(mnist1d.data, "make_dataset", refuse)
    assert len(bundle(generated.folder).test) == 1000
    with pytest.raises(AssertionError, match="generated again"):  # a folder without the cache does generate
        bundle(tmp_path / "empty")


def test_a_cache_file_cut_short_is_generated_again_and_rewritten(monkeypatch, tmp_path):
    import mnist1d.data

    rng = np.random.default_rng(0)
    fake = {"x": rng.standard_normal((4000, 40)), "y": np.arange(4000) % 10}
    fake |= {"x_test": rng.standard_normal((1000, 40)), "y_test": np.arange(1000) % 10}
    calls = []
    monkeypatch.setattr(mnist1d.data, "make_dataset", lambda args: calls.append(args) or fake)
    cfg = compose("task=multiclass", "data=mnist1d", f"data.cache_dir={tmp_path}").data
    path = data_mnist1d.cache_path(cfg)
    path.write_bytes(b"PK\x03\x04 not a whole archive")
    data = build_data(cfg, "multiclass")
    assert len(calls) == 1 and calls[0].seed == 42  # the package's default arguments
    assert torch.equal(data.test.y, torch.from_numpy(fake["y_test"]))
    assert np.array_equal(data_mnist1d.raw_arrays(cfg)["x"], fake["x"]) and len(calls) == 1  # rewritten


# ---------------------------------------------------------------- splits


def test_the_papers_test_split_and_a_stratified_validation_split_of_its_training_signals(generated):
    data = bundle(generated.folder)
    arrays = raw(generated.folder)
    assert (len(data.train), len(data.val), len(data.test)) == (3600, 400, 1000)  # val_fraction 0.1 of 4000
    assert data.kind == "signal" and data.input_shape == (1, 40) and data.num_outputs == 10
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.long
    assert data.class_names == [str(i) for i in range(10)]
    # Standardised with the training split's statistics: one mean and std over samples and points.
    x = data.train.x.double()
    assert abs(float(x.mean())) < 1e-6 and abs(float(x.std(unbiased=False)) - 1) < 1e-5
    # The test split is the package's 1000 test signals in their order, under the same affine map.
    assert torch.equal(data.test.y, torch.from_numpy(arrays["y_test"]))
    scale, shift = np.polyfit(data.test.x.numpy().ravel(), arrays["x_test"].ravel(), 1)
    assert np.allclose(scale * data.test.x.numpy()[:, 0] + shift, arrays["x_test"], atol=1e-5)
    # Train and val together are the 4000 training signals, each once, with their labels.
    seen = scale * torch.cat([data.train.x, data.val.x])[:, 0].double().numpy() + shift
    match, worst = [], 0.0
    for rows in np.array_split(seen, 8):  # squared distances to every training signal, 500 rows at a time
        distances = (rows**2).sum(1)[:, None] + (arrays["x"] ** 2).sum(1)[None] - 2 * rows @ arrays["x"].T
        match += distances.argmin(1).tolist()
        worst = max(worst, float(distances.min(1).max()))
    assert sorted(match) == list(range(4000)) and worst < 1e-6
    assert np.array_equal(torch.cat([data.train.y, data.val.y]).numpy(), arrays["y"][match])
    # Stratified: each class's share of the validation split is its share of the training signals.
    val_counts, all_counts = np.bincount(data.val.y.numpy(), minlength=10), np.bincount(arrays["y"], minlength=10)
    assert np.abs(val_counts - 0.1 * all_counts).max() <= 1


def test_the_split_seed_alone_picks_the_validation_split(generated):
    data = bundle(generated.folder)
    same = bundle(generated.folder, "seed=5")
    other = bundle(generated.folder, "data.split_seed=1")
    assert torch.equal(same.val.x, data.val.x) and torch.equal(same.val.y, data.val.y)
    assert not torch.equal(other.val.x, data.val.x)
    assert torch.equal(other.test.y, data.test.y)  # the paper's test split whatever the seed


def test_shuffle_seq_applies_the_papers_one_permutation_to_every_split(generated):
    plain, shuffled = bundle(generated.folder), bundle(generated.folder, "data.shuffle_seq=true")
    perm = data_mnist1d.shuffle_permutation()
    # The benchmark notebook's own lines: np.random.seed(42); np.random.permutation(40).
    state = np.random.get_state()
    np.random.seed(42)
    notebook = np.random.permutation(40)
    np.random.set_state(state)
    assert np.array_equal(perm, notebook) and not np.array_equal(perm, np.arange(40))
    for name, split in shuffled.splits().items():
        assert torch.equal(split.x, plain.splits()[name].x[..., perm]), name
        assert torch.equal(split.y, plain.splits()[name].y), name


def test_the_dataset_serves_multiclass_only():
    with pytest.raises(UserError, match="dataset 'mnist1d' does not serve task 'binary'"):
        trainer.config.check_config(compose("task=binary", "data=mnist1d", "model=mlp"))


# ---------------------------------------------------------------- the models


def test_model_auto_is_the_papers_cnn_for_signals():
    assert resolve_name("auto", "signal") == "cnn1d"
    cfg = compose("task=multiclass", "data=mnist1d", "model=auto")
    assert cfg.model.name == "auto" and list(cfg.model.kernel_sizes) == [5, 3, 3] and "hidden" not in cfg.model
    assert isinstance(build_model(cfg.model, "signal", (1, 40), 10), CNN1D)


@pytest.mark.parametrize(
    ("model", "overrides", "weights"),
    [
        ("linear", (), 410),  # the weight counts the paper's notebook prints for its models
        ("cnn1d", (), 5210),
        ("gru", (), 5134),
        ("mlp", ("model.hidden=[100,100]", "model.dropout=0"), 15210),
    ],
)
def test_the_models_have_the_papers_sizes(model, overrides, weights):
    cfg = compose("task=multiclass", "data=mnist1d", f"model={model}", *overrides)
    net = build_model(cfg.model, "signal", (1, 40), 10)
    assert sum(p.numel() for p in net.parameters()) == weights
    assert net(torch.randn(3, 1, 40)).shape == (3, 10)
    if model == "gru":
        assert isinstance(net, GRUClassifier) and net.gru.bidirectional and net.gru.hidden_size == 6


def test_the_signal_models_refuse_other_data_with_one_clear_line():
    cfg = compose("task=multiclass", "data=mnist1d", "model=cnn1d")
    with pytest.raises(UserError, match=r"model 'cnn1d' needs signals \(C, L\).*shape \(30,\); use model=cnn"):
        build_model(cfg.model, "table", (30,), 1)
    uneven = compose("task=multiclass", "data=mnist1d", "model=cnn1d", "model.channels=[25,25]")
    with pytest.raises(UserError, match="one entry per conv layer"):
        build_model(uneven.model, "signal", (1, 40), 10)
    deep = ("model.channels=[4,4,4,4,4,4,4]", "model.kernel_sizes=[5,5,5,5,5,5,5]")
    too_deep = compose("task=multiclass", "data=mnist1d", "model=cnn1d", *deep)
    with pytest.raises(UserError, match="no points left"):
        build_model(too_deep.model, "signal", (1, 40), 10)


@pytest.mark.parametrize("model", ["linear", "mlp", "cnn1d", "gru"])
def test_each_model_trains_an_epoch_on_the_signals(generated, model, tmp_path):
    from trainer.train import train

    cfg = compose("task=multiclass", "data=mnist1d", f"data.cache_dir={generated.folder}", f"model={model}", *QUICK)
    threads = torch.get_num_threads()
    try:
        train(cfg, tmp_path / "run")
    finally:
        torch.set_num_threads(threads)
    metrics = read_metrics(tmp_path / "run")
    assert metrics["epochs"] == 1 and metrics["steps"] == 36  # 3600 training signals, batches of 100
    for key in ("val/acc", "val/loss", "test/acc", "test/loss"):
        assert math.isfinite(metrics[key]), key
    assert 0 <= metrics["test/acc"] <= 1
