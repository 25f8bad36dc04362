"""What an optional feature costs an epoch (or a speed trick saves it), measured with and without.

    python benchmarks/epoch_costs.py --data-root ../shared/data

The gradient statistics (callbacks.gradients) must cost less than 3%; a trick that reaches into
Lightning's internals stays only if it saves more than 2% (the two that were here, NullProfiler and
VAEModule.__setattr__, saved 0.9% and 1.1% and were removed: docs/speed.md). For each, `python train.py`
runs with it and without it, alternating (with, without, with, ...) for --repeats pairs; each run
is timed as in benchmarks/epoch_speed.py (a plain-loop floor step interleaved with every project
step in the same process, the first epoch dropped), so each run gives a project/floor ratio that
the machine's drift largely cancels. Printed: the median ratio with and without, and the
difference in per cent of an epoch (positive: what having it costs); the last line gives them all.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from arguments import at_least
from paired_floor import epochs_after_warmup, run_train_with

# Without the project's checkpoint callback Lightning adds its own, unless told not to.
NO_CHECKPOINTS = ["~callbacks.checkpoint", "~callbacks.random_state", "++trainer.enable_checkpointing=false"]
# Everything a run can do without: the progress bar, image grids, gradient statistics, checkpoints
# (with the random state they hold), both loggers.
EVERY_OPTION = ["++trainer.enable_progress_bar=false", "~callbacks.images", "~callbacks.gradients", *NO_CHECKPOINTS,
                "~logger.tensorboard", "~logger.csv"]
# name: (the paired callback, overrides) of a run without it; with it is the default run.
MEASURED = {
    "gradient statistics, every 10th step": ("paired_floor.PairedFloor", ["~callbacks.gradients"]),
    "gradient statistics, every step": ("paired_floor.PairedFloor", ["~callbacks.gradients"]),
    "image grids": ("paired_floor.PairedFloor", ["~callbacks.images"]),
    "checkpoints": ("paired_floor.PairedFloor", NO_CHECKPOINTS),
    # With no TensorBoard logger the image grids draw nothing: this is every kind of logging.
    "loggers and image grids": ("paired_floor.PairedFloor", ["~logger.tensorboard", "~logger.csv"]),
    "every optional feature": ("paired_floor.PairedFloor", EVERY_OPTION),
}
# What each "with" run adds to the default run (the default measures every 10th step).
WITH = {"gradient statistics, every step": ["callbacks.gradients.every_n_steps=1"]}
DEFAULT = ("paired_floor.PairedFloor", [])


def ratio(callback: str, overrides: list[str], data_root: str, epochs: int, threads: int) -> float:
    """The median per-epoch project/floor ratio of one run, the first epoch dropped."""
    seconds = run_train_with(callback, data_root, epochs, threads, overrides)
    return statistics.median(p / f for p, f in zip(seconds["project"][1:], seconds["floor"][1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--epochs", type=epochs_after_warmup, default=4, help="epochs per run; the first is a warm-up")
    parser.add_argument("--repeats", type=at_least(1), default=3, help="alternated with/without pairs for each")
    parser.add_argument("--only", choices=sorted(MEASURED), action="append", help="measure just this one (repeatable)")
    parser.add_argument("--threads", type=at_least(1), default=1)
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    costs = {}
    for name, (callback, overrides) in MEASURED.items():
        if args.only and name not in args.only:
            continue
        with_it, without_it = [], []
        for _ in range(args.repeats):
            with_it.append(ratio(DEFAULT[0], WITH.get(name, []), data_root, args.epochs, args.threads))
            without_it.append(ratio(callback, overrides, data_root, args.epochs, args.threads))
        with_median, without_median = statistics.median(with_it), statistics.median(without_it)
        costs[name] = 100 * (with_median - without_median) / without_median
        print(f"{name}: project/floor with {with_median:.3f} ({' '.join(f'{r:.3f}' for r in with_it)}), "
              f"without {without_median:.3f} ({' '.join(f'{r:.3f}' for r in without_it)}): "
              f"having it costs {costs[name]:+.1f}% of an epoch", flush=True)
    print(" ".join(f"cost_{name.replace('.', '_').replace(' ', '_').replace(',', '')}={value:+.1f}%"
                   for name, value in costs.items()))


if __name__ == "__main__":
    main()
