"""The sweep report (trainer/sweep/report.py, run as scripts/compare.py) on hand-made run folders, so every
number in the report is known in advance."""

from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from scipy import stats as scipy_stats

from trainer.sweep import report as compare


def make_run(
    run_dir: Path,
    overrides: list[str],
    config: dict,
    metrics: dict | None,
    curve: dict[str, list[float]] | None = None,
    failed: str | None = None,
) -> None:
    """A run folder as a sweep job leaves it: Hydra's .hydra files, metrics.json, event files."""
    from torch.utils.tensorboard import SummaryWriter

    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    (run_dir / ".hydra" / "overrides.yaml").write_text(json.dumps(overrides))
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if failed is not None:
        (run_dir / "failed.json").write_text(json.dumps({"reason": failed}))
    if curve:
        writer = SummaryWriter(str(run_dir))
        for tag, values in curve.items():
            for epoch, value in enumerate(values):
                writer.add_scalar(tag, value, epoch)
        writer.close()


def task_config(seed: int, loss: str, main: str = "acc", mode: str = "max", task: str = "multiclass") -> dict:
    return {
        "task": {"name": task, "main_metric": main, "main_metric_mode": mode},
        "loss": {"name": loss},
        "optim": {"lr": 0.001},
        "seed": seed,
        "trainer": {"device": "cpu", "max_epochs": 4},
    }


# Per loss and seed: (val/acc, test/acc, val/loss, best_epoch, wall time) and the val/acc curve.
RUNS = {
    ("ce", 0): (0.90, 0.88, 0.30, 3, 10.0, [0.5, 0.8, 0.86, 0.90]),
    ("ce", 1): (0.94, 0.91, 0.25, 2, 12.0, [0.6, 0.93, 0.94, 0.92]),
    ("ce", 2): (0.92, 0.90, 0.28, 3, 11.0, [0.4, 0.7, 0.88, 0.92]),
    ("mse", 0): (0.96, 0.95, 0.05, 1, 9.0, [0.95, 0.96, 0.94, 0.95]),
    ("mse", 1): (0.98, 0.97, 0.04, 2, 9.5, [0.90, 0.95, 0.98, 0.97]),
}


@pytest.fixture
def sweep(tmp_path) -> Path:
    for (loss, seed), (val, test, val_loss, best, wall, curve) in RUNS.items():
        make_run(
            tmp_path / f"loss={loss},seed={seed}",
            [f"loss={loss}", f"seed={seed}", "experiment=compare_multiclass"],
            task_config(seed, loss),
            {
                "val/acc": val,
                "test/acc": test,
                "val/loss": val_loss,
                "test/loss": val_loss + 0.01,
                "best_epoch": best,
                "epochs": 4,
                "wall_time_s": wall,
            },
            {"val/acc": curve, "val/loss": [1.0 / (e + 1) for e in range(4)]},
        )
    # mse seed 2 diverged: recorded as failed, no metrics.json.
    make_run(tmp_path / "loss=mse,seed=2", ["loss=mse", "seed=2"], task_config(2, "mse"), None, None, "the loss is nan")
    (tmp_path / "multirun.yaml").write_text("{}")
    return tmp_path


def test_one_row_per_configuration_with_mean_and_std_over_seeds(sweep):
    text = compare.compare(sweep)
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [r["configuration"] for r in rows] == ["loss=mse", "loss=ce"]  # higher val/acc first
    for row in rows:
        loss = row["configuration"].split("=")[1]
        done = [v for (name, _), v in RUNS.items() if name == loss]
        for index, key in enumerate(("val/acc", "test/acc", "val/loss")):
            values = [v[index] for v in done]
            assert float(row[f"{key}_mean"]) == pytest.approx(statistics.fmean(values), abs=1e-6)
            assert float(row[f"{key}_std"]) == pytest.approx(statistics.stdev(values), abs=1e-6)
        assert float(row["best_epoch_mean"]) == pytest.approx(statistics.fmean(v[3] + 1 for v in done))
        assert float(row["wall_time_s_mean"]) == pytest.approx(statistics.fmean(v[4] for v in done))
    mse, ce = rows
    assert (mse["runs"], mse["completed"], mse["failed"]) == ("3", "2", "1")
    assert (ce["runs"], ce["completed"], ce["failed"]) == ("3", "3", "0")
    # Epochs to 95% of each run's best val/acc: ce 3, 2, 3; mse 1, 2.
    assert float(ce["epochs_to_fraction_mean"]) == pytest.approx(8 / 3)
    assert float(mse["epochs_to_fraction_mean"]) == pytest.approx(1.5)

    report = (sweep / "report.md").read_text()
    half = scipy_stats.t.ppf(0.975, 1) * statistics.stdev([0.96, 0.98]) / math.sqrt(2)  # mse's 2 seeds
    assert f"| 1 | loss=mse | 2/3 | 1 | {0.97 - half:.4f} to {0.97 + half:.4f} | best | 0.9700 ± 0.0141 |" in report
    assert "`loss=mse,seed=2` (failed): the loss is nan" in report
    assert "loss=mse" in text and "loss=ce" in text  # the table, on the terminal too
    png = (sweep / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_lower_is_better_metrics_sort_ascending(tmp_path):
    for loss, mae in (("mse", 3.0), ("l1", 2.0), ("huber", 2.5)):
        config = task_config(0, loss, main="mae", mode="min", task="regression")
        make_run(tmp_path / loss, [f"loss={loss}"], config, {"val/mae": mae, "val/loss": 1.0, "best_epoch": 0})
    compare.compare(tmp_path, make_plot=False)
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [r["configuration"] for r in rows] == ["loss=l1", "loss=huber", "loss=mse"]
    assert not (tmp_path / "curves.png").exists()


def test_epochs_to_fraction_of_the_best():
    steps = lambda values: list(enumerate(values))  # noqa: E731
    assert compare.epochs_to_fraction(steps([0.5, 0.9, 0.96, 1.0]), 0.95, "max") == 3
    assert compare.epochs_to_fraction(steps([0.99, 0.5, 1.0]), 0.95, "max") == 1
    assert compare.epochs_to_fraction(steps([4.0, 2.0, 1.04, 1.0]), 0.95, "min") == 3  # <= 1/0.95
    assert math.isnan(compare.epochs_to_fraction(steps([-0.5, -0.2]), 0.95, "max"))  # no fraction of a negative
    assert math.isnan(compare.epochs_to_fraction([], 0.95, "max"))


def test_labels_keep_what_varies_and_shorten_floats():
    runs = [
        compare.Run(Path(f"t{i}"), f"t{i}", {}, ["task=multiclass", f"optim.lr={lr}", f"seed={i}"], None, None)
        for i, lr in enumerate((0.0022881136684755237, 0.01))
    ]
    assert compare.labels_for([[runs[0]], [runs[1]]]) == ["optim.lr=0.002288", "optim.lr=0.01"]


def test_a_dozen_configurations_plot_and_report(tmp_path):
    for index in range(12):
        for seed in (0, 1):
            curve = [0.5 + 0.04 * e + 0.01 * index + 0.005 * seed for e in range(5)]
            make_run(
                tmp_path / f"c{index}-{seed}",
                [f"loss=l{index}", f"seed={seed}"],
                task_config(seed, f"l{index}"),
                {"val/acc": curve[-1], "val/loss": 1 - curve[-1], "best_epoch": 4},
                {"val/acc": curve, "val/loss": [1 - v for v in curve]},
            )
    compare.compare(tmp_path)
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [r["configuration"] for r in rows] == [f"loss=l{i}" for i in reversed(range(12))]
    from matplotlib.image import imread

    height, width = imread(tmp_path / "curves.png").shape[:2]
    assert width >= 1500 and height >= 450


def test_a_folder_without_runs_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    for target, message in ((tmp_path, "no runs in"), (tmp_path / "missing", "is not a directory")):
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "compare.py"), str(target)], capture_output=True, text=True
        )
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert "Traceback" not in result.stderr


# 3 losses x 5 seeds: focal and ce close, mse clearly worse; val/acc per seed.
DECIDING = {
    "focal": [0.951, 0.962, 0.948, 0.957, 0.955],
    "ce": [0.949, 0.958, 0.950, 0.951, 0.954],
    "mse": [0.931, 0.940, 0.925, 0.938, 0.933],
}


@pytest.fixture
def deciding_sweep(tmp_path) -> Path:
    for loss, values in DECIDING.items():
        for seed, value in enumerate(values):
            metrics = {"val/acc": value, "test/acc": value - 0.01, "val/loss": 0.2, "best_epoch": 2, "epochs": 10}
            metrics["val_samples"] = 1000
            make_run(
                tmp_path / f"loss={loss},seed={seed}",
                [f"loss={loss}", f"seed={seed}"],
                task_config(seed, loss),
                metrics,
            )
    return tmp_path


def test_the_verdict_intervals_and_tied_column_match_scipy(deciding_sweep):
    text = compare.compare(deciding_sweep, make_plot=False)
    rows = {r["configuration"]: r for r in csv.DictReader((deciding_sweep / "report.csv").open())}
    for loss, values in DECIDING.items():
        ci = scipy_stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
        assert float(rows[f"loss={loss}"]["val/acc_ci95_low"]) == pytest.approx(ci.low)
        assert float(rows[f"loss={loss}"]["val/acc_ci95_high"]) == pytest.approx(ci.high)
    # paired by seed against the best (focal), Holm over the two comparisons
    p_ce = scipy_stats.ttest_rel(DECIDING["ce"], DECIDING["focal"]).pvalue
    p_mse = scipy_stats.ttest_rel(DECIDING["mse"], DECIDING["focal"]).pvalue
    holm_mse, holm_ce = min(1, 2 * min(p_ce, p_mse)), min(1, max(2 * min(p_ce, p_mse), max(p_ce, p_mse)))
    assert p_mse < p_ce and holm_ce > 0.05 > holm_mse  # the numbers are chosen so
    report = (deciding_sweep / "report.md").read_text()
    assert "| 2 | loss=ce | 5/5 | 0 |" in report and f"tied (p = {holm_ce:.2g})" in report
    assert f"worse (p = {holm_mse:.2g})" in report
    assert f"**`loss=focal` and `loss=ce` (p = {holm_ce:.2g}) are tied for best on val/acc**" in report
    diff = scipy_stats.ttest_rel(DECIDING["mse"], DECIDING["focal"])
    interval = diff.confidence_interval(0.95)
    worse_by = -statistics.fmean(a - b for a, b in zip(DECIDING["mse"], DECIDING["focal"]))
    assert (
        f"`loss=mse` is worse by {worse_by * 100:.2f} points (95% CI {-interval.high * 100:.2f} points to "
        f"{-interval.low * 100:.2f} points; p = {holm_mse:.2g}, Holm)" in report
    )
    assert "would take about" in report and "seeds (80% power)" in report
    assert "tied for best" in text  # the verdict, on the terminal too
    runs = list(csv.DictReader((deciding_sweep / "runs.csv").open()))
    assert len(runs) == 15 and {r["seed"] for r in runs} == {"0", "1", "2", "3", "4"}
    assert "<details><summary>Per-seed val/acc" in report


def test_fragile_comparisons_are_warned_about(tmp_path):
    # every run peaks at its last epoch; val ranks a above b, test ranks b above a beyond both intervals
    for loss, (val, test) in {"a": (0.95, 0.80), "b": (0.94, 0.93)}.items():
        for seed in range(3):
            metrics = {"val/acc": val + 0.001 * seed, "test/acc": test + 0.002 * seed, "val/loss": 0.1}
            metrics |= {"best_epoch": 9, "epochs": 10, "val_samples": 120}
            make_run(
                tmp_path / f"loss={loss},seed={seed}",
                [f"loss={loss}", f"seed={seed}"],
                task_config(seed, loss),
                metrics,
            )
    compare.compare(tmp_path, make_plot=False)
    report = (tmp_path / "report.md").read_text()
    assert "every run of every configuration peaked at its last epoch (10)" in report
    assert "trainer.max_epochs=20" in report
    assert "validation and test disagree: `loss=a` ranks above `loss=b`" in report
    assert "the validation split has 120 samples: one point of acc is 1.2 samples" in report


def test_aggregate_runs_are_served_by_tensorboard_as_margin_charts(sweep):
    import socket
    import time
    import urllib.parse
    import urllib.request

    compare.compare(sweep, make_plot=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tensorboard = Path(sys.executable).with_name("tensorboard")
    command = [str(tensorboard), "--logdir", str(sweep), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/data/plugin"

    def get(path: str):
        with urllib.request.urlopen(f"{base}/{path}", timeout=10) as response:
            return json.loads(response.read())

    try:
        deadline, tags = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            try:
                tags = get("scalars/tags")
                if "aggregate/loss=ce" in tags and "aggregate/loss=mse" in tags:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read()
            time.sleep(0.5)
        assert {"val/acc", "val/acc (min)", "val/acc (max)"} <= set(tags["aggregate/loss=ce"])
        query = urllib.parse.urlencode({"run": "aggregate/loss=ce", "tag": "val/acc (min)"})
        served = [value for _, _, value in get(f"scalars/scalars?{query}")]
        curves = [RUNS[("ce", seed)][5] for seed in range(3)]
        assert served == pytest.approx([min(values) for values in zip(*curves)])
        query = urllib.parse.urlencode({"run": "aggregate/loss=ce", "tag": "val/acc"})
        assert [v for _, _, v in get(f"scalars/scalars?{query}")] == pytest.approx(
            [statistics.fmean(values) for values in zip(*curves)]
        )
        layout = get("custom_scalars/layout")
        charts = [chart for category in layout["category"] for chart in category["chart"]]
        margin = next(c for c in charts if c["title"] == "val/acc")["margin"]["series"][0]
        assert (margin["value"], margin["lower"], margin["upper"]) == ("val/acc", "val/acc (min)", "val/acc (max)")
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_report_embeds_the_reliability_diagrams_side_by_side(sweep):
    for loss in ("ce", "mse"):
        (sweep / f"loss={loss},seed=0" / "reliability_diagram.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    compare.compare(sweep, make_plot=False, aggregates=False)
    report = (sweep / "report.md").read_text()
    assert "| loss=mse | loss=ce |" in report
    assert "![reliability of loss=ce](<loss=ce,seed=0/reliability_diagram.png>)" in report
    assert not (sweep / "aggregate").exists()
