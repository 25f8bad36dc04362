"""Wall time of one sweep with Hydra's basic launcher against the joblib launcher.

    pip install -e ".[joblib]"
    python benchmarks/sweep_throughput.py --data-root ../shared/data

Runs the same 6 jobs of 2 epochs (seeds 0-5) twice: one after another in one process with 2 torch
threads (`hydra/launcher=basic torch_threads=2`), then two at a time with 1 thread each
(`hydra/launcher=parallel`, conf/hydra/launcher/parallel.yaml). Prints both wall times and their ratio.
With --repeats N the two alternate N times (AB, BA, AB, ...), so that the machine's drift in speed
falls on both alike, and the last line gives the median of the N ratios.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SETUPS = {
    "basic launcher, 1 job at a time x 2 threads": ["hydra/launcher=basic", "torch_threads=2"],
    "joblib launcher, 2 jobs at a time x 1 thread": ["hydra/launcher=parallel"],
}


def sweep_seconds(data_root: str, jobs: int, epochs: int, launcher: list[str]) -> tuple[float, set[int]]:
    """Wall seconds of the whole sweep, and the torch thread counts its jobs reported."""
    with tempfile.TemporaryDirectory() as sweep_dir:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(PROJECT / "train.py"), "-m", f"seed=range(0,{jobs})", f"data.root={data_root}",
             f"trainer.max_epochs={epochs}", f"hydra.sweep.dir={sweep_dir}", "++trainer.enable_progress_bar=false",
             *launcher],
            cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        threads = {int(m) for log in Path(sweep_dir).glob("*/train.log")
                   for m in re.findall(r"torch uses (\d+) threads", log.read_text())}
    return seconds, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="alternate the two setups this many times")
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    ratios = []
    for repeat in range(args.repeats):
        results = {}
        order = list(SETUPS.items()) if repeat % 2 == 0 else list(SETUPS.items())[::-1]
        for name, launcher in order:
            seconds, threads = sweep_seconds(data_root, args.jobs, args.epochs, launcher)
            results[name] = seconds
            print(f"{name}: {seconds:.1f} s for {args.jobs} jobs of {args.epochs} epochs "
                  f"(torch threads per job: {sorted(threads)})")
        basic, parallel = (results[name] for name in SETUPS)
        ratios.append(basic / parallel)
    print(f"ratio_basic_vs_joblib={statistics.median(ratios):.2f}"
          + (f" (median of {' '.join(f'{ratio:.2f}' for ratio in ratios)})" if len(ratios) > 1 else ""))


if __name__ == "__main__":
    main()
