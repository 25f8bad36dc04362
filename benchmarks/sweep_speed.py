"""What users wait for: a sweep's wall time against the same jobs run as plain PyTorch loops.

    python benchmarks/sweep_speed.py --data-root ../shared/data

Runs the same N jobs (default 4 jobs of 3 epochs, seeds 0..N-1, the paper's setting) two ways,
alternating them --repeats times (project, plain, plain, project, ...) so that the machine's drift
falls on both alike:
  project: `python train.py -m hydra/launcher=parallel seed=0,...` (two jobs at a time, one thread each);
  plain:   benchmarks/plain_loop.py with the same model, loss, SGD with momentum, clipping by value and
           validation after every epoch, N processes two at a time, one thread each.
Prints both wall times, each side's per-epoch seconds and fixed cost per job (a job's share of the
wall time, at two jobs at a time, less its epochs), the project's fixed cost broken down by phase
(each job's from its timeline.json, benchmarks/sweep_timeline.py; the sweep's own start and end
from the command's), and `ratio_sweep_vs_plain=X` last: the median over the repeats of project
wall / plain wall.

--launcher joblib runs the project side under Hydra's joblib launcher instead (pip install -e
".[joblib]"; its loky workers import torch and Lightning afresh; one thread a job), --launcher basic under Hydra's
basic launcher, one job at a time with two threads: what the parallel launcher is measured against.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arguments import at_least

BENCHMARKS = Path(__file__).resolve().parent
PROJECT = BENCHMARKS.parent
PARALLEL = 2
# The paper's reproduction (docs/reproduction.md): 18 + 18 + 21 jobs of 20 epochs, two at a time.
PAPER_JOBS, PAPER_EPOCHS = 57, 20
LAUNCHERS = {
    "parallel": ["hydra/launcher=parallel"],
    # One thread a job, as the parallel launcher and the plain loops have: two jobs of two threads on two
    # cores would measure the oversubscription, not the launcher.
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "torch_threads=1"],
    "basic": ["hydra/launcher=basic", "torch_threads=2"],
}
PHASES = [  # (label, from, to) in each job's timeline.json; "done" is when status.json was written
    # From the fork of the job's process (under the parallel launcher, the job's own: Hydra's config
    # of the job and its folder are made in it; under the others, forked from the sweep's process or a
    # worker, once they have).
    ("job's process: from its fork to the module and Trainer built", "process_started", "built"),
    ("data", "built", "setup_fit"),
    ("Lightning's start of fit", "setup_fit", "train_start"),
    ("final validation and test", "train_end", "test_end"),
    ("writing results and status", "test_end", "done"),
]


def run_project(jobs: int, epochs: int, data_root: str, sweep_dir: Path, launcher: list[str]) -> tuple[float, float]:
    """(start, end) of the sweep command, in seconds since the epoch."""
    timeline = "{_target_:sweep_timeline.Timeline,run_dir:'${hydra:runtime.output_dir}'}"
    command = [sys.executable, str(PROJECT / "train.py"), "-m", *launcher,
               f"seed={','.join(map(str, range(jobs)))}", f"trainer.max_epochs={epochs}", f"data.root={data_root}",
               "++trainer.enable_progress_bar=false", f"hydra.sweep.dir={sweep_dir}", f"+callbacks.timeline={timeline}"]
    environment = dict(os.environ, PYTHONPATH=str(BENCHMARKS), VAE_LIGHTNING_ALLOWED_TARGETS="sweep_timeline.Timeline")
    started = time.time()
    subprocess.run(command, cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=environment)
    return started, time.time()


def run_plain(jobs: int, epochs: int, data_root: str) -> tuple[float, list[list[float]]]:
    """(wall seconds, each job's epoch seconds) of N plain loops, PARALLEL at a time."""
    command = [sys.executable, str(BENCHMARKS / "plain_loop.py"), f"--data-root={data_root}", f"--epochs={epochs}",
               "--lr=0.01", "--threads=1", "--validate"]
    pending, running, epochs_of_jobs = list(range(jobs)), [], []
    started = time.perf_counter()
    while pending or running:
        while pending and len(running) < PARALLEL:
            seed = pending.pop(0)
            running.append(subprocess.Popen([*command, f"--seed={seed}"], stdout=subprocess.PIPE, text=True))
        process = running.pop(0)
        out, _ = process.communicate()
        epochs_of_jobs.append(json.loads(out.strip().splitlines()[-1])["epoch_seconds"])
    return time.perf_counter() - started, epochs_of_jobs


def job_timelines(sweep_dir: Path) -> list[dict[str, float]]:
    timelines = []
    for path in sorted(sweep_dir.glob("*/timeline.json")):
        timeline = json.loads(path.read_text())
        timeline["done"] = (path.parent / "status.json").stat().st_mtime
        timelines.append(timeline)
    return timelines


def fixed_per_job(wall: float, jobs: int, epoch_seconds: list[list[float]], at_a_time: int = PARALLEL) -> float:
    """A job's share of the wall time at `at_a_time` jobs at a time, less the median time of its epochs."""
    return wall * at_a_time / jobs - statistics.median(sum(seconds) for seconds in epoch_seconds)


def estimate(jobs: int, epochs: int, fixed: float, epoch_seconds: float, at_a_time: int = PARALLEL) -> float:
    """Wall seconds of `jobs` jobs of `epochs` epochs, `at_a_time` at once, from a job's fixed cost
    and an epoch's seconds (fixed_per_job, turned around)."""
    return jobs / at_a_time * (fixed + epochs * epoch_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--jobs", type=at_least(1), default=4)
    parser.add_argument("--epochs", type=at_least(1), default=3)
    parser.add_argument("--repeats", type=at_least(1), default=3, help="alternated project/plain pairs")
    parser.add_argument("--launcher", choices=sorted(LAUNCHERS), default="parallel", help="the project side's launcher")
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    ratios, rows, timelines, sweep_starts, sweep_ends = [], [], [], [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            order = ["project", "plain"] if repeat % 2 == 0 else ["plain", "project"]
            for side in order:
                if side == "project":
                    started, ended = run_project(args.jobs, args.epochs, data_root, Path(folder) / "sweep",
                                                 LAUNCHERS[args.launcher])
                    project_wall, project_timelines = ended - started, job_timelines(Path(folder) / "sweep")
                    sweep_starts.append(min(timeline["process_started"] for timeline in project_timelines) - started)
                    sweep_ends.append(ended - max(timeline["done"] for timeline in project_timelines))
                else:
                    plain_wall, plain_epochs = run_plain(args.jobs, args.epochs, data_root)
        timelines += project_timelines
        project_epochs = [timeline["epoch_seconds"] for timeline in project_timelines]
        ratios.append(project_wall / plain_wall)
        rows.append((project_wall, plain_wall, project_epochs, plain_epochs))
        print(f"repeat {repeat + 1}: project {project_wall:.1f} s, plain {plain_wall:.1f} s, "
              f"ratio {project_wall / plain_wall:.2f}", flush=True)
    project_epoch = statistics.median(s for _, _, jobs, _ in rows for seconds in jobs for s in (seconds[1:] or seconds))
    plain_epoch = statistics.median(s for _, _, _, jobs in rows for seconds in jobs for s in (seconds[1:] or seconds))
    at_a_time = 1 if args.launcher == "basic" else PARALLEL
    project_fixed = statistics.median(fixed_per_job(wall, args.jobs, jobs, at_a_time) for wall, _, jobs, _ in rows)
    plain_fixed = statistics.median(fixed_per_job(wall, args.jobs, jobs) for _, wall, _, jobs in rows)
    # With one epoch a job there is no epoch after the warm-up: the medians above keep it.
    warmup = "first epoch dropped" if args.epochs > 1 else "1 epoch: the warm-up included"
    print(f"per epoch (validation included, {warmup}): project {project_epoch:.2f} s, "
          f"plain {plain_epoch:.2f} s, ratio {project_epoch / plain_epoch:.2f}")
    print(f"fixed cost per job: project {project_fixed:.2f} s, plain {plain_fixed:.2f} s")
    print(f"project's fixed cost by phase (launcher: {args.launcher}), median over sweeps or jobs:")
    print(f"  sweep's start, once: imports, command-line check, Hydra's config, until the first job's fork: "
          f"{statistics.median(sweep_starts):.2f} s")
    for label, start, end in PHASES:
        seconds = [timeline[end] - timeline[start] for timeline in timelines if start in timeline and end in timeline]
        print(f"  {label}, each job: {statistics.median(seconds):.2f} s")
    print(f"  sweep's end, once: figure, summary, exit: {statistics.median(sweep_ends):.2f} s")
    plain_paper = estimate(PAPER_JOBS, PAPER_EPOCHS, plain_fixed, plain_epoch)
    project_paper = estimate(PAPER_JOBS, PAPER_EPOCHS, project_fixed, project_epoch, at_a_time)
    print(f"the paper's {PAPER_JOBS} jobs of {PAPER_EPOCHS} epochs, from these costs: plain loops "
          f"{plain_paper / 60:.1f} min, project {project_paper / 60:.1f} min")
    print(f"ratio_sweep_vs_plain={statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
