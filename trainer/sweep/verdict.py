"""What a comparison decides: each configuration against the best, paired by seed, and the verdict in words.

Ranking is by the main validation metric (the test metric is reported beside it, never used to
choose). For each configuration: the 95% t-interval of its main metric over the seeds
(``stats.t_interval``); against the best one, the paired t-test over the seeds both ran
(``stats.paired``), Holm-corrected over the comparisons (``stats.holm``); a configuration whose
corrected p is at least 5% is **not distinguishable from the best**. The verdict says which
configurations tie for best, how much worse the others are (with the interval of the difference),
and how many seeds would tell the top two apart at the spread observed; and it warns where the
comparison is fragile: every run of a configuration peaking at its last epoch, validation and test
rankings that disagree beyond their intervals, a validation split so small that one point of the
metric is a handful of samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import stats


@dataclass
class Comparison:
    """One configuration's standing against the best of its task."""

    label: str
    val: stats.Interval
    test: stats.Interval
    vs_best: stats.Paired | None = None  # None for the best itself
    p_holm: float = math.nan
    tied: bool = True
    seeds_val: dict[tuple[int, ...], float] = field(default_factory=dict)
    unit: str = "seeds"  # what the intervals and tests run over (unit_of)


def replicate(run: Any) -> tuple[int, ...]:
    """What tells the runs of one configuration apart, and pairs them across configurations: the
    seed, and under ``data.folds`` the fold (a sweep over both pairs by seed and fold)."""
    seed = int(run.config.get("seed", 0))
    if run.config.get("data.folds") is None:
        return (seed,)
    return (seed, int(run.config.get("data.fold", 0)))


def replicate_label(key: tuple[int, ...]) -> str:
    return f"seed {key[0]}" if len(key) == 1 else f"seed {key[0]} fold {key[1]}"


def unit_of(runs: Sequence[Any]) -> str:
    """What a configuration's mean is over: seeds, folds, or both."""
    keys = {replicate(r) for r in runs}
    if all(len(k) == 1 for k in keys):
        return "seeds"
    return "folds" if len({k[0] for k in keys}) == 1 else "seed-fold pairs"


def seed_values(runs: Sequence[Any], key: str) -> dict[tuple[int, ...], float]:
    """replicate (seed, or seed and fold) -> the value of ``key`` in metrics.json, for the completed runs."""
    values = {}
    for run in runs:
        value = (run.metrics or {}).get(key) if run.status == "completed" else None
        if isinstance(value, int | float) and math.isfinite(value):
            values[replicate(run)] = float(value)
    return values


def compare_rows(rows: Sequence[Any], main: str, mode: str) -> list[Comparison]:
    """The comparisons of ``rows`` (sorted best first) on ``val/<main>``."""
    comparisons = []
    unit = unit_of([r for row in rows for r in row.runs])
    for row in rows:
        val = seed_values(row.runs, f"val/{main}")
        test = seed_values(row.runs, f"test/{main}")
        val_ci, test_ci = stats.t_interval(list(val.values())), stats.t_interval(list(test.values()))
        comparisons.append(Comparison(row.label, val_ci, test_ci, seeds_val=val, unit=unit))
    if not comparisons:
        return comparisons
    best = comparisons[0]
    for other in comparisons[1:]:
        other.vs_best = stats.paired(best.seeds_val, other.seeds_val)
    adjusted = stats.holm([c.vs_best.p for c in comparisons[1:]])
    for other, p in zip(comparisons[1:], adjusted):
        other.p_holm = p
        other.tied = not (p < stats.ALPHA)  # NaN (fewer than 2 shared seeds): cannot be told apart
    return comparisons


def _points(value: float, main: str) -> str:
    """A difference in the metric's own words: points for [0, 1] metrics such as accuracy."""
    return f"{abs(value) * 100:.2f} points" if main in BOUNDED else f"{abs(value):.4g}"


BOUNDED = {
    "acc",
    "f1",
    "f1_macro",
    "f1_micro",
    "auroc",
    "map",
    "balanced_acc",
    "recall_at_1",
    "seq_acc",
    "ece",
    "cer",
    "r2",
}


def verdict(comparisons: list[Comparison], main: str, mode: str) -> list[str]:
    """The verdict as sentences (markdown), best first."""
    if not comparisons:
        return []
    best = comparisons[0]
    n = best.val.n
    if n < 2:
        return [
            f"`{best.label}` ranks first on val/{main} ({best.val.mean:.4f}), but with {n} seed per configuration "
            "nothing can be told apart: run more seeds (seed=0,1,2,3,4) for intervals and tests."
        ]
    tied = [c for c in comparisons[1:] if c.tied]
    worse = [c for c in comparisons[1:] if not c.tied]
    lines = []
    if tied:
        shown = ", ".join(f"`{c.label}` ({describe_p(c)})" for c in tied)
        lines.append(
            f"**`{best.label}` and {shown} are tied for best on val/{main}**: not distinguishable at the 5% level "
            f"(paired t-test over {n} {best.unit}, Holm-corrected)."
        )
    else:
        lines.append(
            f"**`{best.label}` is best on val/{main}** ({best.val.mean:.4f}, 95% CI {best.val.low:.4f} to "
            f"{best.val.high:.4f}, {n} {best.unit}), distinguishable from every other configuration at the 5% level."
        )
    for c in worse:
        d = c.vs_best
        near, far = (d.high, d.low) if mode == "max" else (d.low, d.high)  # the interval of how much worse
        lines.append(
            f"`{c.label}` is worse by {_points(d.difference, main)} (95% CI {_points(near, main)} to "
            f"{_points(far, main)}; {describe_p(c)}, Holm)."
        )
    if len(comparisons) > 1:
        runner = comparisons[1]
        d = runner.vs_best
        if d is not None and math.isfinite(d.std) and d.difference != 0:
            needed = stats.seeds_needed(d.difference, d.std)
            if runner.tied:
                more = f"about {needed} seeds" if needed <= 1000 else "more than 1000 seeds"
                gap, spread = _points(d.difference, main), _points(d.std, main)
                lines.append(
                    f"Telling `{best.label}` from `{runner.label}` apart (a difference of {gap} at a per-seed "
                    f"spread of {spread}) would take {more} (80% power)."
                )
    return lines


def describe_p(c: Comparison) -> str:
    """The corrected p-value, or why there is none."""
    if math.isfinite(c.p_holm):
        return f"p = {c.p_holm:.2g}"
    if c.vs_best is not None and c.vs_best.std == 0:
        return "the same difference on every seed, no spread to test it against"
    return "too few seeds to test"


def warnings(
    rows: Sequence[Any], comparisons: list[Comparison], main: str, mode: str, val_size: int | None
) -> list[str]:
    """Where the comparison is fragile, as sentences."""
    out = []
    still_improving, epochs = [], 0
    for row in rows:
        done = [r for r in row.runs if r.status == "completed" and r.metrics]
        if done and all(r.metrics.get("best_epoch", -1) + 1 == r.metrics.get("epochs", 0) for r in done):
            still_improving.append(f"`{row.label}`")
            epochs = max(epochs, int(done[0].metrics.get("epochs", 0)))
    if still_improving:
        which = "every configuration" if len(still_improving) == len(rows) else ", ".join(still_improving)
        out.append(
            f"every run of {which} peaked at its last epoch ({epochs}): still improving, so the epoch budget, "
            f"not the loss, may decide the ranking; try more epochs (trainer.max_epochs={2 * epochs})."
        )
    ranked = [c for c in comparisons if c.test.n]
    if len(ranked) > 1:
        sign = 1 if mode == "max" else -1
        for i, a in enumerate(ranked):
            for b in ranked[i + 1 :]:
                # a ranks above b on val; the test says the opposite, beyond both intervals
                if a.test.n > 1 and b.test.n > 1 and sign * (b.test.low - a.test.high) > 0:
                    out.append(
                        f"validation and test disagree: `{a.label}` ranks above `{b.label}` on val/{main} but below "
                        f"it on test/{main} ({a.test.mean:.4f} vs {b.test.mean:.4f}, beyond both 95% intervals); "
                        "the validation split may be too small or unlike the test split."
                    )
    if val_size and main in {"acc", "balanced_acc", "seq_acc", "recall_at_1"}:
        per_point = val_size / 100
        if per_point < 5:
            out.append(
                f"the validation split has {val_size} samples: one point of {main} is {per_point:.2g} samples, too few "
                "to separate configurations that differ by a point or two; use a larger split (data.val_fraction)."
            )
    return out
