"""What pruning buys a search: `search=sgd` with the default pruner and with none, over the same sampler seeds.

    python benchmarks/pruning.py --data-root ../shared/data --trials 30 --epochs 20 --seeds 0 1

For each sampler seed, runs the search twice under hydra/launcher=parallel, once with the default
pruner (conf/hydra/sweeper/pruner/median.yaml) and once with hydra/sweeper/pruner=none, alternating
which goes first. Prints, side by side: wall time, the epochs trained in all, the trials completed,
pruned and failed, and the best val loss found. The sweeps are kept in --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from arguments import at_least

PROJECT = Path(__file__).resolve().parent.parent
PRUNERS = ("median", "none")


def sweep_folder(out: str, pruner: str, seed: int) -> Path:
    """Where the search of this pruner and sampler seed is kept."""
    return Path(out).resolve() / f"{pruner}_seed{seed}"


def search(pruner: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """Run one search; its wall time, epochs trained, trial counts and best val loss."""
    sweep_dir = sweep_folder(args.out, pruner, seed)
    command = [sys.executable, str(PROJECT / "train.py"), "-m", "search=sgd", "hydra/launcher=parallel",
               f"hydra/sweeper/pruner={pruner}", f"hydra.sweeper.n_trials={args.trials}",
               f"hydra.sweeper.n_jobs={args.n_jobs}", f"hydra.launcher.n_jobs={args.n_jobs}",
               f"hydra.sweeper.sampler.seed={seed}", f"trainer.max_epochs={args.epochs}",
               f"data.root={Path(args.data_root).resolve()}", "data.download=false",
               "++trainer.enable_progress_bar=false", f"hydra.sweep.dir={sweep_dir}"]
    started = time.perf_counter()
    # A search with failed trials exits 1 and still has its results: read them either way.
    done = subprocess.run(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    results_file = sweep_dir / "optimization_results.yaml"
    if not results_file.exists():
        sys.exit(f"the search {sweep_dir} ended with no results (exit {done.returncode}): {done.stderr[-2000:]}")
    results = OmegaConf.load(results_file)
    epochs = sum(json.loads(path.read_text()).get("results", {}).get("epochs", 0)
                 for path in sweep_dir.glob("*/status.json"))
    return {"seconds": seconds, "epochs": epochs, "completed": results.completed, "pruned": results.pruned,
            "failed": results.failed, "best": results.get("best_value", float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--trials", type=at_least(1), default=30)
    parser.add_argument("--epochs", type=at_least(1), default=20)
    parser.add_argument("--seeds", type=at_least(0), nargs="+", default=[0, 1])
    parser.add_argument("--n-jobs", type=at_least(1), default=2, help="trials at a time")
    parser.add_argument("--out", default="outputs/pruning")
    args = parser.parse_args()
    # The project refuses a search into a folder that holds one, and that earlier search's results
    # would be read as this one's.
    taken = [str(folder) for seed in args.seeds for pruner in PRUNERS
             if (folder := sweep_folder(args.out, pruner, seed)).exists()]
    if taken:
        sys.exit(f"--out {args.out} holds earlier searches ({', '.join(taken)}): give another --out, or remove them")
    print(f"{args.trials} trials of {args.epochs} epochs, {args.n_jobs} at a time; sampler seeds {args.seeds}")
    print("| seed | pruner | wall time, s | epochs trained | completed / pruned / failed | best val loss |")
    print("|---|---|---|---|---|---|")
    for index, seed in enumerate(args.seeds):
        order = PRUNERS if index % 2 == 0 else PRUNERS[::-1]  # each goes first as often as the other
        for pruner in order:
            found = search(pruner, seed, args)
            print(f"| {seed} | {pruner} | {found['seconds']:.0f} | {found['epochs']} | {found['completed']} / "
                  f"{found['pruned']} / {found['failed']} | {found['best']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
