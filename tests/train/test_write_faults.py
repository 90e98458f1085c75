"""Faults of the machine: a full disk, an unwritable folder, a checkpoint folder removed during a run.

Each ends with one line that says what happened and where, the temporary file removed, the last good
checkpoint untouched, and the command that resumes the run.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import torch
from conftest import compose, run_cli

from trainer.train import checkpoint

QUICK = ("trainer.device=cpu", "trainer.num_threads=1", "trainer.progress=false")


def _failing_save(code: int):
    def save(state, f):
        f.write(b"x" * 1000)  # part of the file made it to disk
        raise OSError(code, "simulated")

    return save


@pytest.mark.parametrize(
    "code, said",
    [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "the folder is not writable"), (errno.EROFS, "not writable")],
)
def test_a_failed_write_removes_the_temporary_file_and_keeps_the_old_checkpoint(tmp_path, monkeypatch, code, said):
    path = tmp_path / checkpoint.LAST
    checkpoint.save_atomic({"epoch": 1}, path)
    good = path.read_bytes()
    monkeypatch.setattr(checkpoint.torch, "save", _failing_save(code))
    with pytest.raises(checkpoint.WriteError) as err:
        checkpoint.save_atomic({"epoch": 2}, path, keep_previous=True)
    assert str(err.value) == f"cannot write {path}: {said}" or said in str(err.value)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.LAST]


def test_a_removed_folder_is_named_as_removed(tmp_path):
    path = tmp_path / "checkpoints" / checkpoint.LAST  # the folder does not exist
    with pytest.raises(checkpoint.WriteError, match="its folder was removed while the run was going"):
        checkpoint.save_atomic({"epoch": 1}, path)


def test_a_checkpoint_folder_removed_during_a_run_stops_it_with_the_reason(tmp_path, monkeypatch):
    from trainer.errors import UserError
    from trainer.train import recipe, train

    run_dir = tmp_path / "run"
    real_validate = recipe.Recipe.validate

    def validate_then_remove(self, epoch):
        real_validate(self, epoch)
        if epoch == 0:
            shutil.rmtree(self.ckpt_dir)

    monkeypatch.setattr(recipe.Recipe, "validate", validate_then_remove)
    with pytest.raises(UserError) as err:
        train(compose("task=binary", "trainer.max_epochs=3", *QUICK), run_dir)
    message = str(err.value)
    assert "its folder was removed while the run was going" in message and str(run_dir / "checkpoints") in message
    assert "no checkpoint is left to resume from" in message and not getattr(err.value, "resumable", True)
    assert not list(run_dir.rglob("*.tmp"))


def test_a_full_disk_in_the_middle_of_a_run_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    from trainer.errors import UserError
    from trainer.train import train

    saves = []
    real_save = torch.save

    def save_until_full(state, f):
        saves.append(1)
        if len(saves) == 3:
            f.write(b"x" * 100)
            raise RuntimeError("[enforce fail at inline_container.cc] . unexpected pos 566272 vs 566160")
        real_save(state, f)

    monkeypatch.setattr(checkpoint.torch, "save", save_until_full)
    monkeypatch.setattr(checkpoint, "_free_bytes", lambda folder: 0)  # as on a full disk
    run_dir = tmp_path / "run"
    with pytest.raises(UserError) as err:
        train(compose("task=binary", "trainer.max_epochs=5", *QUICK), run_dir)
    last = run_dir / "checkpoints" / checkpoint.LAST
    assert str(err.value).startswith(f"cannot write {last}: the disk is full")
    assert f"the last good checkpoint is kept: {last}" in str(err.value)
    assert getattr(err.value, "resumable", False)
    assert checkpoint.load(last)["epoch"] == 2  # the checkpoint of the last epoch that could be written
    assert not list(run_dir.rglob("*.tmp"))


def _small_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]).returncode == 0


@pytest.mark.slow
def test_a_run_on_a_full_file_system_ends_with_one_line_and_the_resume_command(tmp_path):
    mount = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    if not _small_tmpfs(mount, "1800k"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        run_dir = mount / "run"
        result = run_cli("trainer.max_epochs=6", f"hydra.run.dir={run_dir}", *QUICK)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, result.stderr
        assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {run_dir}"), result.stderr
        assert "the disk is full" in lines[0] and "the last good checkpoint is kept" in lines[0]
        assert "resume with: python -m trainer trainer.max_epochs=6 " in lines[0]
        assert lines[0].endswith(f"hydra.run.dir={run_dir} trainer.resume=true")
        assert not list(run_dir.rglob("*.tmp"))
        assert checkpoint.load(run_dir / "checkpoints" / checkpoint.LAST)["epoch"] >= 1
    finally:
        subprocess.run(["umount", str(mount)])
