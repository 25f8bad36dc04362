"""What logging the gradient statistics (callbacks.gradients) costs an epoch of `python train.py`.

    python benchmarks/gradient_statistics_cost.py --data-root ../shared/data

Runs `python train.py` with and without the callback, alternately (--pairs pairs), each paired
step by step with the plain-loop floor (benchmarks/paired_floor.py) so that the machine's drift
cancels: each run's cost is its median per-epoch project/floor ratio (first epoch dropped), and the
callback's cost is the ratio of the two runs of a pair. Prints each pair and their median.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from paired_floor import run_train_with


def project_vs_floor(data_root: str, epochs: int, threads: int, overrides: list[str]) -> float:
    seconds = run_train_with("paired_floor.PairedFloor", data_root, epochs, threads, overrides)
    return statistics.median(p / f for p, f in zip(seconds["project"][1:], seconds["floor"][1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is a warm-up")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides for both runs, e.g. clip=norm")
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    costs = []
    for pair in range(args.pairs):
        with_statistics = project_vs_floor(data_root, args.epochs, args.threads, args.overrides)
        without = project_vs_floor(data_root, args.epochs, args.threads, [*args.overrides, "~callbacks.gradients"])
        costs.append(with_statistics / without)
        print(f"pair {pair + 1}: project/floor {with_statistics:.3f} with the statistics, {without:.3f} without; "
              f"ratio {costs[-1]:.3f}", flush=True)
    print(f"ratio_with_vs_without_gradient_statistics={statistics.median(costs):.3f}")


if __name__ == "__main__":
    main()
