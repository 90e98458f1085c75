"""Bad input gets a short, clear error: non-zero exit, what is wrong and how to fix it, no traceback,
and nothing of an earlier run written over.

The command-line cases run as subprocesses started all at once (a module fixture), so their
start-up costs overlap; the rest call the library in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, compose

from trainer.data import DataBundle, Split
from trainer.data.validate import validate_bundle
from trainer.errors import UserError

# A dataset registered in the child process before the CLI runs: 12 label values for 10 classes.
BAD_LABELS_SCRIPT = """
import sys
import torch
from trainer.data import DataBundle, Split
from trainer.data.bundle import SplitConfig
from trainer.registry import DATASETS

def bad_labels(cfg, task):
    x = torch.randn(48, 3)
    y = torch.arange(48) % 12
    val = Split(x[:12], y[:12])
    return DataBundle(Split(x, y), val, val, task=task, kind="table", num_outputs=10)

DATASETS.register("bad_labels", bad_labels, tasks=("multiclass",), kind="table", schema=SplitConfig)
from trainer.cli import main
main()
"""

QUICK = ("trainer.max_epochs=1", "trainer.device=cpu", "trainer.num_threads=1", "trainer.progress=false")


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(["a,b,label", *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def cli_errors(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every command-line case, run concurrently; name -> (finished process, its run dir)."""
    from trainer.train import train

    tmp = tmp_path_factory.mktemp("errors")
    rows = [f"{i % 7},{i % 5},{i % 2}" for i in range(30)]
    nan_csv = write_csv(tmp / "nan.csv", [*rows[:5], ",3,1", "2,inf,0", *rows[5:]])
    # An earlier, finished run whose files must survive a failed command pointed at its directory.
    existing = tmp / "existing"
    threads = torch.get_num_threads()
    train(compose("task=binary", *QUICK), existing)
    torch.set_num_threads(threads)

    cases: dict[str, list[str]] = {
        "unknown_task": ["task=foo"],
        "misspelled_key": ["optim.lrr=0.1"],
        "wrong_type": ["optim.lr=fast"],
        "missing_path": ["task=binary", "data=csv", f"data.path={tmp / 'missing.csv'}", "data.target=label"],
        "bad_labels": ["data.name=bad_labels", "model=mlp"],
        "resume_without_checkpoint": ["trainer.resume=true"],
        # NaN features in a user's table, while resuming an existing run: the error must leave it as it was.
        "nan_features_in_existing_run": [
            "task=binary",
            "data=csv",
            f"data.path={nan_csv}",
            "data.target=label",
            "trainer.resume=true",
        ],
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HYDRA_FULL_ERROR", None)
    procs = {}
    for name, args in cases.items():
        run_dir = existing if name == "nan_features_in_existing_run" else tmp / name
        argv = ["-c", BAD_LABELS_SCRIPT] if name == "bad_labels" else ["-m", "trainer"]
        procs[name] = (
            subprocess.Popen(
                [sys.executable, *argv, *args, *QUICK, f"hydra.run.dir={run_dir}"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            run_dir,
        )
    results = {}
    for name, (proc, run_dir) in procs.items():
        out, err = proc.communicate(timeout=240)
        results[name] = (subprocess.CompletedProcess(proc.args, proc.returncode, out, err), run_dir)
    return results


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and sum(line.startswith("error") for line in lines) == 1, lines[-5:]
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr[-3000:])


# ---------------------------------------------------------------- through the command line


def test_unknown_task_lists_the_tasks(cli_errors):
    result, _ = cli_errors["unknown_task"]
    assert_clean_error(result, "error: unknown task 'foo'. Choose task= one of: binary, count,", "multiclass")


def test_misspelled_key_is_named(cli_errors):
    result, _ = cli_errors["misspelled_key"]
    assert_clean_error(result, "error: optim has no key optim.lrr (did you mean lr?). Its keys: lr,")


def test_wrong_type_is_named(cli_errors):
    result, _ = cli_errors["wrong_type"]
    assert_clean_error(result, "Value 'fast' of type 'str' could not be converted to Float", "optim.lr")


def test_dataset_path_that_does_not_exist(cli_errors):
    result, run_dir = cli_errors["missing_path"]
    assert_clean_error(result, "missing.csv: no such file")
    assert not (run_dir / "checkpoints").exists()


def test_labels_outside_the_class_range_in_a_users_dataset(cli_errors):
    result, run_dir = cli_errors["bad_labels"]
    assert result.returncode == 2
    assert_clean_error(result, "class indices in [0, 10)", "outside: 10, 11", "relabel")
    assert not list(run_dir.glob("events.out.tfevents.*"))  # stopped before anything was logged


def test_resume_without_a_checkpoint(cli_errors):
    result, run_dir = cli_errors["resume_without_checkpoint"]
    assert_clean_error(result, "trainer.resume=true but there is no checkpoint", "drop trainer.resume=true")
    assert not (run_dir / "checkpoints").exists()


def test_nan_or_inf_features_in_a_users_table_and_nothing_written_over(cli_errors):
    result, run_dir = cli_errors["nan_features_in_existing_run"]
    assert result.returncode == 2
    assert_clean_error(result, "missing (NaN) or infinite values", "fill or drop those rows")
    # The fixture's run finished before the command started; nothing of it may have changed since.
    finished = (run_dir / "metrics.json").stat().st_mtime
    for path in [run_dir / "metrics.json", *run_dir.glob("checkpoints/*.pt"), *run_dir.glob("events.out.*")]:
        assert path.stat().st_mtime <= finished + 1e-3, path
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1


# ---------------------------------------------------------------- in-process (the same code paths)


@pytest.mark.parametrize(
    "group, fragment", [("loss", "Could not find 'loss/foo'"), ("model", "Could not find 'model/foo'")]
)
def test_unknown_config_group_option(group, fragment):
    with pytest.raises(Exception, match=fragment):
        compose(f"{group}=foo")


def test_unknown_optimiser_group_option():
    with pytest.raises(Exception, match="Could not find 'optim/foo'"):
        compose("optim=foo")


def run(tmp_path: Path, *overrides: str) -> dict:
    from trainer.train import train

    threads = torch.get_num_threads()
    try:
        return train(compose(*QUICK, *overrides), tmp_path / "run")
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("optim.name=foo", "unknown optimiser 'foo'. Optimisers: adam, adamw, sgd"),
        ("model.name=foo", "unknown model 'foo'"),
        ("optim.lr=-1", "optim=adamw: Invalid learning rate: -1.0; fix the optim.\\* values"),
        ("optim=sgd optim.momentum=0", "optim=sgd: Nesterov momentum requires a momentum"),
        ("loss.name=foo", "unknown loss 'foo'"),
        ("task.name=foo", "unknown task 'foo'. Tasks: "),
        ("trainer.on_nan=ignore", "trainer.on_nan='ignore'; use stop"),
        ("trainer.precision=fp8", "trainer.precision='fp8' is not a precision"),
        ("trainer.num_threads=0", "trainer.num_threads must be >= 1"),
    ],
)
def test_names_and_options_set_by_key_are_user_errors(tmp_path, override, fragment):
    with pytest.raises(UserError, match=fragment):
        run(tmp_path, *override.split())
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_loss_that_does_not_fit_the_task(tmp_path):
    with pytest.raises(UserError, match="exactly one label"):
        run(tmp_path, "task=multilabel", "loss=ce")


def test_non_binary_labels_for_a_binary_task_in_a_users_table(tmp_path):
    csv = write_csv(tmp_path / "three.csv", [f"{i % 7},{i % 5},{i % 3}" for i in range(30)])
    with pytest.raises(UserError, match="exactly two values"):
        run(tmp_path, "task=binary", "data=csv", f"data.path={csv}", "data.target=label")


def test_a_new_run_refuses_a_directory_that_holds_a_run(tmp_path):
    run(tmp_path, "task=binary")
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(UserError, match="already holds a run .* trainer.resume=true"):
        run(tmp_path, "task=binary")
    after = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert after == before


# ---------------------------------------------------------------- validate_bundle on any DataBundle


def bundle(task: str, x: torch.Tensor, y: torch.Tensor, num_outputs: int) -> DataBundle:
    return DataBundle(Split(x, y), Split(x, y), Split(x, y), task=task, kind="table", num_outputs=num_outputs)


def test_valid_bundles_pass():
    x = torch.randn(6, 3)
    validate_bundle(bundle("multiclass", x, torch.tensor([0, 1, 2, 0, 1, 2]), 3))
    validate_bundle(bundle("binary", x, torch.tensor([0.0, 1, 0, 1, 1, 0]), 1))
    validate_bundle(bundle("multilabel", x, torch.eye(3).repeat(2, 1), 3))
    validate_bundle(bundle("regression", x, torch.randn(6), 1))
    validate_bundle(bundle("count", x, torch.tensor([0.0, 3, 1, 0, 7, 2]), 1))
    validate_bundle(bundle("sequence", x, torch.tensor([[1, 2, -1]] * 6), 10))
    validate_bundle(bundle("multiclass", torch.zeros(6, 1, 2, 2, dtype=torch.uint8), torch.zeros(6).long(), 2))


@pytest.mark.parametrize(
    "task, x, y, num_outputs, fragment",
    [
        ("multiclass", torch.randn(4, 2), torch.tensor([0, 1, 3, -1]), 3, r"in \[0, 3\).* 2 are outside: -1, 3"),
        ("embedding", torch.randn(4, 2), torch.tensor([0, 1, 5, 1]), 3, r"class indices in \[0, 3\)"),
        ("binary", torch.randn(4, 2), torch.tensor([0.0, 1, 2, 1]), 1, "must be 0 or 1 .* use task=multiclass"),
        ("multilabel", torch.randn(2, 2), torch.tensor([[0.0, 0.5], [1, 0]]), 2, "must be 0 or 1"),
        ("count", torch.randn(3, 2), torch.tensor([1.0, -2, 0]), 1, "negative: -2"),
        ("regression", torch.randn(3, 2), torch.tensor([1.0, float("nan"), 0]), 1, "targets contain NaN or inf"),
        ("sequence", torch.randn(2, 2), torch.tensor([[1, 12], [-2, -1]]), 10, "padding value -1"),
        ("multiclass", torch.tensor([[0.0, float("nan")], [1, 2]]), torch.tensor([0, 1]), 2, "1 NaN and 0 inf"),
        ("multiclass", torch.tensor([[0.0, 1], [float("inf"), 2]]), torch.tensor([0, 1]), 2, "0 NaN and 1 inf.*row 1"),
        ("multiclass", torch.randn(3, 2), torch.tensor([0, 1]), 2, "3 inputs but 2 targets"),
    ],
)
def test_bad_bundles_are_refused_with_the_fix(task, x, y, num_outputs, fragment):
    with pytest.raises(UserError, match=fragment):
        validate_bundle(bundle(task, x, y, num_outputs))


def test_empty_training_split_is_refused():
    empty = Split(torch.zeros(0, 2), torch.zeros(0).long())
    full = Split(torch.randn(3, 2), torch.tensor([0, 1, 0]))
    with pytest.raises(UserError, match="the train split is empty"):
        validate_bundle(DataBundle(empty, full, full, task="multiclass", kind="table", num_outputs=2))
