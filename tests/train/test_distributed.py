"""DDP: sharding arithmetic, SLURM environment, and real 2-process CPU runs under torchrun (gloo).

The equivalence runs use task=binary (breast cancer, MLP without dropout): no BatchNorm, whose
per-rank batch statistics would differ from one process's on CPU, and no randomness but the data
order. With the same global batch (data.batch_size=32, 16 per process) and seed, the two-process
curves then match the one-process curves up to float summation order (measured: |diff| < 1e-6).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, compose, read_metrics, read_scalars

from trainer.errors import UserError
from trainer.train import distributed

TOLERANCE = 1e-5
COMMON = ("task=binary", "model.dropout=0", "data.batch_size=32", "trainer.device=cpu", "trainer.progress=false")


def torchrun(*args: str, cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node=N -m trainer ARGS`` (a free port each time)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return subprocess.run(
        [*command, "-m", "trainer", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def curve(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    return read_scalars(run_dir)[tag]


def single_process_run(run_dir: Path, *overrides: str) -> dict:
    from trainer.train import train

    return train(compose(*COMMON, *overrides), run_dir)


# ---------------------------------------------------------------- arithmetic (no processes)


@pytest.mark.parametrize("n, world", [(100, 2), (101, 2), (37, 3), (64, 4)])
def test_rank_shards_make_up_the_global_batches(n, world, monkeypatch):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    global_batch = 12
    shards = []
    monkeypatch.setattr(distributed, "world_size", lambda: world)
    for r in range(world):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        shards.append(distributed.shard(order))
        local = distributed.local_batch_size(global_batch)
    assert {len(s) for s in shards} == {n // world}  # equal shards: every rank takes as many steps
    for k in range(0, n // world, local):
        together = torch.cat([s[k : k + local] for s in shards])
        start = k * world  # step k // local of every rank = global batch k // local of the 1-process order
        assert sorted(together.tolist()) == sorted(order[start : start + global_batch][: len(together)].tolist())
    assert len(set(torch.cat(shards).tolist())) == n - n % world  # no sample twice; at most W-1 sit out


def test_global_batch_must_split_evenly(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    with pytest.raises(UserError, match="divisible by the number of processes"):
        distributed.local_batch_size(32)


def test_slurm_variables_become_torch_distributed_ones(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOSSLAB_DIST_FROM_SLURM"):
        monkeypatch.setenv(key, "")  # recorded, so that what env_from_slurm writes is undone after the test
        monkeypatch.delenv(key)
    slurm = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "123456"}
    slurm["SLURM_JOB_NODELIST"] = "gpu[017-018,020],login1"
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    distributed.env_from_slurm()
    assert "RANK" not in os.environ  # a plain process in an allocation must not wait for 7 others
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")  # what submitit's sbatch script exports
    distributed.env_from_slurm()
    assert (os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"]) == ("5", "8", "1")
    assert os.environ["MASTER_ADDR"] == "gpu017" and os.environ["MASTER_PORT"] == str(20000 + 123456 % 40000)


@pytest.mark.parametrize(
    "nodelist, host", [("node1", "node1"), ("gpu[003-004,010]", "gpu003"), ("a-b-[07,09],c", "a-b-07"), ("x,y", "x")]
)
def test_first_host_of_a_slurm_node_list(nodelist, host):
    assert distributed.first_host(nodelist) == host


# ---------------------------------------------------------------- torchrun, 2 CPU processes


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-epoch torchrun job (run directory chosen by Hydra) and a 3-epoch one-process run (no scheduler)."""
    root = tmp_path_factory.mktemp("ddp")
    result = torchrun(*COMMON, "trainer.max_epochs=2", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    single_process_run(root / "single", "trainer.max_epochs=3")
    return root, result


@pytest.mark.distributed
def test_two_processes_match_one_process_in_one_run_directory(runs):
    root, result = runs
    ddp_runs = list((root / "outputs" / "binary").iterdir())
    assert len(ddp_runs) == 1, ddp_runs  # one Hydra run directory for the whole job, not one per rank
    ddp, single = ddp_runs[0], root / "single"
    assert result.stdout.count("run directory:") == 1  # only rank 0 prints the summary
    assert len(list(ddp.glob("events.out.tfevents.*"))) == 1  # only rank 0 writes TensorBoard files
    for tag in ("val/loss", "val/acc", "train/loss"):
        ours, theirs = curve(ddp, tag), curve(single, tag)[: len(curve(ddp, tag))]  # its first 2 epochs
        assert [s for s, _ in ours] == [s for s, _ in theirs], tag  # same steps: same global batches
        assert max(abs(a - b) for (_, a), (_, b) in zip(ours, theirs)) <= TOLERANCE, (tag, ours, theirs)
    assert len(curve(ddp, "val/loss")) == 2


@pytest.mark.distributed
def test_all_ranks_resume_from_rank_zeros_checkpoint(runs, tmp_path):
    root, _ = runs
    run = tmp_path / "resumed"
    shutil.copytree(next((root / "outputs" / "binary").iterdir()), run)  # the finished 2-epoch job
    resumed = torchrun(*COMMON, "trainer.max_epochs=3", "trainer.resume=true", f"hydra.run.dir={run}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ours, theirs = curve(run, "val/loss"), curve(root / "single", "val/loss")
    assert [s for s, _ in ours] == [0, 1, 2]  # epoch 2 trained after the resume, on both ranks
    assert max(abs(a - b) for (_, a), (_, b) in zip(ours, theirs)) <= TOLERANCE, (ours, theirs)
    assert abs(read_metrics(run)["test/loss"] - read_metrics(root / "single")["test/loss"]) <= TOLERANCE
