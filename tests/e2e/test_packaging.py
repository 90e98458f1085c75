"""The installed package: every module and config is in the wheel, and an installed losslab runs from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT


def _packages_on_disk() -> set[str]:
    found = set()
    for top in ("trainer", "losses", "hydra_plugins"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_pyproject_lists_every_package_and_maps_the_configs():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    assert listed - {"trainer.conf"} == _packages_on_disk()
    assert setuptools["package-dir"] == {"trainer.conf": "conf"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """losslab built as a wheel and unpacked into a folder of its own (its dependencies are this venv's)."""
    folder = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here (no build backend to install?): {built.stderr[-300:]}")
    (wheel,) = folder.glob("losslab-*.whl")
    target = folder / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
        names = set(archive.namelist())
    configs = {str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.yaml")}
    assert {f"trainer/conf/{c}" for c in configs} <= names
    modules = {
        str(p.relative_to(ROOT)) for top in ("trainer", "losses", "hydra_plugins") for p in (ROOT / top).rglob("*.py")
    }
    assert modules <= names
    return target


@pytest.mark.slow
def test_an_installed_losslab_trains_from_a_folder_outside_the_checkout(installed, tmp_path):
    # The unpacked wheel first on the path: the checkout (an editable install) must not be what runs.
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("HYDRA_FULL_ERROR", None)
    run = subprocess.run(
        [sys.executable, "-m", "trainer", "task=binary", "trainer.max_epochs=1", "trainer.device=cpu",
         "trainer.progress=false", "hydra.run.dir=run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "run" / "metrics.json").exists() and (tmp_path / "run" / ".hydra" / "config.yaml").exists()
    where = subprocess.run(
        [sys.executable, "-c", "import trainer.cli as c; print(c.__file__); print(c.CONF_DIR)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    module, conf = where.stdout.split()
    assert Path(module).is_relative_to(installed) and Path(conf) == installed / "trainer" / "conf"
