"""`python -m vae_lightning.analysis.plot SWEEP_DIR`: a sweep's loss curves (figure.png) and table (summary.md).

Jobs are grouped by the value they sweep (every override that varies across the jobs, except
the seed); each group is drawn as the mean over its seeds with a band for their spread. A job
that failed, is still running or never started is named in the table, never silently dropped.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from omegaconf import OmegaConf

from vae_lightning.harness import sweeps
from vae_lightning.harness.runs import job_overrides, read_status

STAGES = ("train", "val")
SEED = "seed"


@dataclass
class Group:
    """The jobs of one swept value: their per-epoch losses, and the jobs that produced none."""

    label: str
    curves: dict[str, list[dict[int, float]]] = field(default_factory=lambda: {stage: [] for stage in STAGES})
    seeds: int = 0
    problems: list[str] = field(default_factory=list)


def epoch_losses(job: Path) -> dict[str, dict[int, float]]:
    """Per-epoch train and val loss from the job's csv/metrics*.csv; on a resumed run, later files win."""
    losses: dict[str, dict[int, float]] = {stage: {} for stage in STAGES}
    files = sorted(job.glob("csv/metrics*.csv"), key=lambda path: (path.name == "metrics.csv", path.name))
    for path in files:
        with open(path, newline="") as file:
            for row in csv.DictReader(file):
                for stage in STAGES:
                    if row.get(f"{stage}/loss"):
                        losses[stage][int(float(row["epoch"]))] = float(row[f"{stage}/loss"])
    return losses


def without_resume(overrides: list[str]) -> list[str]:
    """A job's overrides less `resume=...`, which says how a job was run again, not which job it is."""
    return [override for override in overrides if override.partition("=")[0] != "resume"]


def expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """Every job a grid sweep was asked for, from multirun.yaml: the config's sweep params and the
    command line's overrides, expanded; None when there is no grid (another sweeper chose the jobs)."""
    if not (sweep_dir / "multirun.yaml").exists():
        return None
    master = OmegaConf.load(sweep_dir / "multirun.yaml")
    if master.hydra.sweeper._target_ != sweeps.BASIC_SWEEPER:
        return None
    params = master.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()] + list(master.hydra.overrides.task)
    return [without_resume(job) for job in sweeps.grid(arguments)]


def swept_keys(jobs: list[list[str]]) -> list[str]:
    """The override keys whose value differs between jobs."""
    values: dict[str, set[str]] = defaultdict(set)
    for overrides in jobs:
        for override in overrides:
            key, _, value = override.partition("=")
            values[key].add(value)
    return [key for key, found in values.items() if len(found) > 1]


def readable(override: str) -> str:
    """`clip.value=null` -> `clip.value=none`; `clip={algorithm:norm,value:0.5}` -> `clip=norm 0.5`."""
    key, _, value = override.partition("=")
    if value.startswith("{") and value.endswith("}"):
        value = " ".join(item.partition(":")[2] for item in value[1:-1].split(","))
    return f"{key}={value.replace('null', 'none')}"


def describe(overrides: list[str], keys: list[str]) -> str:
    """The label of a swept value: `0.5` when one key is swept (it names the legend), else `a=1 b=2`."""
    chosen = [readable(o) for o in overrides if o.partition("=")[0] in keys]
    if len(chosen) == 1:
        return chosen[0].partition("=")[2]
    return " ".join(chosen) or "all jobs"


def collect(sweep_dir: Path) -> tuple[list[str], dict[str, Group]]:
    """(swept keys, groups by label) for the jobs asked for and the job folders found."""
    found = {frozenset(without_resume(job_overrides(job))): job for job in sweep_dir.glob("*/") if (job / ".hydra").is_dir()}
    expected = expected_jobs(sweep_dir) or [list(overrides) for overrides in found]
    keys = [key for key in swept_keys(expected) if key != SEED]
    groups: dict[str, Group] = {}
    for overrides in expected:
        label = describe(overrides, keys)
        group = groups.setdefault(label, Group(label))
        seed = next((o.partition("=")[2] for o in overrides if o.startswith(f"{SEED}=")), "default")
        job = found.get(frozenset(overrides))
        status = read_status(job) if job else None
        if job is None:
            group.problems.append(f"seed {seed}: missing (never started)")
            continue
        if status is None or status["status"] != "completed":
            state = status["status"] if status else "no status.json"
            group.problems.append(f"seed {seed}: {state}" + (f" ({status['error']})" if status and "error" in status else ""))
        losses = epoch_losses(job)
        if losses["val"] and (status or {}).get("status") == "completed":
            group.seeds += 1
        for stage in STAGES:
            if losses[stage]:
                group.curves[stage].append(losses[stage])
    return keys, groups


def mean_and_spread(curves: list[dict[int, float]]) -> tuple[list[int], list[float], list[float]]:
    """Epochs, mean over the seeds that reached each epoch, and their standard deviation (0 for one)."""
    epochs = sorted({epoch for curve in curves for epoch in curve})
    values = [[curve[epoch] for curve in curves if epoch in curve] for epoch in epochs]
    means = [statistics.fmean(v) for v in values]
    spreads = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
    return epochs, means, spreads


def draw(groups: dict[str, Group], keys: list[str], title: str, path: Path) -> None:
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    seeds = max((group.seeds for group in groups.values()), default=0)
    for axis, stage in zip(axes, STAGES):
        for group in groups.values():
            if not group.curves[stage]:
                continue
            epochs, means, spreads = mean_and_spread(group.curves[stage])
            epochs = [epoch + 1 for epoch in epochs]  # epoch 1 is the first one trained
            line = axis.plot(epochs, means, label=group.label, linewidth=1.5)[0]
            low = [m - s for m, s in zip(means, spreads)]
            high = [m + s for m, s in zip(means, spreads)]
            axis.fill_between(epochs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        axis.set_title(f"{stage} loss")
        axis.set_xlabel("epoch")
        axis.set_yscale("log")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        for axis_formatter in (axis.yaxis.set_major_formatter, axis.yaxis.set_minor_formatter):
            axis_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("loss (eq. 20), per image")
    axes[1].legend(title=", ".join(keys) or None, fontsize="small")
    figure.suptitle(f"{title}: mean over {seeds} seed{'s' * (seeds != 1)}, band = ±1 standard deviation")
    figure.savefig(path, dpi=110)


def summary_rows(groups: dict[str, Group]) -> list[tuple[float, str]]:
    rows = []
    for group in groups.values():
        finals = [curve[max(curve)] for curve in group.curves["val"] if curve]
        epochs, means, _ = mean_and_spread(group.curves["val"]) if finals else ([], [], [])
        mean = statistics.fmean(finals) if finals else math.inf
        spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
        final = f"{mean:.3f} ± {spread:.3f}" if finals else "n/a"
        best = str(epochs[means.index(min(means))] + 1) if means else "n/a"
        notes = "; ".join(group.problems) or ""
        rows.append((mean, f"| {group.label} | {final} | {best} | {group.seeds} | {notes} |"))
    return sorted(rows, key=lambda row: row[0])


def summarise(groups: dict[str, Group], keys: list[str], title: str, path: Path) -> str:
    lines = [
        f"# {title}",
        "",
        "Final val loss (eq. 20, per image) after the last epoch: mean ± standard deviation over seeds;",
        "best epoch: the epoch (from 1) with the lowest mean val loss. Sorted best first.",
        "",
        f"| {', '.join(keys) or 'value'} | final val loss | best epoch | seeds | problems |",
        "|---|---|---|---|---|",
        *(row for _, row in summary_rows(groups)),
        "",
    ]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def plot_sweep(sweep_dir: Path, title: str | None = None) -> tuple[Path, Path]:
    """Write figure.png and summary.md into the sweep folder; returns their paths."""
    keys, groups = collect(sweep_dir)
    title = title or f"{sweep_dir.name}: {', '.join(keys) or 'one setting'}"
    figure, summary = sweep_dir / "figure.png", sweep_dir / "summary.md"
    draw(groups, keys, title, figure)
    summarise(groups, keys, title, summary)
    return figure, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a folder made by `python train.py -m ...`")
    parser.add_argument("--title", help="the figure's title (default: the folder and the swept keys)")
    args = parser.parse_args()
    if not args.sweep_dir.is_dir():
        raise SystemExit(f"error: {args.sweep_dir} is not a folder; pass the folder of a sweep")
    figure, summary = plot_sweep(args.sweep_dir, args.title)
    print(f"wrote {figure} and {summary}")
    print(summary.read_text())


if __name__ == "__main__":
    main()
