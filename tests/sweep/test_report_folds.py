"""The report over folds (paired by fold, and by seed and fold) and by the last epoch (--epoch last)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from scipy import stats as scipy_stats
from test_report import make_run, task_config

from trainer.sweep import report as compare

# val/acc per loss and fold; the losses differ by a steady 0.02, the folds by much more
FOLDS = {"ce": [0.90, 0.80, 0.85, 0.95, 0.70], "focal": [0.88, 0.78, 0.83, 0.93, 0.68]}


def folded_config(seed: int, loss: str, fold: int) -> dict:
    return {**task_config(seed, loss), "data": {"name": "digits", "folds": 5, "fold": fold}}


def make_folds(root: Path, seeds: tuple[int, ...] = (0,)) -> None:
    for loss, values in FOLDS.items():
        for seed in seeds:
            for fold, val in enumerate(values):
                value = val + 0.001 * seed
                make_run(
                    root / f"loss={loss},data.fold={fold},seed={seed}",
                    [f"loss={loss}", f"data.fold={fold}", f"seed={seed}", "data.folds=5"],
                    folded_config(seed, loss, fold),
                    {"val/acc": value, "test/acc": value - 0.05, "val/loss": 1 - value, "best_epoch": 3, "epochs": 4},
                )


def test_folds_group_into_one_configuration_and_pair_by_fold(tmp_path):
    make_folds(tmp_path)
    compare.compare(tmp_path, make_plot=False, aggregates=False)
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [r["configuration"] for r in rows] == ["loss=ce", "loss=focal"]  # five folds each, one row
    md = (tmp_path / "report.md").read_text()
    assert "mean ± std over the folds" in md and "paired by fold" in md
    # paired by fold the steady 0.02 is decisive, though unpaired the fold spread would hide it
    p = scipy_stats.ttest_rel(FOLDS["ce"], FOLDS["focal"]).pvalue
    assert p < 0.001 and scipy_stats.ttest_ind(FOLDS["ce"], FOLDS["focal"]).pvalue > 0.5
    assert "5 folds), distinguishable" in md and "worse by 2.00 points" in md
    runs = list(csv.DictReader((tmp_path / "runs.csv").open()))
    assert sorted(int(r["fold"]) for r in runs if r["configuration"] == "loss=ce") == [0, 1, 2, 3, 4]
    assert "seed 0 fold 4" in md  # the per-replicate table names seed and fold


def test_seeds_and_folds_together_pair_by_both(tmp_path):
    make_folds(tmp_path, seeds=(0, 1))
    compare.compare(tmp_path, make_plot=False, aggregates=False)
    md = (tmp_path / "report.md").read_text()
    assert "over the seed-fold pairs" in md and "paired by seed and fold" in md
    assert "10 seed-fold pairs)" in md


def test_epoch_last_ranks_by_the_last_epochs_metrics(tmp_path):
    # ce is best at its best epoch, but collapses by its last (noisy labels); gce holds on
    values = {"ce": (0.95, 0.60), "gce": (0.90, 0.88)}
    for loss, (best, last) in values.items():
        for seed in (0, 1, 2):
            jitter = 0.002 * seed
            make_run(
                tmp_path / f"loss={loss},seed={seed}",
                [f"loss={loss}", f"seed={seed}"],
                task_config(seed, loss),
                {
                    "val/acc": best + jitter,
                    "test/acc": best - 0.01,
                    "val_last/acc": last + jitter,
                    "test_last/acc": last - 0.01,
                    "val/loss": 0.1,
                    "val_last/loss": 0.5,
                    "best_epoch": 1,
                    "epochs": 4,
                },
            )
    compare.compare(tmp_path, make_plot=False, aggregates=False)
    assert [r["configuration"] for r in csv.DictReader((tmp_path / "report.csv").open())] == ["loss=ce", "loss=gce"]
    compare.compare(tmp_path, make_plot=False, aggregates=False, epoch="last")
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [r["configuration"] for r in rows] == ["loss=gce", "loss=ce"]
    assert float(rows[0]["test/acc_mean"]) == pytest.approx(0.87)
    assert "last epoch's" in (tmp_path / "report.md").read_text()
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path), "--epoch", "first"])
