"""`python -m vae_lightning.analysis.plot SWEEP_DIR`: a sweep's loss curves (figure.png) and table (summary.md),
and its gradient statistics (gradients.png, gradients.md).

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
from vae_lightning.harness.files import atomic_file, write_text
from vae_lightning.harness.runs import job_overrides, read_status
from vae_lightning.paper.gradients import STATISTICS

STAGES = ("train", "val")
# Each curve's column in csv/metrics.csv: the losses by stage, then the gradient statistics.
COLUMNS = {**{stage: f"{stage}/loss" for stage in STAGES}, **{name: name for name in STATISTICS}}
# The epoch under which a gradient statistic's first step (the initialisation) is kept; drawn at 0.
INITIALISATION = -1
SEED = "seed"


@dataclass
class Group:
    """The jobs of one swept value: their per-epoch losses, and the jobs that produced none."""

    label: str
    curves: dict[str, list[dict[int, float]]] = field(default_factory=lambda: {key: [] for key in COLUMNS})
    seeds: int = 0
    problems: list[str] = field(default_factory=list)


def epoch_curves(job: Path) -> dict[str, dict[int, float]]:
    """Per-epoch values of every COLUMNS curve from the job's csv/metrics*.csv (on a resumed run,
    later files win), and each gradient statistic's value at step 0 under INITIALISATION."""
    curves: dict[str, dict[int, float]] = {key: {} for key in COLUMNS}
    files = sorted(job.glob("csv/metrics*.csv"), key=lambda path: (path.name == "metrics.csv", path.name))
    for path in files:
        with open(path, newline="") as file:
            for row in csv.DictReader(file):
                for key, column in COLUMNS.items():
                    if row.get(column):
                        curves[key][int(float(row["epoch"]))] = float(row[column])
                    if key in STATISTICS and row.get(f"{column}_step") and row["step"] == "0":
                        curves[key][INITIALISATION] = float(row[f"{column}_step"])
    return curves


def without_resume(overrides: list[str]) -> list[str]:
    """A job's overrides less `resume=...`, which says how a job was run again, not which job it is."""
    return [override for override in overrides if override.partition("=")[0] != "resume"]


def expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """Every job a grid sweep was asked for, from multirun.yaml: the config's sweep params and the
    command line's overrides, expanded; None when there is no grid (another sweeper chose the jobs)."""
    if not (sweep_dir / "multirun.yaml").exists():
        return None
    # Plain data, never resolved: an override may hold an interpolation, such as
    # `run_dir='${hydra:runtime.output_dir}'`, and a file from disk decides no code.
    hydra = OmegaConf.to_container(OmegaConf.load(sweep_dir / "multirun.yaml"), resolve=False)["hydra"]
    if not sweeps.expands_a_grid(str(hydra["sweeper"]["_target_"])):
        return None
    params, task = hydra["sweeper"].get("params") or {}, hydra["overrides"]["task"]
    arguments = [f"{key}={value}" for key, value in params.items()] + task
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
        curves = epoch_curves(job)
        if curves["val"] and (status or {}).get("status") == "completed":
            group.seeds += 1
        for key, curve in curves.items():
            if curve:
                group.curves[key].append(curve)
    return keys, groups


def mean_and_spread(curves: list[dict[int, float]]) -> tuple[list[int], list[float], list[float]]:
    """Epochs, mean over the seeds that reached each epoch, and their standard deviation (0 for one)."""
    epochs = sorted({epoch for curve in curves for epoch in curve})
    values = [[curve[epoch] for curve in curves if epoch in curve] for epoch in epochs]
    means = [statistics.fmean(v) for v in values]
    spreads = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
    return epochs, means, spreads


def draw_curves(axis, groups: dict[str, Group], key: str, scale: float = 1.0) -> None:
    """Each group's mean curve of `key` over its seeds, with a band of ±1 standard deviation."""
    for group in groups.values():
        if not group.curves[key]:
            continue
        epochs, means, spreads = mean_and_spread(group.curves[key])
        epochs = [epoch + 1 for epoch in epochs]  # epoch 1 is the first one trained
        means, spreads = [scale * m for m in means], [scale * s for s in spreads]
        line = axis.plot(epochs, means, label=group.label, linewidth=1.5)[0]
        low = [m - s for m, s in zip(means, spreads)]
        high = [m + s for m, s in zip(means, spreads)]
        axis.fill_between(epochs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(True, which="both", alpha=0.3)


def log_scale(axis) -> None:
    axis.set_yscale("log")
    for axis_formatter in (axis.yaxis.set_major_formatter, axis.yaxis.set_minor_formatter):
        axis_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def seeds_title(groups: dict[str, Group], title: str) -> str:
    seeds = max((group.seeds for group in groups.values()), default=0)
    return f"{title}: mean over {seeds} seed{'s' * (seeds != 1)}, band = ±1 standard deviation"


def save_figure(figure: Figure, path: Path) -> None:
    """A PNG through the project's atomic writer: a reader never sees half a figure."""
    with atomic_file(path) as file:
        figure.savefig(file, format="png", dpi=110)


def draw(groups: dict[str, Group], keys: list[str], title: str, path: Path) -> None:
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for axis, stage in zip(axes, STAGES):
        draw_curves(axis, groups, stage)
        axis.set_title(f"{stage} loss")
        log_scale(axis)
    axes[0].set_ylabel("loss (eq. 20), per image")
    axes[1].legend(title=", ".join(keys) or None, fontsize="small")
    figure.suptitle(seeds_title(groups, title))
    save_figure(figure, path)


def draw_gradients(groups: dict[str, Group], keys: list[str], title: str, path: Path) -> None:
    """Epoch means of the gradient's norm before and after clipping and of the share the clip
    changed; epoch 0 is the first step's gradient, at initialisation."""
    figure = Figure(figsize=(15, 4.2), layout="constrained")
    axes = figure.subplots(1, 3)
    titles = ["gradient norm before clipping", "gradient norm after clipping",
              "clipped: % of entries (by value) or of steps (by norm)"]
    for axis, name, panel_title in zip(axes, STATISTICS, titles):
        draw_curves(axis, groups, name, scale=100.0 if name.endswith("fraction") else 1.0)
        axis.set_title(panel_title)
    for axis in axes[:2]:
        log_scale(axis)
    axes[0].set_ylabel("global L2 norm (epoch mean; epoch 0: initialisation)")
    axes[2].set_ylabel("% (epoch mean)")
    axes[2].legend(title=", ".join(keys) or None, fontsize="small")
    figure.suptitle(seeds_title(groups, title))
    save_figure(figure, path)


def mean_at(curves: list[dict[int, float]], epoch: int) -> str:
    values = [curve[epoch] for curve in curves if epoch in curve]
    return f"{statistics.fmean(values):.4g}" if values else "n/a"


def write_table(path: Path, heading: str, explanation: list[str], columns: list[str], rows: list[str]) -> str:
    """A markdown page: a heading, lines of explanation, and a table; returns its text."""
    text = "\n".join([f"# {heading}", "", *explanation, "", f"| {' | '.join(columns)} |",
                      "|" + "---|" * len(columns), *rows, ""])
    write_text(path, text)
    return text


def summarise_gradients(groups: dict[str, Group], keys: list[str], title: str, path: Path) -> str:
    """gradients.md: per swept value, the gradient statistics at initialisation and at the last epoch."""
    rows = []
    for group in groups.values():
        norms = group.curves[STATISTICS[0]]
        last = max((epoch for curve in norms for epoch in curve), default=INITIALISATION)
        fractions = [{epoch: 100 * value for epoch, value in curve.items()} for curve in group.curves[STATISTICS[2]]]
        rows.append(f"| {group.label} | {mean_at(norms, INITIALISATION)} | {mean_at(norms, last)} | "
                    f"{mean_at(group.curves[STATISTICS[1]], last)} | {mean_at(fractions, 0)} | {mean_at(fractions, last)} |")
    explanation = [
        "Means over seeds. Norms: global L2 norm of the gradient of eq. 20 before and after clipping;",
        "clipped: % of gradient entries the clip changed (by value) or % of steps it rescaled (by norm).",
        "Initialisation: the first step; last epoch: the mean over its steps.",
    ]
    columns = [", ".join(keys) or "value", "norm at initialisation", "norm, last epoch", "after clipping, last epoch",
               "clipped %, first epoch", "clipped %, last epoch"]
    return write_table(path, f"{title}: gradients", explanation, columns, rows)


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
    explanation = [
        "Final val loss (eq. 20, per image) after the last epoch: mean ± standard deviation over seeds;",
        "best epoch: the epoch (from 1) with the lowest mean val loss. Sorted best first.",
    ]
    columns = [", ".join(keys) or "value", "final val loss", "best epoch", "seeds", "problems"]
    return write_table(path, title, explanation, columns, [row for _, row in summary_rows(groups)])


def plot_sweep(sweep_dir: Path, title: str | None = None) -> tuple[Path, Path]:
    """Write figure.png and summary.md into the sweep folder, and gradients.png and gradients.md
    when its runs logged gradient statistics; returns the paths of the first two."""
    keys, groups = collect(sweep_dir)
    title = title or f"{sweep_dir.name}: {', '.join(keys) or 'one setting'}"
    figure, summary = sweep_dir / "figure.png", sweep_dir / "summary.md"
    draw(groups, keys, title, figure)
    summarise(groups, keys, title, summary)
    if any(group.curves[STATISTICS[0]] for group in groups.values()):
        draw_gradients(groups, keys, title, sweep_dir / "gradients.png")
        summarise_gradients(groups, keys, title, sweep_dir / "gradients.md")
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
    gradients = args.sweep_dir / "gradients.md"
    if gradients.exists():
        print(gradients.read_text())


if __name__ == "__main__":
    main()
