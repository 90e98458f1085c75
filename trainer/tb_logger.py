"""TensorBoard logging into the run's own directory.

Hyperparameters are written with ``torch.utils.tensorboard.summary.hparams`` into the run's own
event file. ``SummaryWriter.add_hparams`` would instead open a new sub-run per call, which splits
every run in two in the HParams tab of a sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class RunLogger:
    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: on resume, TensorBoard drops events at or after this step from the earlier
        # file, so a run killed mid-epoch shows neither duplicated nor missing steps.
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        tagged = {f"final/{tag}": value for tag, value in metrics.items()}
        experiment, session_start, session_end = hparams_summary(hparams, tagged)
        file_writer = self.writer._get_file_writer()
        for summary in (experiment, session_start, session_end):
            file_writer.add_summary(summary)
        # The HParams tab reads each metric from the scalar of the same tag in this run.
        for tag, value in tagged.items():
            self.writer.add_scalar(tag, value, 0)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
