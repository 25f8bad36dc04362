"""Peak resident memory of `python train.py` against a plain PyTorch loop and `import torch` alone.

    python benchmarks/peak_memory.py --data-root ../shared/data

Runs, one after the other, `python -c "import torch"`, benchmarks/plain_loop.py (the same VAE, loss
and optimizer, its data in memory) and `python train.py` for --epochs epochs, and reads each
process's maximum resident set size from the kernel when it ends (as `/usr/bin/time -v` does).
Extra arguments are train.py overrides, to measure a variant (`model=ae`, `model=linear_ae`).
Prints the three peaks in GB and, last, `ratio_project_vs_plain=X ratio_project_vs_import_torch=Y`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from arguments import at_least

BENCHMARKS = Path(__file__).resolve().parent
PROJECT = BENCHMARKS.parent


def peak_gigabytes(command: list[str]) -> float:
    """The maximum resident set size of `command`'s process (and the children it waited for), in GB."""
    # A file, not a pipe: nothing reads a pipe while the process runs, and a full one would stall it.
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=stderr)
        # Popen.wait would reap the process without its resource usage: wait4 returns both.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            stderr.seek(0)
            sys.exit(f"{' '.join(command)} exited with {process.returncode}: {stderr.read()[-2000:]}")
    return usage.ru_maxrss * 1024 / 1e9  # Linux counts ru_maxrss in KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--epochs", type=at_least(1), default=1)
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides, to measure a variant")
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    import_torch = peak_gigabytes([sys.executable, "-c", "import torch"])
    plain = peak_gigabytes([sys.executable, str(BENCHMARKS / "plain_loop.py"), f"--data-root={data_root}",
                            f"--epochs={args.epochs}", "--lr=0.01", "--validate"])
    with tempfile.TemporaryDirectory() as run_dir:
        project = peak_gigabytes([sys.executable, str(PROJECT / "train.py"), f"data.root={data_root}",
                                  "data.download=false", f"trainer.max_epochs={args.epochs}",
                                  "++trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}/run",
                                  *args.overrides])
    print(f"import torch alone: {import_torch:.2f} GB")
    print(f"plain loop, epochs {args.epochs}: {plain:.2f} GB")
    print(f"{' '.join(['python train.py', *args.overrides])}, epochs {args.epochs}: {project:.2f} GB")
    print(f"ratio_project_vs_plain={project / plain:.2f} ratio_project_vs_import_torch={project / import_torch:.2f}")


if __name__ == "__main__":
    main()
