"""hydra.sweeper.pruner: trials report their per-epoch validation metric to the study, and the ones
the pruner stops are recorded as pruned in the study, trials.csv, best.json and their metrics.json."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import read_metrics, read_scalars, run_cli

from trainer.errors import UserError
from trainer.sweep.pruning import make_pruner

EPOCHS = 4


def test_a_median_pruner_stops_trials_behind_the_median_and_records_them(tmp_path):
    import optuna

    sweep_dir = tmp_path / "search"
    result = run_cli(
        "-m",
        "hparams_search=ce_multiclass",
        "model=mlp",
        f"trainer.max_epochs={EPOCHS}",
        "trainer.device=cpu",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.sampler=random",
        # a good and a hopeless learning rate: the hopeless ones fall behind the first trial at once
        "optim.lr=choice(0.01,0.0000001)",
        "optim.weight_decay=0.0",
        "loss.label_smoothing=0.0",
        "hydra.sweeper.pruner=median",
        "hydra.sweeper.pruner_args={n_startup_trials:1,n_warmup_steps:0}",
        f"hydra.sweep.dir={sweep_dir}",
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study = optuna.load_study(study_name="ce_multiclass", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    states = [t.state.name for t in study.trials]
    assert "PRUNED" in states and "COMPLETE" in states, states
    for trial in study.trials:
        run_dir = sweep_dir / trial.user_attrs["run_dir"]
        metrics = read_metrics(run_dir)
        curve = dict(read_scalars(run_dir)["val/acc"])
        # each validation was reported to the trial, at its epoch, with the run's own value
        reported = {epoch: value for epoch, value in trial.intermediate_values.items()}
        assert len(reported) == metrics["epochs"] == len(curve)
        assert list(reported.values()) == pytest.approx(list(curve.values()), abs=1e-6)
        if trial.state.name == "PRUNED":
            assert metrics["epochs"] < EPOCHS, "a pruned trial trains no further"
            assert metrics["stop_reason"].startswith(f"pruned by Optuna after epoch {metrics['epochs']}: val/acc=")
            assert trial.params["optim.lr"] == pytest.approx(1e-7)
            assert trial.value == pytest.approx(reported[max(reported)])  # Optuna keeps the last reported value
            assert "test/acc" in metrics  # its best checkpoint is still tested
        else:
            assert metrics["epochs"] == EPOCHS and metrics["stop_reason"] == "max_epochs"
            assert trial.value == pytest.approx(metrics["val/acc"])

    rows = list(csv.DictReader((sweep_dir / "trials.csv").open()))
    assert [r["state"] for r in rows] == states
    for row, trial in zip(rows, study.trials):
        assert int(row["epochs_reported"]) == len(trial.intermediate_values)
        assert row["reason"].startswith("pruned by Optuna") == (trial.state.name == "PRUNED")
    best = json.loads((sweep_dir / "best.json").read_text())
    assert best["n_pruned"] == states.count("PRUNED")
    assert f"{states.count('PRUNED')} pruned" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "hydra.sweeper.pruner=hyperband_x",
            "hydra.sweeper.pruner='hyperband_x' is not a pruner; choose one of: median",
        ),
        ("hydra.sweeper.metric=test/acc", "is not a validation metric; use val/<name>"),
        ("hydra.sweeper.pruner_args={n_startup:1}", "n_startup is not an argument of optuna's MedianPruner"),
    ],
)
def test_bad_pruner_options_stop_the_search_before_any_trial(tmp_path, override, message):
    sweep_dir = tmp_path / "search"
    result = run_cli(
        "-m", "hparams_search=ce_multiclass", "hydra.sweeper.pruner=median", override, f"hydra.sweep.dir={sweep_dir}"
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not list(sweep_dir.glob("trial_*"))


def test_the_pruners_take_optunas_own_arguments():
    import optuna

    pruner = make_pruner("successive_halving", {"min_resource": 2, "reduction_factor": 3})
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    assert make_pruner(None) is None
    with pytest.raises(UserError, match="pruner_args is set but hydra.sweeper.pruner is null"):
        make_pruner(None, {"n_startup_trials": 1})
