"""hydra/launcher=slurm: the config composes and hydra-submitit-launcher turns it into the sbatch script we document.

Nothing is submitted: submitit's check for ``srun`` is patched to pass and ``map_array`` (the call that
would run ``sbatch``) only records the executor, whose sbatch text is then read.
"""

from __future__ import annotations

from conftest import ROOT


def compose_with_hydra(*overrides: str):
    from hydra import compose, initialize_config_dir

    import trainer.config  # noqa: F401  (registers the structured configs)

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_slurm_config_composes_with_one_task_per_gpu(tmp_path):
    cfg = compose_with_hydra("hydra/launcher=slurm", "hydra.launcher.gpus_per_node=4", f"hydra.sweep.dir={tmp_path}")
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.nodes) == (4, 4, 1)
    assert launcher.submitit_folder == f"{tmp_path}/.submitit/%j"
    plain = compose_with_hydra("hydra/launcher=submitit_slurm", f"hydra.sweep.dir={tmp_path}")
    assert plain.hydra.launcher.tasks_per_node == 1  # the plugin's own defaults are still there


def test_submitit_writes_the_documented_sbatch_script(tmp_path, monkeypatch):
    import submitit
    from hydra.utils import instantiate
    from submitit.slurm.slurm import SlurmExecutor

    cfg = compose_with_hydra(
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.gpus_per_node=4",
        "hydra.launcher.nodes=2",
        "hydra.launcher.timeout_min=90",
        "hydra.launcher.setup=[module load cuda]",
        f"hydra.sweep.dir={tmp_path}",
    )
    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 2))  # as if srun were installed
    captured = {}

    def record(self, fn, *iterables):  # instead of sbatch: keep the executor and the jobs
        captured["executor"], captured["jobs"] = self, list(zip(*iterables))
        return []

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", record)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg  # what Hydra's launcher setup() stores
    launcher.launch([["loss=ce"], ["loss=focal"]], initial_job_idx=0)

    assert [job[0] for job in captured["jobs"]] == [["loss=ce"], ["loss=focal"]]  # one SLURM array task per job
    sbatch = captured["executor"]._executor._make_submission_file_text("python -m trainer", "uid")
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --nodes=2",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --ntasks-per-node=4",  # one task (one DDP rank) per GPU
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=64GB",
        "#SBATCH --time=90",
        "#SBATCH --job-name=losslab",
        "module load cuda",
    ):
        assert line in sbatch, f"{line!r} not in\n{sbatch}"
    assert "\nsrun " in sbatch  # the tasks are started by srun, which sets SLURM_PROCID etc. for each
