"""Distributed data parallel (DDP): one process per device, started by torchrun or by SLURM.

    torchrun --nproc_per_node=N -m trainer ...       # N processes on this machine
    python -m trainer -m hydra/launcher=slurm ...     # SLURM via submitit: one task per GPU

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; under submitit on SLURM
(or with LOSSLAB_DIST_FROM_SLURM=1 under a plain ``srun``) they are derived from SLURM's variables,
see :func:`env_from_slurm`. With WORLD_SIZE > 1 every process:

- joins one process group: ``cuda:nccl,cpu:gloo`` where CUDA is available (CUDA tensors go through
  NCCL, small CPU flags through gloo), ``gloo`` otherwise; it trains on ``cuda:LOCAL_RANK``;
- builds the whole dataset (rank 0 first, so that it alone downloads or writes caches) and trains on
  its shard of each epoch's (seed, epoch) permutation. The permutation is cut to a multiple of W
  (at most W - 1 samples, different ones each epoch, sit out) and rank r takes positions r, r + W,
  r + 2W, ... in batches of data.batch_size / W: the W local batches of step k together are exactly
  the global batch k of the one-process run with the same data.batch_size;
- averages gradients through DistributedDataParallel (BatchNorm becomes SyncBatchNorm on GPUs; on
  CPU, where SyncBatchNorm does not run, each rank normalises with its own batch and rank 0's running
  statistics are copied to all ranks before every evaluation);
- evaluates a contiguous 1/W of the val/test split; loss sums are all-reduced and torchmetrics
  gathers its states across ranks, so the numbers are those of the whole split;
- agrees with the others on stopping (a signal on any rank) and on skipping a non-finite batch.

Only rank 0 logs to TensorBoard, shows progress, writes checkpoints and metrics.json and prints the
summary; all ranks resume from the same checkpoint. Hydra composes the config in every process; so
that they share one run directory, :func:`share_run_stamp` has rank 0 pick the timestamp that
``hydra.run.dir`` is named by (conf/config.yaml reads it from LOSSLAB_RUN_STAMP).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from datetime import datetime

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..errors import UserError

STAMP_ENV = "LOSSLAB_RUN_STAMP"
STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S_%f"


# ---------------------------------------------------------------- who am I


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True in rank 0 and in a single-process run: the process that logs, prints and writes files."""
    return rank() == 0


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: 'gpu[003-004,010],cpu1' -> 'gpu003'."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if match is None:
        raise UserError(f"cannot read the SLURM node list {nodelist!r}")
    prefix, ranges = match.groups()
    return prefix if ranges is None else prefix + ranges.split(",")[0].split("-")[0]


def env_from_slurm() -> None:
    """Export torch.distributed's env:// variables from SLURM's, for tasks started by srun without torchrun.

    Only inside a submitit job (SUBMITIT_EXECUTOR=slurm) or with LOSSLAB_DIST_FROM_SLURM=1: a plain
    ``python -m trainer`` in a batch script also sees SLURM_NTASKS and must not wait for other tasks.
    """
    opted_in = os.environ.get("SUBMITIT_EXECUTOR") == "slurm" or os.environ.get("LOSSLAB_DIST_FROM_SLURM") == "1"
    if not opted_in or "RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    nodelist = os.environ.get("SLURM_STEP_NODELIST") or os.environ["SLURM_JOB_NODELIST"]
    os.environ.update(
        RANK=os.environ["SLURM_PROCID"],
        WORLD_SIZE=os.environ["SLURM_NTASKS"],
        LOCAL_RANK=os.environ.get("SLURM_LOCALID", "0"),
        MASTER_ADDR=os.environ.get("MASTER_ADDR") or first_host(nodelist),
        # The same port in every task of the job, and different jobs on one node rarely collide.
        MASTER_PORT=os.environ.get("MASTER_PORT") or str(20000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 40000),
    )


def _launched_world_size() -> int:
    env_from_slurm()
    return int(os.environ.get("WORLD_SIZE", "1"))


def init() -> None:
    """Join the process group when this process was started as one of several (no-op otherwise)."""
    if _launched_world_size() <= 1 or dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "cuda:nccl,cpu:gloo"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)


def setup(device: torch.device) -> torch.device:
    """Join the process group if launched as several processes; the device this rank trains on."""
    init()
    if world_size() == 1:
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise UserError(
                f"LOCAL_RANK={local} but this machine has {torch.cuda.device_count()} GPUs: start at most one "
                "process per GPU (torchrun --nproc_per_node, SLURM tasks_per_node)"
            )
        if device.index not in (None, local):
            raise UserError(
                f"trainer.device={device} under torchrun: each process uses the GPU of its LOCAL_RANK; "
                "use trainer.device=auto or cuda"
            )
        return torch.device("cuda", local)
    return device


def cleanup(wait_for_others: bool) -> None:
    """Leave the process group. After a normal end, first wait for every rank: a rank that tears down
    gloo while a peer is still finishing (rank 0 writing its files) can abort with "terminate called
    without an active exception"."""
    if dist.is_available() and dist.is_initialized():
        if wait_for_others:
            dist.barrier()
        dist.destroy_process_group()


def share_run_stamp() -> None:
    """Before Hydra starts: give every rank rank 0's timestamp, so they all name the same run directory.

    conf/config.yaml names the run and sweep directories ``${oc.env:LOSSLAB_RUN_STAMP,${now:...}}``.
    Non-zero ranks also skip the log file, which rank 0 writes (rank 0 alone writes .hydra/, see the recipe).
    """
    if _launched_world_size() <= 1:
        return
    init()
    if STAMP_ENV not in os.environ:
        stamp = [datetime.now().strftime(STAMP_FORMAT) if rank() == 0 else None]
        dist.broadcast_object_list(stamp, src=0)
        os.environ[STAMP_ENV] = str(stamp[0])
    if rank() != 0:
        sys.argv += ["hydra/job_logging=disabled"]


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (downloads, caches), then the other ranks (which then find the files)."""
    if world_size() > 1 and not is_main():
        dist.barrier()
    try:
        yield
    finally:  # also when rank 0 failed: the others then meet the same error instead of waiting forever
        if world_size() > 1 and is_main():
            dist.barrier()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


# ---------------------------------------------------------------- data


def local_batch_size(batch_size: int) -> int:
    """data.batch_size is the global batch; each of the W ranks takes batch_size / W of it."""
    w = world_size()
    if batch_size % w:
        raise UserError(
            f"data.batch_size={batch_size} must be divisible by the number of processes ({w}): it is the "
            f"global batch, split evenly between them; e.g. data.batch_size={batch_size // w * w or w}"
        )
    return batch_size // w


def shard_length(num_samples: int) -> int:
    return num_samples // world_size()


def shard(order: Tensor) -> Tensor:
    """This rank's positions r, r + W, ... of an epoch's permutation (cut to a multiple of W)."""
    w = world_size()
    if w == 1:
        return order
    return order[: len(order) - len(order) % w][rank() :: w]


def eval_shard(split):
    """A contiguous 1/W of a val/test split for this rank (evaluation is then reduced over ranks)."""
    w = world_size()
    if w == 1:
        return split
    if len(split) < w:
        raise UserError(f"a split of {len(split)} samples cannot be shared by {w} processes; use fewer processes")
    bounds = [len(split) * r // w for r in range(w + 1)]
    part = slice(bounds[rank()], bounds[rank() + 1])
    return split.part(part)


# ---------------------------------------------------------------- model and reductions


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` when several processes train (else ``model`` itself).

    Convert BatchNorm to SyncBatchNorm first (:func:`sync_batchnorm`), before the optimiser is built.
    """
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm -> SyncBatchNorm under DDP on GPUs (batch statistics of the global batch)."""
    if world_size() > 1 and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def broadcast_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
    if world_size() == 1:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def any_rank(flag: bool) -> bool:
    """True if ``flag`` is true on any rank (a CPU all-reduce through gloo, no device sync)."""
    if world_size() == 1:
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_over_ranks(value: float) -> float:
    if world_size() == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item()) / world_size()


def sum_over_ranks(*values: float | Tensor) -> list[float]:
    """Sums of scalars over all ranks (e.g. a loss total and a sample count)."""
    totals = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if world_size() > 1:
        dist.all_reduce(totals)
    return totals.tolist()


class NullLogger:
    """What ranks other than 0 log to: nothing (rank 0 writes the TensorBoard files)."""

    def scalar(self, tag: str, value: float, step: int) -> None:
        pass

    def image(self, tag: str, png: bytes, step: int) -> None:
        pass

    def hparams(self, hparams, metrics) -> None:
        pass

    def flush(self) -> None:
        pass

    def positions(self) -> dict:
        return {}

    def close(self) -> None:
        pass
