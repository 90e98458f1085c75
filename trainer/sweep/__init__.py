"""Sweeps: each job skips, resumes or records its failure (``jobs``); the comparison report of a
sweep's runs (``report``, behind ``scripts/compare.py``)."""

from .jobs import SweepSummary, run_sweep_job

__all__ = ["SweepSummary", "run_sweep_job"]
