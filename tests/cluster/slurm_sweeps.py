"""What the Slurm tests share: a sweep's command line on the test cluster, and what it left."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from conftest import Slurm
from helpers import tiny_overrides

# What a local sweep job leaves in its folder, besides its TensorBoard event files.
LOCAL_JOB_FILES = {".hydra", ".lock", "checkpoints", "csv", "hparams.yaml", "results.json", "run.log", "status.json"}


def slurm_sweep(slurm: Slurm, mnist_root: Path, sweep_dir: Path, *arguments: str) -> list[str]:
    return ["-m", "hydra/launcher=slurm", *tiny_overrides(mnist_root), *arguments, f"hydra.sweep.dir={sweep_dir}"]


def job_folders(sweep_dir: Path) -> dict[str, Path]:
    return {job.name: job for job in sweep_dir.iterdir() if job.is_dir() and not job.name.startswith(".")}


def status(job: Path) -> dict:
    return json.loads((job / "status.json").read_text())


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the sweep ended before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.5)


def what_happened(tmp_path: Path, job: Path) -> str:
    """The end of a sweep's output (start_train's stdout.txt) and of its job's log, for a failed assertion."""
    logs = [tmp_path / "stdout.txt", job / "run.log"]
    return "\n".join(f"--- {log}\n{log.read_text()[-2000:]}" for log in logs if log.exists())


def without_logging_errors(text: str) -> str:
    """`text` without Python logging's reports of a write that a signal handler's log line reentered (submitit
    logs in its SIGUSR2 and SIGCONT handlers, which can land in each other's write): no failure of the job."""
    return re.sub(r"--- Logging error ---\n.*?\nMessage: [^\n]*\n(Arguments: [^\n]*\n)?", "", text, flags=re.S)
