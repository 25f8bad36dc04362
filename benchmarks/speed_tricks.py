"""What each speed trick that reaches into Lightning's internals is worth, with and without it.

    python benchmarks/speed_tricks.py --data-root ../shared/data

A trick stays only if it saves more than 2% of an epoch. For each trick, `python train.py` runs
with it and without it, alternating (with, without, with, ...) for --repeats pairs; each run is
timed as in benchmarks/epoch_speed.py (a plain-loop floor step interleaved with every project step
in the same process, the first epoch dropped), so each run gives a project/floor ratio that the
machine's drift largely cancels. Printed: the median ratio with and without, and the saving in
per cent of an epoch; the last line gives every trick's saving.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from paired_floor import run_train_with

# name: (the paired callback, overrides) of a run without the trick; with it is the default run.
TRICKS = {
    "NullProfiler": ("paired_floor.PairedFloor", ["trainer.profiler=null"]),
    "VAEModule.__setattr__": ("paired_floor.PairedFloorWithoutSetattrShortcut", []),
}
DEFAULT = ("paired_floor.PairedFloor", [])


def ratio(callback: str, overrides: list[str], data_root: str, epochs: int, threads: int) -> float:
    """The median per-epoch project/floor ratio of one run, the first epoch dropped."""
    seconds = run_train_with(callback, data_root, epochs, threads, overrides)
    return statistics.median(p / f for p, f in zip(seconds["project"][1:], seconds["floor"][1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is a warm-up")
    parser.add_argument("--repeats", type=int, default=3, help="alternated with/without pairs per trick")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    savings = {}
    for name, (callback, overrides) in TRICKS.items():
        with_trick, without_trick = [], []
        for _ in range(args.repeats):
            with_trick.append(ratio(*DEFAULT, data_root, args.epochs, args.threads))
            without_trick.append(ratio(callback, overrides, data_root, args.epochs, args.threads))
        with_median, without_median = statistics.median(with_trick), statistics.median(without_trick)
        savings[name] = 100 * (without_median - with_median) / without_median
        print(f"{name}: project/floor with {with_median:.3f} ({' '.join(f'{r:.3f}' for r in with_trick)}), "
              f"without {without_median:.3f} ({' '.join(f'{r:.3f}' for r in without_trick)}): "
              f"saves {savings[name]:.1f}% of an epoch")
    print(" ".join(f"saving_{name.replace('.', '_')}={value:.1f}%" for name, value in savings.items()))


if __name__ == "__main__":
    main()
