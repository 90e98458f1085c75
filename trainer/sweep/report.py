"""The comparison report of a sweep: one row per configuration, mean +- std over its seeds.

    python scripts/compare.py multirun/compare_multiclass/<timestamp>
    python scripts/compare.py <sweep dir> --fraction 0.9 --no-plot

Reads every run folder under the sweep directory (``metrics.json``, ``failed.json``, Hydra's
``.hydra/config.yaml`` and the TensorBoard event files) and writes into the sweep directory:

- ``report.md`` and ``report.csv``: per configuration (runs that differ in nothing but the seed),
  the final validation and test metrics and losses, the best epoch, the epochs needed to reach a
  fraction (default 95%) of the run's best main metric, the wall time per run (a resumed run's
  summed over its attempts) and the failed seeds;
  sorted by the task's main validation metric (``task.main_metric_mode`` says which way is better).
- ``curves.png``: validation loss and main metric per epoch for each configuration, the mean over
  seeds with a min-max band.

The table is printed to the terminal too.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import RESULT_NEUTRAL_KEYS, SWEEP_GROUPS, flatten
from . import stats
from .events import read_curves
from .jobs import FAILED_FILE, JOB_FILE, METRICS_FILE, read_json
from .verdict import Comparison, compare_rows, describe_p, replicate, replicate_label, unit_of, verdict, warnings

# Overrides that never tell two configurations apart: the seed (runs of one configuration differ in
# it), the groups that only pick configs, and the keys that do not change a result.
LABEL_EXCLUDED = {"seed", "data.fold", *SWEEP_GROUPS, *RESULT_NEUTRAL_KEYS}


class CompareError(Exception):
    """A user-facing problem with the folder given to compare.py."""


@dataclass
class Run:
    path: Path
    name: str
    config: dict[str, Any]
    overrides: list[str]
    metrics: dict[str, Any] | None
    failed: dict[str, Any] | None
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def wall_time_s(self) -> float:
        """Seconds of training; for a resumed run, summed over its attempts (job.json)."""
        if self.job.get("action") == "resume" and "total_wall_time_s" in self.job:
            return float(self.job["total_wall_time_s"])
        return float((self.metrics or {}).get("wall_time_s", math.nan))

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        return "completed" if self.metrics is not None else "unfinished"

    @property
    def task(self) -> str:
        return str(self.config.get("task.name", "?"))

    @property
    def main_metric(self) -> str:
        return str(self.config.get("task.main_metric", "loss"))

    @property
    def mode(self) -> str:
        return str(self.config.get("task.main_metric_mode", "max"))


def _load_config(run_dir: Path) -> dict[str, Any]:
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "config.yaml"
    if path.exists():
        cfg = OmegaConf.load(path)
        try:
            return flatten(OmegaConf.to_container(cfg, resolve=True))
        except Exception:  # an interpolation that only resolves inside Hydra
            return flatten(OmegaConf.to_container(cfg, resolve=False))
    job = read_json(run_dir / JOB_FILE)
    return flatten(job["config"]) if job and "config" in job else {}


def _load_overrides(run_dir: Path) -> list[str]:
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "overrides.yaml"
    if path.exists():
        return [str(o) for o in OmegaConf.load(path)]
    job = read_json(run_dir / JOB_FILE)
    return list(job.get("overrides", [])) if job else []


def is_run_dir(path: Path) -> bool:
    return any((path / name).exists() for name in (".hydra/config.yaml", METRICS_FILE, FAILED_FILE))


def find_runs(sweep_dir: Path) -> list[Path]:
    """Run folders under ``sweep_dir`` (or the folder itself when it is one run)."""
    if not sweep_dir.is_dir():
        raise CompareError(f"{sweep_dir} is not a directory")
    if is_run_dir(sweep_dir):
        return [sweep_dir]
    found = []
    for path in sorted(sweep_dir.rglob("*")):
        # Run folders named by overrides may nest (a value with '/'); never look inside checkpoints.
        if path.is_dir() and path.name not in ("checkpoints", ".hydra") and is_run_dir(path):
            found.append(path)
    return found


def load_run(run_dir: Path, sweep_dir: Path) -> Run:
    name = "." if run_dir == sweep_dir else str(run_dir.relative_to(sweep_dir))
    run = Run(
        path=run_dir,
        name=name,
        config=_load_config(run_dir),
        overrides=_load_overrides(run_dir),
        metrics=read_json(run_dir / METRICS_FILE),
        failed=read_json(run_dir / FAILED_FILE),
        job=read_json(run_dir / JOB_FILE) or {},
    )
    if any(run_dir.glob("events.out.tfevents.*")):
        run.curves = read_curves(run_dir, ("val/loss", f"val/{run.main_metric}"))
    return run


# ---------------------------------------------------------------------------- grouping


def group_key(run: Run) -> tuple:
    """Runs that differ in nothing but the seed (and the fold, under data.folds) share a key."""
    return tuple(sorted((k, json.dumps(v)) for k, v in run.config.items() if k not in LABEL_EXCLUDED))


def _short(override: str) -> str:
    """'optim.lr=0.0022881136684755237' -> 'optim.lr=0.002288' (labels stay readable)."""
    key, sep, value = override.partition("=")
    try:
        number = float(value)
    except ValueError:
        return override
    return f"{key}{sep}{number:.4g}" if sep and ("." in value or "e" in value.lower()) else override


def labels_for(groups: list[list[Run]]) -> list[str]:
    """Each configuration's label: its overrides, minus the seed and those shared by every run."""

    def relevant(run: Run) -> list[str]:
        return [o for o in run.overrides if o.split("=", 1)[0].lstrip("+~") not in LABEL_EXCLUDED]

    shared = set.intersection(*(set(relevant(g[0])) for g in groups)) if len(groups) > 1 else set()
    labels = []
    for group in groups:
        parts = [_short(o) for o in relevant(group[0]) if o not in shared]
        label = ",".join(parts) or "(defaults)"
        while label in labels:  # same overrides but another config (e.g. from an experiment file)
            label += "'"
        labels.append(label)
    return labels


# ---------------------------------------------------------------------------- statistics


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0, len(finite)


def epochs_to_fraction(series: list[tuple[int, float]], fraction: float, mode: str) -> float:
    """1-based count of epochs until the metric first reaches ``fraction`` of the run's best value.

    max mode: value >= fraction * best; min mode (lower is better): value <= best / fraction.
    NaN when the best is not positive (a fraction of it means nothing).
    """
    values = [v for _, v in series if math.isfinite(v)]
    if not values:
        return math.nan
    best = max(values) if mode == "max" else min(values)
    if best <= 0:
        return math.nan
    threshold = fraction * best if mode == "max" else best / fraction
    for index, (_, value) in enumerate(series):
        if math.isfinite(value) and (value >= threshold if mode == "max" else value <= threshold):
            return float(index + 1)
    return math.nan


@dataclass
class Row:
    label: str
    runs: list[Run]
    stats: dict[str, tuple[float, float, int]]
    # The 95% t-interval of each metric column over the seeds (trainer/sweep/stats.py).
    intervals: dict[str, stats.Interval] = field(default_factory=dict)

    @property
    def completed(self) -> list[Run]:
        return [r for r in self.runs if r.status == "completed"]

    @property
    def n_failed(self) -> int:
        return sum(r.status == "failed" for r in self.runs)


def metric_columns(runs: list[Run]) -> list[str]:
    """val/<main>, val/<others>, val/loss, then the same for test: the keys of metrics.json."""
    main = runs[0].main_metric
    keys = {k for r in runs if r.metrics for k, v in r.metrics.items() if "/" in k and isinstance(v, (int, float))}

    def order(split: str) -> list[str]:
        names = sorted(k.split("/", 1)[1] for k in keys if k.startswith(f"{split}/"))
        ordered = [n for n in (main,) if n in names] + [n for n in names if n not in (main, "loss")]
        return [f"{split}/{n}" for n in ordered + (["loss"] if "loss" in names else [])]

    return order("val") + order("test")


def _interval(values: list[Any]) -> stats.Interval:
    return stats.t_interval([v for v in values if isinstance(v, int | float)])


def summarize(runs: list[Run], fraction: float) -> tuple[list[Row], list[str]]:
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    grouped = list(groups.values())
    columns = metric_columns(runs)
    rows = []
    main_key = f"val/{runs[0].main_metric}"
    for label, group in zip(labels_for(grouped), grouped):
        done = [r for r in group if r.status == "completed"]
        stats = {c: mean_std([r.metrics.get(c, math.nan) for r in done]) for c in columns}
        stats["best_epoch"] = mean_std([r.metrics["best_epoch"] + 1 for r in done if "best_epoch" in r.metrics])
        stats["epochs_to_fraction"] = mean_std(
            [epochs_to_fraction(r.curves.get(main_key, []), fraction, r.mode) for r in done]
        )
        stats["wall_time_s"] = mean_std([r.wall_time_s for r in done])
        intervals = {c: _interval([r.metrics.get(c, math.nan) for r in done]) for c in columns}
        rows.append(Row(label, group, stats, intervals))
    mode = runs[0].mode

    def sort_key(row: Row) -> tuple[int, float]:
        value = row.stats.get(main_key, (math.nan,))[0]
        if math.isnan(value):
            return (1, 0.0)
        return (0, -value if mode == "max" else value)

    rows.sort(key=sort_key)
    return rows, columns


# ---------------------------------------------------------------------------- output


def fmt(stat: tuple[float, float, int], digits: int = 4) -> str:
    mean, std, n = stat
    if n == 0:
        return "-"
    return f"{mean:.{digits}f}" if n < 2 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _ci(interval: stats.Interval) -> str:
    return "-" if not math.isfinite(interval.low) else f"{interval.low:.4f} to {interval.high:.4f}"


def _versus(comparison: Comparison | None, rank: int) -> str:
    if comparison is None:
        return ""
    if rank == 1:
        return "best"
    return f"{'tied' if comparison.tied else 'worse'} ({describe_p(comparison)})"


def table(
    rows: list[Row], columns: list[str], fraction: float, comparisons: list[Comparison] | None = None
) -> tuple[list[str], list[list[str]]]:
    pct = f"{fraction:.0%}"
    main = columns[0]
    headers = ["#", "configuration", "seeds ok", "failed", f"{main} 95% CI", "vs best (Holm)", *columns]
    headers += ["best epoch", f"epochs to {pct}", "wall s/run"]
    body = []
    for rank, row in enumerate(rows, 1):
        comparison = comparisons[rank - 1] if comparisons else None
        body.append(
            [
                str(rank),
                row.label,
                f"{len(row.completed)}/{len(row.runs)}",
                str(row.n_failed),
                _ci(row.intervals.get(main, stats.t_interval([]))),
                _versus(comparison, rank),
                *(fmt(row.stats[c]) for c in columns),
                fmt(row.stats["best_epoch"], 1),
                fmt(row.stats["epochs_to_fraction"], 1),
                fmt(row.stats["wall_time_s"], 1),
            ]
        )
    return headers, body


def markdown(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def plain(headers: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def write_csv(path: Path, sections: list[tuple[str, list[Row], list[str]]]) -> None:
    """One line per configuration; the metric columns are the union over tasks (blank where absent)."""
    stat_keys: list[str] = []
    for _, _, columns in sections:
        stat_keys += [c for c in columns if c not in stat_keys]
    stat_keys += ["best_epoch", "epochs_to_fraction", "wall_time_s"]
    header = ["task", "rank", "configuration", "runs", "completed", "failed"]
    header += [f"{k}_{s}" for k in stat_keys for s in ("mean", "std")]
    interval_keys = [k for k in stat_keys if k not in ("best_epoch", "epochs_to_fraction", "wall_time_s")]
    header += [f"{k}_ci95_{s}" for k in interval_keys for s in ("low", "high")]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for task, rows, _ in sections:
            for rank, row in enumerate(rows, 1):
                line: list[Any] = [task, rank, row.label, len(row.runs), len(row.completed), row.n_failed]
                for key in stat_keys:
                    mean, std, n = row.stats.get(key, (math.nan, math.nan, 0))
                    line += ["" if n == 0 else f"{mean:.10g}", "" if n == 0 else f"{std:.10g}"]
                for key in interval_keys:
                    interval = row.intervals.get(key, stats.t_interval([]))
                    line += [f"{v:.10g}" if math.isfinite(v) else "" for v in (interval.low, interval.high)]
                writer.writerow(line)


def write_runs_csv(path: Path, sections: list[tuple[str, list[Row], list[str]]]) -> None:
    """One line per run: its configuration, seed, status and every final metric."""
    keys: list[str] = []
    for _, _, columns in sections:
        keys += [c for c in columns if c not in keys]
    keys += ["best_epoch", "epochs", "stop_reason"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "configuration", "seed", "fold", "status", "run", *keys])
        for task, rows, _ in sections:
            for row in rows:
                for run in sorted(row.runs, key=replicate):
                    metrics = run.metrics or {}
                    values = [metrics.get(k, "") for k in keys]
                    fold = run.config.get("data.fold", "") if run.config.get("data.folds") is not None else ""
                    writer.writerow([task, row.label, run.config.get("seed", ""), fold, run.status, run.name, *values])


def plot(path: Path, sections: list[tuple[str, list[Row], list[str]]]) -> None:
    """Val loss and main metric per epoch: mean over seeds, min-max band; one row of panels per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(
        len(sections), 2, figsize=(15, 4.8 * len(sections)), squeeze=False, constrained_layout=True
    )
    # The 10 strong colours of tab20, then its 10 light ones; each further ten also changes the dash.
    tab20 = plt.get_cmap("tab20")
    colors = [tab20(i) for i in range(0, 20, 2)] + [tab20(i) for i in range(1, 20, 2)]
    styles = ["-", "--", ":", "-."]
    for (task, rows, _), panel in zip(sections, axes):
        main = rows[0].runs[0].main_metric
        for index, row in enumerate(rows):
            color, style = colors[index % len(colors)], styles[(index // 10) % len(styles)]
            for ax, tag in zip(panel, ("val/loss", f"val/{main}")):
                by_epoch: dict[int, list[float]] = {}
                for run in row.completed:
                    for step, value in run.curves.get(tag, []):
                        if math.isfinite(value):
                            by_epoch.setdefault(step, []).append(value)
                if not by_epoch:
                    continue
                epochs = sorted(by_epoch)
                x = [e + 1 for e in epochs]
                ax.plot(x, [statistics.fmean(by_epoch[e]) for e in epochs], style, color=color, lw=1.6, label=row.label)
                ax.fill_between(
                    x, [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs], color=color, alpha=0.15
                )
        loss_ax, metric_ax = panel
        loss_ax.set_title(f"{task}: validation loss (each configuration's own loss)")
        metric_ax.set_title(
            f"{task}: validation {main} ({'higher' if rows[0].runs[0].mode == 'max' else 'lower'} is better)"
        )
        lows = [line.get_ydata().min() for line in loss_ax.get_lines()]
        if lows and min(lows) > 0:
            loss_ax.set_yscale("log")  # losses of different families differ by orders of magnitude
        for ax in panel:
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        metric_ax.legend(
            loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False, title="mean, min-max band"
        )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plain_markup(line: str) -> str:
    return line.replace("**", "").replace("`", "")


def _pareto(rows: list[Row], main: str, mode: str) -> list[str]:
    """Classification: the configurations no other beats on both val/<main> and calibration (val/ece)."""
    if mode != "max" or not any("val/ece" in r.intervals for r in rows):
        return []
    points = [(r.intervals[f"val/{main}"].mean, r.intervals.get("val/ece", stats.t_interval([])).mean) for r in rows]
    front = [r.label for r, on in zip(rows, stats.pareto_front(points)) if on]
    if not front:
        return []
    shown = ", ".join(f"`{label}`" for label in front)
    return [
        f"**Pareto front** of val/{main} (higher is better) against val/ece (calibration error, lower is better), "
        f"means over the seeds: {shown}. Every other configuration is beaten on both by one of these.",
        "",
    ]


def _reliability(rows: list[Row], sweep_dir: Path) -> list[str]:
    """The reliability diagrams of the configurations side by side (the first seed that drew one)."""
    cells = []
    for row in rows:
        drawn = next(
            (
                r.path / "reliability_diagram.png"
                for r in row.completed
                if (r.path / "reliability_diagram.png").exists()
            ),
            None,
        )
        if drawn is not None:
            cells.append((row.label, drawn.relative_to(sweep_dir).as_posix()))
    if not cells:
        return []
    header = [label for label, _ in cells]
    images = [f"![reliability of {label}](<{path}>)" for label, path in cells]
    return ["### Reliability diagrams (test split, first seed)", "", markdown(header, [images]), ""]


def _per_seed(rows: list[Row], comparisons: list[Comparison], main: str) -> list[str]:
    """The per-seed values of val/<main> behind the summary (every metric of every run: runs.csv)."""
    seeds = sorted({seed for c in comparisons for seed in c.seeds_val})
    if not seeds:
        return []
    lines = ["<details><summary>Per-seed val/" + main + " (every metric of every run: runs.csv)</summary>", ""]
    header = ["configuration", *(replicate_label(s) for s in seeds)]
    body = [[c.label, *(f"{c.seeds_val[s]:.4f}" if s in c.seeds_val else "-" for s in seeds)] for c in comparisons]
    return [*lines, markdown(header, body), "", "</details>", ""]


def rank_by_last(run: Run) -> Run:
    """The run with its last epoch's metrics (val_last/, test_last/) in place of the best epoch's."""
    last_splits = ("val_last/", "test_last/")
    if run.metrics and any(k.startswith(last_splits) for k in run.metrics):
        others = {k: v for k, v in run.metrics.items() if not k.startswith(("val/", "test/", *last_splits))}
        last = {k.replace("_last/", "/", 1): v for k, v in run.metrics.items() if k.startswith(last_splits)}
        run.metrics = {**others, **last}
    return run


def compare(
    sweep_dir: Path, fraction: float = 0.95, make_plot: bool = True, aggregates: bool = True, epoch: str = "best"
) -> str:
    """Write report.md, report.csv, runs.csv (curves.png, and the aggregate TensorBoard runs) into
    ``sweep_dir``; return the terminal text. ``epoch``: rank and report by the best epoch's metrics
    (chosen on val/<main>, as the runs tested them) or by the last epoch's."""
    if not 0 < fraction <= 1:
        raise CompareError(f"--fraction must be in (0, 1], got {fraction}")
    if epoch not in ("best", "last"):
        raise CompareError(f"--epoch must be best or last, got {epoch!r}")
    run_dirs = find_runs(sweep_dir)
    if not run_dirs:
        raise CompareError(
            f"no runs in {sweep_dir}: no folder under it has metrics.json, failed.json or .hydra/config.yaml. "
            "Give the directory of a sweep (python -m trainer -m ... writes multirun/<timestamp>/)."
        )
    runs = [load_run(d, sweep_dir) for d in run_dirs]
    if epoch == "last":
        runs = [rank_by_last(r) for r in runs]
    by_task: dict[str, list[Run]] = {}
    for run in runs:
        by_task.setdefault(run.task, []).append(run)

    sections = []
    md = [f"# Comparison of {len(runs)} runs in `{sweep_dir}`", ""]
    if epoch == "last":
        md += [
            "Every metric is the **last epoch's** (val_last/, test_last/ in metrics.json), not the best epoch's.",
            "",
        ]
    text = []
    for task, task_runs in sorted(by_task.items()):
        rows, columns = summarize(task_runs, fraction)
        sections.append((task, rows, columns))
        main, mode = task_runs[0].main_metric, task_runs[0].mode
        comparisons = compare_rows(rows, main, mode)
        unit = unit_of(task_runs)
        headers, body = table(rows, columns, fraction, comparisons)
        val_size = next((r.metrics.get("val_samples") for r in task_runs if r.metrics), None)
        said = verdict(comparisons, main, mode)
        fragile = warnings(rows, comparisons, main, mode, val_size)
        intro = (
            f"Task `{task}`: {len(task_runs)} runs in {len(rows)} configurations, sorted by val/{main} "
            f"({'higher' if mode == 'max' else 'lower'} is better); mean ± std over the {unit} that completed, "
            f"the 95% t-interval of val/{main}, and each configuration against the best, paired by "
            f"{'seed' if unit == 'seeds' else 'fold' if unit == 'folds' else 'seed and fold'}."
        )
        md += [f"## {task}", "", "### Verdict", "", *(f"- {line}" for line in said)]
        md += [f"- Warning: {line}" for line in fragile]
        md += [
            "",
            "### Table",
            "",
            intro,
            "Metrics are those of each run's best epoch (by val/" + main + "). Epochs count from 1; "
            f"`epochs to {fraction:.0%}`: the first epoch whose val/{main} reaches {fraction:.0%} of that run's "
            "best. Val/test losses are each configuration's own training loss: compare them within a loss, "
            "not across losses.",
            "",
            markdown(headers, body),
            "",
            *_pareto(rows, main, mode),
            *_per_seed(rows, comparisons, main),
            *_reliability(rows, sweep_dir),
        ]
        text += [intro, plain(headers, body), "", *(_plain_markup(line) for line in said)]
        text += [f"warning: {_plain_markup(line)}" for line in fragile] + [""]

    problems = [r for r in runs if r.status != "completed"]
    if problems:
        md += ["## Runs that did not complete", ""]
        text.append("Runs that did not complete:")
        for run in problems:
            reason = (run.failed or {}).get("reason", "no metrics.json yet (interrupted or still running)")
            first_line = str(reason).splitlines()[0] if reason else ""
            md.append(f"- `{run.name}` ({run.status}): {reason}")
            text.append(f"  {run.name} ({run.status}): {first_line}")
        md.append("")
    best = read_json(sweep_dir / "best.json")
    if best:
        md += [
            "## Optuna study",
            "",
            f"Best trial #{best['trial']} (`{best['run_dir']}`) of {best['n_trials']}: "
            f"{best['metric']} = {best['value']:.5g} with "
            + ", ".join(f"`{k}={v}`" for k, v in best["params"].items())
            + ". The study is `optuna.db` in this folder; every trial is in `trials.csv`.",
            "",
        ]

    if aggregates:
        from .aggregate import FOLDER, write_aggregates

        folders = write_aggregates(sweep_dir, sections)
        if folders:
            md += [
                "## TensorBoard",
                "",
                f"`tensorboard --logdir {sweep_dir} --host localhost`: the Custom Scalars tab shows one band per "
                f"configuration and metric (the mean over its seeds, min to max), from the runs in `{FOLDER}/`; "
                "the Scalars and HParams tabs hold every seed's own run.",
                "",
            ]
            text.append(f"TensorBoard: {len(folders)} aggregate runs in {sweep_dir / FOLDER} (Custom Scalars tab)")
    if make_plot:
        plot(sweep_dir / "curves.png", sections)
        md += ["## Curves", "", "![validation curves](curves.png)", ""]
    (sweep_dir / "report.md").write_text("\n".join(md))
    write_csv(sweep_dir / "report.csv", sections)
    write_runs_csv(sweep_dir / "runs.csv", sections)
    written = ", ".join(n for n in ("report.md", "report.csv", "runs.csv", "curves.png" if make_plot else "") if n)
    text.append(f"wrote {written} in {sweep_dir}")
    return "\n".join(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="the sweep's directory (hydra.sweep.dir)")
    parser.add_argument(
        "--fraction", type=float, default=0.95, help="report the epochs to reach this fraction of the best (0.95)"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip curves.png")
    parser.add_argument("--no-aggregate", action="store_true", help="skip the aggregate TensorBoard runs")
    parser.add_argument(
        "--epoch",
        choices=("best", "last"),
        default="best",
        help="rank by the best epoch's metrics (chosen on val, the default) or the last epoch's (noisy labels)",
    )
    args = parser.parse_args(argv)
    try:
        shown = compare(
            args.sweep_dir,
            args.fraction,
            make_plot=not args.no_plot,
            aggregates=not args.no_aggregate,
            epoch=args.epoch,
        )
        print(shown)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
