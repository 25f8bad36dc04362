"""Mixed precision on this machine: test loss and seconds per epoch of bf16-mixed against 32-true.

    python benchmarks/precision.py --data-root ../shared/data

Runs `python train.py` for each seed at both precisions, alternating which goes first, with the
paper's setting (torch's per-tensor SGD, the default: `optim.fused=true` is refused with clipping
under mixed precision, as the fused kernel unscales after Lightning clips). Prints each run's test
loss and median seconds per epoch (the first epoch dropped), then the mean test losses and the
median time ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from arguments import at_least

PROJECT = Path(__file__).resolve().parent.parent
PRECISIONS = ("32-true", "bf16-mixed")


def run(precision: str, seed: int, epochs: int, data_root: str, threads: int) -> tuple[float, float]:
    """(test loss, median seconds per epoch after the first) of one run, from its csv log's timestamps."""
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        subprocess.run([sys.executable, str(PROJECT / "train.py"), f"data.root={data_root}", f"seed={seed}",
                        f"trainer.max_epochs={epochs}", f"trainer.precision={precision}", f"torch_threads={threads}",
                        "++trainer.enable_progress_bar=false", "+callbacks.timer={_target_:sweep_timeline.Timeline,"
                        f"run_dir:'{run_dir}'}}", f"hydra.run.dir={run_dir}"],
                       cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(PROJECT / "benchmarks"),
                            "VAE_LIGHTNING_ALLOWED_TARGETS": "sweep_timeline.Timeline"})
        results = json.loads((run_dir / "results.json").read_text())
        epoch_seconds = json.loads((run_dir / "timeline.json").read_text())["epoch_seconds"]
    return results["test"]["loss"], statistics.median(epoch_seconds[1:] or epoch_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--seeds", type=at_least(1), default=3)
    parser.add_argument("--epochs", type=at_least(1), default=3)
    parser.add_argument("--threads", type=at_least(1), default=1)
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    found: dict[str, list[tuple[float, float]]] = {precision: [] for precision in PRECISIONS}
    ratios = []
    for seed in range(args.seeds):
        order = PRECISIONS if seed % 2 == 0 else PRECISIONS[::-1]
        for precision in order:
            found[precision].append(run(precision, seed, args.epochs, data_root, args.threads))
            loss, seconds = found[precision][-1]
            print(f"seed {seed} {precision}: test loss {loss:.3f}, {seconds:.2f} s/epoch", flush=True)
        ratios.append(found["bf16-mixed"][-1][1] / found["32-true"][-1][1])
    for precision, runs in found.items():
        print(f"{precision}: mean test loss {statistics.fmean(loss for loss, _ in runs):.3f}")
    print(f"ratio_bf16_vs_32_seconds_per_epoch={statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
