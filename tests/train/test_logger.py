"""trainer/tb_logger.py: logged values reach the event file at flushes, with the time they were logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import read_scalars

from trainer.train import logger as tb_logger
from trainer.train.logger import RunLogger, event_file_sizes


def wall_times(run_dir: Path, tag: str) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.wall_time for e in acc.Scalars(tag)]


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(tb_logger.time, "time", fake.time)
    return fake


def test_values_are_written_at_flush_with_the_time_they_were_logged(tmp_path, clock):
    logger = RunLogger(tmp_path, flush_secs=2.0)
    logger.scalar("train/loss", 0.5, 10)
    clock.now += 1.0
    logger.scalar("train/loss", 0.25, 20)
    assert event_file_sizes(tmp_path) == {}  # nothing written yet: the file opens at the first flush
    clock.now += 0.5
    logger.flush()
    assert read_scalars(tmp_path) == {"train/loss": [(10, 0.5), (20, 0.25)]}
    assert wall_times(tmp_path, "train/loss") == [1_000_000.0, 1_000_001.0]
    logger.close()


def test_a_long_epoch_is_written_once_flush_secs_have_passed(tmp_path, clock):
    logger = RunLogger(tmp_path, flush_secs=2.0)
    logger.scalar("train/loss", 1.0, 1)
    clock.now += 1.9
    logger.scalar("train/loss", 0.9, 2)
    assert event_file_sizes(tmp_path) == {}
    clock.now += 0.1  # 2 s since the logger started (its last write)
    logger.scalar("train/loss", 0.8, 3)
    assert read_scalars(tmp_path)["train/loss"] == [(1, 1.0), (2, pytest.approx(0.9)), (3, pytest.approx(0.8))]
    logger.scalar("train/loss", 0.7, 4)  # the interval restarts at each write
    assert len(read_scalars(tmp_path)["train/loss"]) == 3
    logger.close()  # close writes what is left
    assert read_scalars(tmp_path)["train/loss"][-1] == (4, pytest.approx(0.7))


def test_flush_secs_zero_writes_each_value_at_once(tmp_path):
    logger = RunLogger(tmp_path, flush_secs=0)
    logger.scalar("lr", 0.1, 0)
    assert read_scalars(tmp_path) == {"lr": [(0, pytest.approx(0.1))]}
    logger.scalar("lr", 0.05, 1)
    assert read_scalars(tmp_path)["lr"] == [(0, pytest.approx(0.1)), (1, pytest.approx(0.05))]
    logger.close()


def test_positions_include_every_value_logged_so_far(tmp_path):
    """A checkpoint records positions(): a resume cuts the files back there, so nothing logged
    before the checkpoint may still be waiting in memory."""
    logger = RunLogger(tmp_path, flush_secs=3600)
    for step in range(5):
        logger.scalar("train/loss", 1.0 / (step + 1), step)
    positions = logger.positions()
    assert positions == event_file_sizes(tmp_path) and sum(positions.values()) > 0
    assert [s for s, _ in read_scalars(tmp_path)["train/loss"]] == list(range(5))
    logger.close()


def test_hparams_follow_the_scalars_logged_before_them(tmp_path):
    logger = RunLogger(tmp_path, flush_secs=3600)
    logger.scalar("val/loss", 0.3, 0)
    logger.hparams({"loss": "ce", "seed": 0}, {"val/acc": 0.9})
    scalars = read_scalars(tmp_path)  # hparams() writes everything: nothing waits for close()
    assert scalars["val/loss"] == [(0, pytest.approx(0.3))]
    assert scalars["final/val/acc"] == [(0, pytest.approx(0.9))]
    logger.close()


def test_a_negative_flush_interval_is_refused(cli, tmp_path):
    result = cli("task=binary", "trainer.log_flush_secs=-1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "trainer.log_flush_secs must be >= 0" in result.stderr
