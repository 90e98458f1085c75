"""Sweeps through ``python -m trainer -m``: one folder per job, resume, failures, TensorBoard, Optuna."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, read_metrics, read_scalars, run_cli
from omegaconf import OmegaConf

import losses

LOSSES, SEEDS, EPOCHS = ("ce", "mse"), (0, 1), 2


def run_name(loss: str, seed: int) -> str:
    # hydra.job.override_dirname: the job's overrides, sorted by key.
    return f"loss={loss},model=mlp,seed={seed},task=multiclass,trainer.max_epochs={EPOCHS}"


def sweep_args(sweep_dir: Path) -> list[str]:
    return [
        "-m",
        "task=multiclass",
        "model=mlp",  # the MLP: much faster than the task's CNN on CPU
        f"loss={','.join(LOSSES)}",
        f"seed={','.join(map(str, SEEDS))}",
        f"trainer.max_epochs={EPOCHS}",
        "trainer.device=cpu",
        f"hydra.sweep.dir={sweep_dir}",
    ]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """2 losses x 2 seeds x 2 epochs on digits (MLP), through the CLI (the basic launcher, one job at a time)."""
    sweep_dir = tmp_path_factory.mktemp("sweep") / "s"
    result = run_cli(*sweep_args(sweep_dir))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Sweep summary: 4 jobs: 4 completed" in result.stdout
    return sweep_dir


def test_every_combination_runs_in_its_own_folder_named_by_its_overrides(sweep):
    runs = {p.name for p in sweep.iterdir() if p.is_dir()}
    assert runs == {run_name(loss, seed) for loss in LOSSES for seed in SEEDS}
    for name in runs:
        run_dir = sweep / name
        metrics = read_metrics(run_dir)
        assert metrics["epochs"] == EPOCHS
        job = json.loads((run_dir / "job.json").read_text())
        assert job["status"] == "completed" and job["action"] == "fresh"
        assert job["config"]["loss"]["name"] == name.split(",")[0].split("=")[1]
        assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    ledger = [json.loads(line) for line in (sweep / "jobs.jsonl").read_text().splitlines()]
    assert sorted(e["job"] for e in ledger) == [0, 1, 2, 3]


def test_rerun_skips_completed_jobs_resumes_the_interrupted_one_and_refuses_a_changed_one(sweep, tmp_path):
    sweep_dir = tmp_path / "s"
    shutil.copytree(sweep, sweep_dir)
    interrupted = sweep_dir / run_name("mse", 1)
    uninterrupted = read_metrics(interrupted)
    # Make the job look killed after its first epoch: the same job's state after epoch 1, no metrics.json.
    one_epoch = tmp_path / "one_epoch"
    result = run_cli(
        "task=multiclass",
        "model=mlp",
        "loss=mse",
        "seed=1",
        "trainer.max_epochs=1",
        "trainer.device=cpu",
        f"hydra.run.dir={one_epoch}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for path in [*interrupted.glob("events.out.tfevents.*"), interrupted / "metrics.json"]:
        path.unlink()
    shutil.rmtree(interrupted / "checkpoints")
    shutil.copytree(one_epoch / "checkpoints", interrupted / "checkpoints")
    for path in one_epoch.glob("events.out.tfevents.*"):
        shutil.copy(path, interrupted / path.name)
    completed = {
        n: (sweep_dir / n / "metrics.json").stat().st_mtime_ns
        for n in os.listdir(sweep_dir)
        if n != interrupted.name and (sweep_dir / n).is_dir()
    }
    assert len(completed) == 3
    # Another run folder holds a run of another config (as if the experiment's budget had been edited).
    other = sweep_dir / run_name("ce", 0)
    job = json.loads((other / "job.json").read_text())
    job["config"]["optim"]["lr"] = 0.5
    (other / "job.json").write_text(json.dumps(job))
    hydra_files = {p: p.read_bytes() for p in (other / ".hydra").iterdir()}

    result = run_cli(*sweep_args(sweep_dir))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "4 jobs: 1 resumed, 2 skipped (already complete), 1 failed" in result.stdout
    assert f"FAILED {other.name}: {other} holds a run of a different configuration (optim.lr: 0.5 -> 0.001)" in (
        result.stdout
    )
    assert not (other / "failed.json").exists()  # that run is left as it was, its Hydra files too
    assert {p: p.read_bytes() for p in (other / ".hydra").iterdir()} == hydra_files
    for name, mtime in completed.items():  # not redone
        assert (sweep_dir / name / "metrics.json").stat().st_mtime_ns == mtime
        assert len(list((sweep_dir / name).glob("events.out.tfevents.*"))) == 1
    resumed = read_metrics(interrupted)
    assert resumed["epochs"] == EPOCHS
    # Resuming from the epoch-1 state gives what the uninterrupted job got (CPU, deterministic).
    for key in ("val/loss", "val/acc", "test/loss", "test/acc"):
        assert resumed[key] == pytest.approx(uninterrupted[key], rel=1e-5, abs=1e-6), key
    val_loss = read_scalars(interrupted)["val/loss"]
    assert [step for step, _ in val_loss] == list(range(EPOCHS))  # epoch 0 logged once, epoch 1 added
    assert json.loads((interrupted / "job.json").read_text())["action"] == "resume"


def test_a_job_that_fails_is_recorded_and_the_others_go_on(tmp_path):
    """One job raises a UserError (the loss does not fit), one diverges to NaN, one trains: in parallel."""
    sweep_dir = tmp_path / "s"
    result = run_cli(
        "-m",
        "task=regression",
        "loss=mse,ce",
        "optim.lr=0.001,1e30",
        "trainer.max_epochs=1",
        "trainer.device=cpu",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Sweep summary: 4 jobs: 1 completed, 3 failed" in out
    runs = {p.name: p for p in sweep_dir.iterdir() if p.is_dir()}
    assert len(runs) == 4
    (good,) = (p for n, p in runs.items() if n.startswith("loss=mse,optim.lr=0.001,"))
    (nan_run,) = (p for n, p in runs.items() if n.startswith("loss=mse,") and p != good)
    assert read_metrics(good)["epochs"] == 1 and not (good / "failed.json").exists()
    for name, run_dir in runs.items():
        if name.startswith("loss=ce,"):
            failed = json.loads((run_dir / "failed.json").read_text())
            assert "does not fit task 'regression'" in failed["reason"] and failed["error"] == "UserError"
            assert f"FAILED {name}" in out
    assert "nan" in json.loads((nan_run / "failed.json").read_text())["reason"].lower()
    assert f"FAILED {nan_run.name}" in out
    assert not (nan_run / "metrics.json").exists()
    # The parallel launcher gives each of its n_jobs workers cores // n_jobs torch threads.
    assert json.loads((good / "job.json").read_text())["torch_threads"] == max(1, len(os.sched_getaffinity(0)) // 2)


def test_a_different_config_in_the_same_run_folder_is_refused(tmp_path):
    from trainer.sweep.jobs import SweepConflict, _exclusive, decide

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert decide(run_dir, {"seed": 0}) == "fresh"
    (run_dir / "job.json").write_text(json.dumps({"config": {"seed": 0, "trainer": {"max_epochs": 2}}}))
    (run_dir / "metrics.json").write_text("{}")
    assert decide(run_dir, {"seed": 0, "trainer": {"max_epochs": 2}}) == "skip"
    with pytest.raises(SweepConflict, match=r"trainer.max_epochs: 2 -> 3"):
        decide(run_dir, {"seed": 0, "trainer": {"max_epochs": 3}})
    # Two jobs in one folder at once (the same overrides twice in a parallel sweep): the second is refused.
    with _exclusive(run_dir), pytest.raises(SweepConflict, match="another job is running"), _exclusive(run_dir):
        pass
    with _exclusive(run_dir):  # released when the first job ends
        pass


def test_compare_experiments_sweep_exactly_the_losses_that_fit_each_task():
    from hydra import compose, initialize_config_dir

    import trainer.config  # noqa: F401

    tasks = sorted(p.stem for p in (ROOT / "conf" / "task").glob("*.yaml") if losses.available(p.stem))
    assert {"multiclass", "multilabel", "binary", "regression"} <= set(tasks)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for task in tasks:
            cfg = compose("config", overrides=[f"experiment=compare_{task}"], return_hydra_config=True)
            params = cfg.hydra.sweeper.params
            assert params.loss.split(",") == losses.available(task), task
            assert params.seed == "0,1,2"
            assert cfg.task.name == task
            assert f"compare_{task}" in cfg.hydra.sweep.dir


def test_keys_that_do_not_change_a_result_name_no_folder_and_do_not_redo_a_finished_run():
    """trainer.device, progress, resume, num_threads, log_flush_secs, eval_batch_size and compile: a
    finished job counts as done whatever their values, and they stay out of the job's folder name."""
    from hydra import compose, initialize_config_dir

    import trainer.config  # noqa: F401
    from trainer.config import RESULT_NEUTRAL_KEYS as IGNORED_KEYS
    from trainer.sweep.jobs import fingerprint

    changed = ["trainer.device=cpu", "trainer.progress=false", "trainer.resume=true", "trainer.num_threads=1",
               "trainer.log_flush_secs=0", "trainer.eval_batch_size=7", "trainer.compile=true"]  # fmt: skip
    assert {o.split("=")[0] for o in changed} == set(IGNORED_KEYS)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        base = compose("config", overrides=["task=binary"], return_hydra_config=True)
        other = compose("config", overrides=["task=binary", *changed])
        assert fingerprint(other) == fingerprint(compose("config", overrides=["task=binary"]))
        assert fingerprint(compose("config", overrides=["task=binary", "seed=1"])) != fingerprint(other)
    assert set(IGNORED_KEYS) <= set(base.hydra.job.config.override_dirname.exclude_keys)


def test_every_hparams_search_config_searches_keys_its_runs_have():
    from hydra import compose, initialize_config_dir

    import trainer.config  # noqa: F401

    names = sorted(p.stem for p in (ROOT / "conf" / "hparams_search").glob("*.yaml"))
    assert "focal_multiclass" in names
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for name in names:
            cfg = compose("config", [f"hparams_search={name}"], return_hydra_config=True)
            sweeper = cfg.hydra.sweeper
            assert sweeper._target_.endswith("LosslabOptunaSweeper")
            assert sweeper.metric == f"val/{cfg.task.main_metric}" and sweeper.direction == cfg.task.main_metric_mode
            assert {"optim.lr", "optim.weight_decay"} <= set(sweeper.params), name
            for key in sweeper.params:  # a misspelled key would only fail in the first trial
                assert OmegaConf.select(cfg, key) is not None, (name, key)


def test_sweep_folders_have_sub_second_stamps_and_runs_are_named_by_their_overrides():
    from hydra import compose, initialize_config_dir
    from hydra.core.utils import setup_globals

    import trainer.config  # noqa: F401

    setup_globals()  # the ${now:...} resolver
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for experiment in [None, *sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))]:
            overrides = [f"experiment={experiment}"] if experiment else []
            dirs = [compose("config", overrides, return_hydra_config=True).hydra.sweep.dir for _ in range(2)]
            assert dirs[0] != dirs[1], dirs  # two sweeps started within the same second
            raw = compose("config", overrides, return_hydra_config=True).hydra
            assert "%f" in OmegaConf.to_container(raw.sweep)["dir"]
            assert OmegaConf.to_container(raw.sweep)["subdir"] == "${hydra.job.override_dirname}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: dict | None = None):
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_tensorboard_serves_every_run_of_the_sweep(sweep):
    port = _free_port()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    command = [str(tensorboard), "--logdir", str(sweep), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/data/plugin"
    names = {run_name(loss, seed) for loss in LOSSES for seed in SEEDS}
    try:
        deadline, tags = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            try:
                tags = _get(f"{base}/scalars/tags")
                if names <= set(tags) and all("val/loss" in tags[n] for n in names):
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read()
            time.sleep(0.5)
        assert names <= set(tags), tags.keys()
        for name in names:
            query = urllib.parse.urlencode({"run": name, "tag": "val/loss"})
            served = [(step, value) for _, step, value in _get(f"{base}/scalars/scalars?{query}")]
            logged = read_scalars(sweep / name)["val/loss"]
            assert [s for s, _ in served] == list(range(EPOCHS))
            assert [v for _, v in served] == pytest.approx([v for _, v in logged])
        # The HParams tab: one session per run, with its loss and seed and its final metrics.
        groups = _get(
            f"{base}/hparams/session_groups",
            {
                "experimentName": "",
                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS"],
                "startIndex": 0,
                "sliceSize": 50,
            },
        )["sessionGroups"]
        assert {g["name"] for g in groups} == names
        # The columns that vary across the sweep are flagged as such (no single run's header decides).
        experiment = _get(f"{base}/hparams/experiment", {"experimentName": ""})
        differs = {h["name"]: h.get("differs", False) for h in experiment["hparamInfos"]}
        assert differs["loss"] and differs["seed"] and not differs["task"]
        for group in groups:
            overrides = dict(o.split("=") for o in group["name"].split(","))
            assert group["hparams"]["loss"] == overrides["loss"]
            assert group["hparams"]["seed"] == float(overrides["seed"])
            final = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
            assert final["final/val/loss"] == pytest.approx(read_metrics(sweep / group["name"])["val/loss"])
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_compare_report_agrees_with_the_runs_metrics(sweep, tmp_path):
    sweep_dir = tmp_path / "s"
    shutil.copytree(sweep, sweep_dir)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compare.py"), str(sweep_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import csv

    rows = list(csv.DictReader((sweep_dir / "report.csv").open()))
    assert [r["configuration"] for r in rows] == sorted(
        (f"loss={loss}" for loss in LOSSES),
        key=lambda c: -sum(read_metrics(sweep_dir / run_name(c[5:], s))["val/acc"] for s in SEEDS),
    )
    for row in rows:
        loss = row["configuration"].split("=")[1]
        per_seed = [read_metrics(sweep_dir / run_name(loss, s)) for s in SEEDS]
        for key in ("val/acc", "val/loss", "test/acc", "test/f1_macro", "test/loss"):
            values = [m[key] for m in per_seed]
            mean = sum(values) / len(values)
            std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
            assert float(row[f"{key}_mean"]) == pytest.approx(mean, rel=1e-5, abs=1e-6)
            assert float(row[f"{key}_std"]) == pytest.approx(std, rel=1e-4, abs=1e-6)
        assert (row["runs"], row["completed"], row["failed"]) == ("2", "2", "0")
        assert float(row["best_epoch_mean"]) == pytest.approx(sum(m["best_epoch"] + 1 for m in per_seed) / 2)
        assert row["configuration"] in result.stdout
    table_rows = [
        line for line in (sweep_dir / "report.md").read_text().splitlines() if line.startswith(("| 1 |", "| 2 |"))
    ]
    assert len(table_rows) == 2 and all("| loss=" in line for line in table_rows)  # one row per configuration
    assert (sweep_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_optuna_search_runs_trials_and_continues_from_its_sqlite_study(tmp_path):
    import optuna

    sweep_dir = tmp_path / "search"
    args = [
        "-m",
        "hparams_search=ce_multiclass",
        "model=mlp",
        "trainer.max_epochs=1",
        "trainer.device=cpu",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    result = run_cli(*args, "hydra.sweeper.n_trials=2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    study = optuna.load_study(study_name="ce_multiclass", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    for trial in study.trials:  # the objective is the run's own val/acc; the params reached the run
        run_dir = sweep_dir / trial.user_attrs["run_dir"]
        assert trial.value == pytest.approx(read_metrics(run_dir)["val/acc"])
        job = json.loads((run_dir / "job.json").read_text())
        assert job["config"]["optim"]["lr"] == pytest.approx(trial.params["optim.lr"])
        assert job["config"]["loss"]["label_smoothing"] == pytest.approx(trial.params["loss.label_smoothing"])
        assert 1e-4 <= trial.params["optim.lr"] <= 3e-2
    best = json.loads((sweep_dir / "best.json").read_text())
    assert best["value"] == max(t.value for t in study.trials)
    first_runs = {p.name: (p / "metrics.json").stat().st_mtime_ns for p in sweep_dir.glob("trial_*")}

    # A trial left RUNNING by a process that died: the resumed study runs its parameters again.
    dead = study.ask({"optim.lr": optuna.distributions.FloatDistribution(1e-4, 3e-2, log=True)})
    dead.set_user_attr("run_dir", "trial_002")
    result = run_cli(*args, "hydra.sweeper.n_trials=4")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study = optuna.load_study(study_name="ce_multiclass", storage=storage)
    states = [(t.state.name, t.user_attrs.get("interrupted", False)) for t in study.trials]
    assert states == [("COMPLETE", False)] * 2 + [("FAIL", True)] + [("COMPLETE", False)] * 2
    assert study.trials[3].params["optim.lr"] == dead.params["optim.lr"]
    assert study.trials[3].user_attrs["run_dir"] == "trial_002"
    for name, mtime in first_runs.items():  # earlier trials are not rerun
        assert (sweep_dir / name / "metrics.json").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in sweep_dir.glob("trial_*")) == ["trial_000", "trial_001", "trial_002", "trial_004"]
    import csv

    rows = list(csv.DictReader((sweep_dir / "trials.csv").open()))
    assert [(r["number"], r["state"], r["interrupted"]) for r in rows][2:4] == [
        ("2", "FAIL", "True"),
        ("3", "COMPLETE", "False"),
    ]


def test_ctrl_c_stops_a_parallel_sweep_with_checkpoints_and_the_rerun_resumes_it(tmp_path):
    """hydra/launcher=parallel forks its workers: Ctrl-C (SIGINT to the sweep process) reaches every running
    job once; each saves a checkpoint, the sweep exits 130 and the same command finishes the jobs."""
    sweep_dir = tmp_path / "s"
    args = [
        "-m",
        "task=multiclass",
        "model=mlp",
        "loss=ce,mse",
        "data.batch_size=8",  # 135 steps an epoch: long enough to be interrupted mid-run
        "trainer.max_epochs=30",
        "trainer.device=cpu",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 180
    while len(list(sweep_dir.glob("*/checkpoints/last.pt"))) < 2:  # both jobs are past their first epoch
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert b"resume with" in stderr
    jobs = sorted(sweep_dir.glob("*/job.json"))
    assert len(jobs) == 2
    for job in jobs:
        assert json.loads(job.read_text())["status"] == "interrupted"
        assert not (job.parent / "metrics.json").exists()
    # The first signal asked each job once: none aborted without its checkpoint.
    assert b"again: aborting" not in stderr

    result = run_cli(*args, "trainer.max_epochs=30")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 jobs: 2 resumed" in result.stdout or "2 jobs: 2 completed" in result.stdout, result.stdout[-2000:]
    for job in jobs:
        assert read_metrics(job.parent)["epochs"] == 30


def _processes_mentioning(text: str) -> list[int]:
    """Pids of the processes whose command line contains ``text`` (a forked process keeps its parent's)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:  # ended meanwhile
                continue
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to list processes")
def test_a_parallel_sweep_that_fails_validation_exits_at_once_and_leaves_no_process(tmp_path):
    """The fork launcher starts its preloader before Hydra validates the jobs' configs; a typo in one job
    must still end the sweep with its one-line error, not after the preloader's imports, and end it too."""
    sweep_dir = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "out.txt", "w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "trainer", "-m", "task=binary", "loss=ce,no_such_loss",
             "hydra/launcher=parallel", f"hydra.sweep.dir={sweep_dir}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=120,
        )  # fmt: skip
    output = (tmp_path / "out.txt").read_text()
    assert proc.returncode == 2, output[-3000:]
    assert "error: unknown loss 'no_such_loss'. Choose loss= one of: asl, balanced_softmax, bce," in output
    assert _processes_mentioning(str(sweep_dir)) == []  # checked right after the sweep process exited
    assert not list(sweep_dir.glob("*/job.json"))  # no job started


def test_the_parallel_launcher_runs_several_batches_of_an_optuna_search(tmp_path):
    """The Optuna sweeper launches n_jobs trials at a time: every batch goes to the same preloader."""
    import optuna

    sweep_dir = tmp_path / "search"
    result = run_cli(
        "-m",
        "hparams_search=ce_multiclass",
        "model=mlp",
        "trainer.max_epochs=1",
        "trainer.device=cpu",
        "hydra/launcher=parallel",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ForkLauncher: 2 jobs, 2 at a time" in result.stdout + result.stderr
    study = optuna.load_study(study_name="ce_multiclass", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    workers = {json.loads((sweep_dir / t.user_attrs["run_dir"] / "job.json").read_text())["pid"] for t in study.trials}
    assert len(workers) >= 2 and os.getpid() not in workers  # the trials ran in forked workers
    assert _processes_mentioning(str(sweep_dir)) == []


def test_a_preloader_that_dies_stops_the_sweep_with_a_clear_error(tmp_path):
    # A preloaded module that ends its process stands for the preloader being killed (OOM, kill -9).
    (tmp_path / "losslab_test_exit_on_import.py").write_text("import os\nos._exit(3)\n")
    sweep_dir = tmp_path / "s"
    result = run_cli(
        "-m",
        "task=binary",
        "loss=ce,bce_logits",
        "trainer.max_epochs=1",
        "hydra/launcher=parallel",
        "hydra.launcher.preload=[losslab_test_exit_on_import]",
        f"hydra.sweep.dir={sweep_dir}",
        env={"PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "preloader process ended unexpectedly (exit code 3)" in result.stderr
    assert "hydra/launcher=basic" in result.stderr
    assert not list(sweep_dir.glob("*/job.json"))


def test_a_parallel_sweep_runs_each_job_with_the_config_hydra_composed_for_it(tmp_path):
    """The fork launcher hands each worker the config the sweeper composed while validating the batch
    (pickled) instead of composing it again: every job must still get exactly its own config, and
    ``${now:...}`` in the default sweep folder must resolve once for the whole sweep."""
    from conftest import compose

    result = run_cli(
        "-m", "task=binary", "loss=ce,mse", "optim.lr=0.01,0.002", "trainer.max_epochs=1",
        "trainer.progress=false", "hydra/launcher=parallel", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "multirun").iterdir()  # one time-stamped folder for all four jobs
    jobs = sorted(p.parent.parent for p in sweep_dir.glob("*/.hydra/config.yaml"))
    assert len(jobs) == 4
    numbers = set()
    for job in jobs:
        overrides = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "overrides.yaml"))
        named = sorted(o for o in overrides if not o.startswith("trainer.progress="))  # progress: no name
        assert job.name == ",".join(named)
        expected = OmegaConf.to_container(compose(*overrides), resolve=True)
        assert OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "config.yaml"), resolve=True) == expected
        assert read_metrics(job)["epochs"] == 1
        hydra_cfg = OmegaConf.load(job / ".hydra" / "hydra.yaml").hydra
        assert hydra_cfg.runtime.output_dir == str(job.resolve())
        numbers.add(hydra_cfg.job.num)
    assert numbers == {0, 1, 2, 3}


def test_the_fork_launcher_keeps_the_configs_hydra_composes_to_validate_a_batch():
    """What the sweeper composes for the launcher's own config is kept pickled, typed as composed, with
    the resolver cache (one ``${now:}`` for all jobs); other configs are not kept; a second sweep
    wraps Hydra's loader again, not the first sweep's wrapper."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import HydraContext
    from omegaconf.errors import ValidationError

    import trainer.config  # noqa: F401  (registers the structured configs)
    from hydra_plugins.losslab_fork_launcher.launcher import ForkLauncher, _job_config

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = compose("config", overrides=["task=binary"], return_hydra_config=True)
        context = HydraContext(config_loader=loader, callbacks=None)  # type: ignore[arg-type]
        compose_original = loader.load_sweep_config
        first = ForkLauncher()
        first.config = master
        first._keep_composed_configs(context)
        overrides = ["task=binary", "loss=focal", "seed=4"]
        composed = loader.load_sweep_config(master_config=master, sweep_overrides=overrides)  # as the sweeper calls it
        assert set(first._composed) == {tuple(overrides)}
        kept = pickle.loads(first._composed[tuple(overrides)])
        assert OmegaConf.to_yaml(kept) == OmegaConf.to_yaml(composed)
        assert kept.loss.name == "focal" and kept.seed == 4
        assert OmegaConf.get_type(kept.loss) is OmegaConf.get_type(composed.loss) is trainer.config.Schemas.loss_focal
        with pytest.raises(ValidationError):  # still typed: a wrong value fails as in a composed config
            kept.loss.gamma = "high"
        # The sweep folder's ${now:} is resolved once, in the sweep process (here: after validation);
        # each job's config gets the resolver cache as it stands when the batch is launched.
        sweep_dir = master.hydra.sweep.dir
        job = _job_config(context, master, overrides, first._composed[tuple(overrides)], OmegaConf.get_cache(master))
        assert job.hydra.sweep.dir == sweep_dir and OmegaConf.to_yaml(job.loss) == OmegaConf.to_yaml(composed.loss)
        assert _job_config(context, master, overrides, None, OmegaConf.get_cache(master)).hydra.sweep.dir == sweep_dir

        other = compose("config", overrides=["task=regression"], return_hydra_config=True)
        loader.load_sweep_config(other, ["task=regression"])  # not this launcher's sweep
        assert set(first._composed) == {tuple(overrides)}

        second = ForkLauncher()
        second.config = master
        second._keep_composed_configs(context)
        assert loader.load_sweep_config.__wrapped__ == compose_original  # type: ignore[attr-defined]
        loader.load_sweep_config(master, ["task=binary", "loss=mse"])
        assert set(second._composed) == {("task=binary", "loss=mse")}


def test_a_signal_while_a_parallel_job_starts_stops_that_job_and_keeps_its_worker(tmp_path, monkeypatch):
    """A Ctrl-C the parallel launcher forwards while a job is still starting (before the trainer's own stop
    request is in place) ends that job as stopped, stops the sweep and leaves the worker idle with the
    signals ignored. Before, the KeyboardInterrupt killed the pool worker, its job was lost, and the sweep
    waited for that job forever."""
    import ctypes
    import logging
    import multiprocessing

    from hydra import compose, initialize_config_dir
    from hydra._internal.callbacks import Callbacks
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import HydraContext

    import trainer.config  # noqa: F401  (registers the structured configs)
    from hydra_plugins.losslab_fork_launcher import launcher as fork

    started: list[str] = []

    def starting_job(cfg) -> None:  # the signal comes while the job starts, before any training
        started.append(cfg.loss.name)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        raise AssertionError("the signal did not interrupt the job")

    stop_signals = (signal.SIGINT, signal.SIGTERM)
    saved = {sig: signal.getsignal(sig) for sig in stop_signals}
    # hydra/job_logging=disabled disables every existing logger; later tests in this process log and check records
    named = logging.root.manager.loggerDict.values()
    loggers = [logging.root, *(lg for lg in named if isinstance(lg, logging.Logger))]
    enabled = [lg for lg in loggers if not lg.disabled]
    root_state = (logging.root.level, list(logging.root.handlers))
    overrides = [
        "task=binary",
        f"hydra.sweep.dir={tmp_path}",
        "hydra/job_logging=disabled",
        "hydra/hydra_logging=disabled",
    ]
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            master = compose("config", overrides=overrides, return_hydra_config=True)
            context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks())
            stop = multiprocessing.get_context("fork").RawValue(ctypes.c_bool, False)
            shared = {"stop": stop, "hydra_context": context, "config": master, "task_function": starting_job}
            monkeypatch.setattr(fork, "_SHARED", shared)
            cache = OmegaConf.get_cache(master)

            outcome = fork._run_job(3, [*overrides, "loss=mse"], None, cache)
            assert isinstance(outcome, fork._Stopped)
            assert outcome.code == 130 and not outcome.said_how_to_resume  # the sweep prints how to go on
            assert stop.value  # the other workers start no new job
            assert all(signal.getsignal(sig) is signal.SIG_IGN for sig in stop_signals)  # idle: a signal cannot kill it
            assert fork._run_job(4, [*overrides, "loss=ce"], None, cache) is None
            assert started == ["mse"]
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        HydraConfig.instance().cfg = None  # the job set it; later tests run train() outside Hydra
        for lg in enabled:
            lg.disabled = False
        logging.root.setLevel(root_state[0])
        logging.root.handlers[:] = root_state[1]


def test_ctrl_c_as_parallel_jobs_start_exits_130_and_the_rerun_finishes_the_sweep(tmp_path):
    """Ctrl-C the moment the first job has started (its job.json written, the trainer not yet training):
    the sweep ends (no hang, no traceback), says how to go on, and the same command finishes it."""
    sweep_dir = tmp_path / "s"
    args = ["-m", "task=binary", "loss=bce_logits,mse", "seed=0,1", "trainer.device=cpu",
            "hydra/launcher=parallel", f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not list(sweep_dir.glob("*/job.json")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        for pid in _processes_mentioning(str(sweep_dir)):  # the sweep and its workers, in their own groups
            os.kill(pid, signal.SIGKILL)
        pytest.fail("the sweep hung after Ctrl-C")
    assert proc.returncode == 130, stderr[-3000:]
    assert b"Traceback" not in stderr, stderr[-3000:]
    assert b"resume with" in stderr or b"To continue it, run the same command" in stderr

    result = run_cli(*args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Sweep summary: 4 jobs:" in result.stdout and "failed" not in result.stdout.split("Sweep summary")[1]
    assert len(list(sweep_dir.glob("*/metrics.json"))) == 4
