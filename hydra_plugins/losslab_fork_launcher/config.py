"""The launcher's config, registered as ``hydra/launcher=fork`` (``conf/hydra/launcher/parallel.yaml`` uses it)."""

# No "from __future__ import annotations": Hydra imports plugin modules outside sys.modules, where
# dataclasses cannot resolve string annotations.
from dataclasses import dataclass, field
from typing import List, Optional  # noqa: UP035  (runtime types for OmegaConf)

from hydra.core.config_store import ConfigStore


@dataclass
class ForkLauncherConf:
    _target_: str = "hydra_plugins.losslab_fork_launcher.launcher.ForkLauncher"
    # Jobs running at once; -1: one per core this process may use (CPU affinity).
    n_jobs: int = -1
    # torch intra-op threads of each job; null: cores // n_jobs (at least 1). trainer.num_threads wins.
    threads_per_job: Optional[int] = None  # noqa: UP045
    # Imported once, by the preloader process the workers are forked from (while Hydra validates the
    # sweep's configs), so that no job pays for them again.
    preload: List[str] = field(  # noqa: UP006
        default_factory=lambda: [
            "trainer.train",
            "trainer.sweep",
            "torchmetrics.classification",
            "torchmetrics.regression",
            "tensorboard.compat.proto.event_pb2",
            "tensorboard.summary.writer.record_writer",
            "torch.utils.tensorboard.summary",
        ]
    )


ConfigStore.instance().store(group="hydra/launcher", name="fork", node=ForkLauncherConf, provider="losslab")
