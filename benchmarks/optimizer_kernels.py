"""Does the SGD kernel move results? The project with torch's standard SGD and its fused kernel, against a plain loop.

    python benchmarks/optimizer_kernels.py --data-root ../shared/data --seeds 16 --epochs 3

Runs, for every seed, three variants of the paper's default setting (784-400-20 VAE, SGD lr 0.01
momentum 0.9, clipping by value at 1.0, batch 128, 55,000 training images):
  unfused: `python train.py optim.fused=false`: torch.optim.SGD as it runs on CPU when not told
           otherwise, one parameter at a time (torch picks its foreach kernel by default only on
           CUDA-like devices; benchmarks/sgd_kernel_steps.py compares the three kernels step by step);
  fused:   `python train.py optim.fused=true` (one fused kernel for the whole update);
  plain:   benchmarks/plain_loop.py (torch.optim.SGD with its defaults, its own model and loss);
  default: `python train.py` as conf/optim/sgd.yaml sets it (run only when --variants names it).
The variants of a seed run next to each other, in an order rotated from seed to seed, so that the
machine's drift falls on all alike; --parallel 2 runs two at a time (then use --threads 1).
Prints the test loss (eq. 20; the project's from results.json) of every run, each variant's mean
and standard deviation, the paired differences by seed (paired t-test and Wilcoxon signed-rank),
Welch's t-test of each project variant against the plain loop, Levene's test of equal spread, and
each variant's median seconds per epoch (validation included, first epoch dropped) with the ratio
fused / unfused. --json FILE keeps every run (written after each one; --resume skips the runs it holds).
--project DIR runs train.py from another copy of the project (e.g. `git archive HEAD | tar -x -C DIR`,
when the working tree is being edited during the measurement). --report prints the tables of the
runs --json holds (of --epochs epochs) without running anything.
A run that fails is retried once; its stderr is in its folder under --keep DIR (default: a
temporary folder, removed at the end).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scipy import stats

from arguments import at_least

BENCHMARKS = Path(__file__).resolve().parent
PROJECT = BENCHMARKS.parent
VARIANTS = ("unfused", "fused", "plain")
ALL_VARIANTS = (*VARIANTS, "default")
TIMELINE = "{_target_:sweep_timeline.Timeline,run_dir:'${hydra:runtime.output_dir}'}"


def project_command(variant: str, seed: int, epochs: int, threads: int, data_root: str, run_dir: Path,
                    project: Path) -> list[str]:
    kernel = [] if variant == "default" else [f"optim.fused={str(variant == 'fused').lower()}"]
    return [sys.executable, str(project / "train.py"), *kernel, f"seed={seed}", f"trainer.max_epochs={epochs}",
            f"torch_threads={threads}", f"data.root={data_root}", "data.download=false",
            "++trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}", f"+callbacks.timeline={TIMELINE}"]


def plain_command(seed: int, epochs: int, threads: int, data_root: str) -> list[str]:
    return [sys.executable, str(BENCHMARKS / "plain_loop.py"), f"--data-root={data_root}", f"--epochs={epochs}",
            "--lr=0.01", "--momentum=0.9", "--clip-value=1.0", "--batch-size=128", f"--seed={seed}",
            f"--threads={threads}", "--validate"]


def start(variant: str, seed: int, args: argparse.Namespace, folder: Path,
          attempt: int) -> tuple[subprocess.Popen, Path]:
    run_dir = folder / f"{variant}-seed{seed}-epochs{args.epochs}-{attempt}"
    run_dir.mkdir(parents=True)
    if variant == "plain":
        command, environment = plain_command(seed, args.epochs, args.threads, args.data_root), None
    else:
        command = project_command(variant, seed, args.epochs, args.threads, args.data_root, run_dir, args.project)
        environment = dict(os.environ, PYTHONPATH=str(BENCHMARKS),
                           VAE_LIGHTNING_ALLOWED_TARGETS="sweep_timeline.Timeline")
    with open(run_dir / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(command, cwd=args.project, env=environment, stdout=subprocess.PIPE,
                                   stderr=stderr, text=True)
    return process, run_dir


def finish(variant: str, process: subprocess.Popen, run_dir: Path) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"{variant} in {run_dir} exited with {process.returncode}: "
                           f"{(run_dir / 'stderr.txt').read_text().strip().splitlines()[-1:]}")
    if variant == "plain":
        result = json.loads(out.strip().splitlines()[-1])
        return {"test_loss": result["test_loss"], "epoch_seconds": result["epoch_seconds"], "best_is_last": True}
    results = json.loads((run_dir / "results.json").read_text())
    timeline = json.loads((run_dir / "timeline.json").read_text())
    with open(run_dir / "csv" / "metrics.csv") as file:
        val = [float(row["val/loss"]) for row in csv.DictReader(file) if row.get("val/loss")]
    # results.json scores the best checkpoint (lowest val/loss); the plain loop scores the last weights.
    return {"test_loss": results["test"]["loss"], "epoch_seconds": [round(s, 3) for s in timeline["epoch_seconds"]],
            "best_is_last": bool(val) and val[-1] == min(val)}


def describe(values: list[float]) -> str:
    if len(values) < 2:
        return f"{statistics.mean(values):.3f} (n={len(values)}, no sd)"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} (n={len(values)})"


def report(runs: list[dict], epochs: int) -> None:
    runs = [r for r in runs if r["epochs"] == epochs]
    variants = [v for v in ALL_VARIANTS if any(r["variant"] == v for r in runs)]
    losses = {v: {r["seed"]: r["test_loss"] for r in runs if r["variant"] == v} for v in variants}
    if not losses:
        return
    seeds = sorted(set.intersection(*(set(losses[v]) for v in variants)))
    print(f"\n== {epochs} epochs: test loss per image, mean ± sd over seeds")
    print("seed    " + "".join(f"{v:>10}" for v in variants))
    for seed in sorted(set().union(*losses.values())):
        print(f"{seed:<8}" + "".join(f"{losses[v][seed]:>10.3f}" if seed in losses[v] else " " * 10 for v in variants))
    for v in variants:
        print(f"{v:>8}: {describe(list(losses[v].values()))}")
    best_not_last = {(r["variant"], r["seed"]) for r in runs if not r["best_is_last"]}
    not_last = [f"{variant} seed {seed}" for variant, seed in sorted(best_not_last)]
    if not_last:
        print(f"best checkpoint not the last epoch (results.json's test loss is an earlier epoch's): "
              f"{', '.join(not_last)}")
    pairs = list(itertools.combinations(variants, 2)) if len(seeds) >= 2 else []
    if pairs:
        print(f"paired by seed ({len(seeds)} seeds with every variant):")
    else:
        print(f"paired by seed: none ({len(seeds)} seed with every variant; the tests need 2)")
    for a, b in pairs:
        x, y = [losses[a][s] for s in seeds], [losses[b][s] for s in seeds]
        d = [p - q for p, q in zip(x, y)]
        same = sum(abs(v) < 1e-3 for v in d)  # the test loss itself is summed differently by the plain loop
        t = stats.ttest_rel(x, y).pvalue if any(d) else float("nan")
        w = stats.wilcoxon(x, y).pvalue if sum(1 for v in d if v) >= 2 else float("nan")
        print(f"  {a} - {b}: mean {statistics.mean(d):+.3f}, sd {statistics.stdev(d):.3f}, equal within 0.001 in "
              f"{same}; paired t p={t:.3g}, Wilcoxon p={w:.3g}")
        if "plain" in (a, b):
            # The plain loop scores its last weights; the project its best checkpoint by val loss.
            project = a if b == "plain" else b
            last = [s for s in seeds if (project, s) not in best_not_last]
            if len(last) < len(seeds):
                print(f"    seeds whose {project} run ended on its best epoch: {len(last)}, equal within 0.001 in "
                      f"{sum(abs(losses[a][s] - losses[b][s]) < 1e-3 for s in last)}")
    for v in variants:
        if v != "plain" and len(losses[v]) > 1 and len(losses.get("plain", {})) > 1:
            x, y = list(losses[v].values()), list(losses["plain"].values())
            welch = stats.ttest_ind(x, y, equal_var=False).pvalue
            levene = stats.levene(x, y).pvalue
            print(f"  {v} vs plain (all seeds): mean {statistics.mean(x) / statistics.mean(y) - 1:+.2%}, "
                  f"Welch p={welch:.3g}, Levene (equal spread) p={levene:.3g}")
    seconds = {v: [s for r in runs if r["variant"] == v for s in (r["epoch_seconds"][1:] or r["epoch_seconds"])]
               for v in variants}
    warmup = "first epoch dropped" if epochs > 1 else "1 epoch: the warm-up included"
    print(f"seconds per epoch (median, validation included, {warmup}): "
          + ", ".join(f"{v} {statistics.median(s):.2f}" for v, s in seconds.items() if s))
    if seconds.get("unfused") and seconds.get("fused"):
        ratio = statistics.median(seconds["fused"]) / statistics.median(seconds["unfused"])
        print(f"ratio_fused_vs_unfused={ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--seeds", type=at_least(1), default=16, help="seeds 0..N-1")
    parser.add_argument("--first-seed", type=at_least(0), default=0)
    parser.add_argument("--epochs", type=at_least(1), default=3)
    parser.add_argument("--threads", type=at_least(1), default=2, help="torch threads of every run")
    parser.add_argument("--parallel", type=at_least(1), default=1, help="runs at a time")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", help="write every run here (after each one)")
    parser.add_argument("--resume", action="store_true", help="keep the runs --json already holds, run the rest")
    parser.add_argument("--project", type=Path, default=PROJECT, help="the copy of the project whose train.py runs")
    parser.add_argument("--keep", type=Path, help="keep every run's folder here (a new folder)")
    parser.add_argument("--report", action="store_true", help="only print the tables of the runs --json holds")
    args = parser.parse_args()
    if (args.report or args.resume) and not args.json:
        parser.error("--report and --resume read the runs of --json FILE: give it")
    if args.report:
        runs = json.loads(Path(args.json).read_text())["runs"]
        if not any(run["epochs"] == args.epochs for run in runs):
            held = sorted({run["epochs"] for run in runs})
            sys.exit(f"{args.json} holds no runs of {args.epochs} epochs (--epochs); it holds runs of {held}")
        report(runs, args.epochs)
        return
    args.data_root = str(Path(args.data_root).resolve())
    args.project = args.project.resolve()
    variants = [v for v in args.variants.split(",") if v]
    resume = args.resume and args.json and Path(args.json).exists()
    runs = json.loads(Path(args.json).read_text())["runs"] if resume else []
    done = {(r["variant"], r["seed"], r["epochs"]) for r in runs}
    queue = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        shift = seed % len(variants)  # rotate the order from seed to seed
        queue += [(v, seed, 1) for v in variants[shift:] + variants[:shift] if (v, seed, args.epochs) not in done]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="optimizer_kernels-") as temporary:
        folder = args.keep or Path(temporary)
        running = []
        while queue or running:
            while queue and len(running) < args.parallel:
                variant, seed, attempt = queue.pop(0)
                running.append((variant, seed, attempt, *start(variant, seed, args, folder, attempt)))
            variant, seed, attempt, process, run_dir = running.pop(0)
            try:
                result = {"variant": variant, "seed": seed, "epochs": args.epochs, "threads": args.threads,
                          "parallel": args.parallel, **finish(variant, process, run_dir)}
            except (RuntimeError, OSError, ValueError, KeyError) as error:
                print(f"{variant} seed {seed} failed (attempt {attempt}): {error}", flush=True)
                if attempt < 2:
                    queue.insert(0, (variant, seed, attempt + 1))
                continue
            runs.append(result)
            print(f"[{time.perf_counter() - started:6.0f} s] {variant:>8} seed {seed:>2}: test loss "
                  f"{result['test_loss']:.4f}, epochs {result['epoch_seconds']} s", flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps({"runs": runs}, indent=1))
    report(runs, args.epochs)


if __name__ == "__main__":
    main()
