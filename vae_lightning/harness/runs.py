"""What a run folder holds and says: its status.json, whether it is taken, and the lock on it.

A run folder is held by one process at a time: the lock is an `flock` on `<run>/.lock`, which the
operating system releases when the process ends, however it ends, so no stale lock survives a kill.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO, Any

from omegaconf import OmegaConf

from vae_lightning.harness.files import read_json, write_json
from vae_lightning.errors import ConfigError

STATUS_FILE = "status.json"
RESULTS_FILE = "results.json"
LOCK_FILE = ".lock"
HOLD_PATIENCE_SECONDS = 1.0


def write_status(run_dir: Path, status: str, **details: Any) -> None:
    """Record `running`, `completed`, `failed` or `interrupted` (with details) in run_dir/status.json."""
    write_json(run_dir / STATUS_FILE, {"status": status, **details})


def read_status(run_dir: Path) -> dict[str, Any] | None:
    return read_json(run_dir / STATUS_FILE)


def val_loss(run_dir: Path) -> float | None:
    """The val loss of the run's best checkpoint, once it completed."""
    status = read_status(run_dir) or {}
    return status.get("results", {}).get("val", {}).get("loss")


def holds_run(run_dir: Path) -> bool:
    """True once a run has left something to continue from: a checkpoint or its results."""
    return any((run_dir / "checkpoints").glob("*.ckpt")) or (run_dir / RESULTS_FILE).exists()


def lock_holder(run_dir: Path) -> int | None:
    """The pid of the process holding the run folder, or None when it is free."""
    path = run_dir / LOCK_FILE
    if not path.exists():
        return None
    with open(path, "a+") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            return int(file.read().strip() or 0)
        fcntl.flock(file, fcntl.LOCK_UN)
    return None


def hold(run_dir: Path) -> IO[str]:
    """Take the run folder's lock for this process's lifetime; ConfigError if another process has it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    file = open(run_dir / LOCK_FILE, "a+")  # noqa: SIM115 - kept open: closing it would release the lock
    # Another command's check (lock_holder) takes the lock for an instant: only a process that keeps
    # it for a second is another run.
    deadline = time.monotonic() + HOLD_PATIENCE_SECONDS
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            file.seek(0)
            holder = file.read().strip()
            file.close()
            raise ConfigError(f"{run_dir} is in use by process {holder}; wait for it to end, or stop it") from None
    file.truncate(0)
    file.write(str(os.getpid()))
    file.flush()
    return file


def refuse_if_taken(folder: Path, resume: bool, sweep: bool = False) -> None:
    """Refuse, before anything is written, to start over a run that exists or to share a busy folder."""
    runs = [job for job in folder.glob("*/") if (job / ".hydra").is_dir()] if sweep else [folder]
    for run_dir in runs:
        holder = lock_holder(run_dir)
        if holder is not None:
            raise ConfigError(f"{run_dir} is in use by process {holder}; wait for it to end, or stop it")
    if resume:
        return
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    if any(holds_run(run_dir) for run_dir in runs):
        kind = "a sweep" if sweep else "a run"
        raise ConfigError(f"{folder} already holds {kind}; pass resume=true to continue it, or choose another {key}")


def job_overrides(job_dir: Path) -> list[str]:
    """The overrides a sweep job was started with (its .hydra/overrides.yaml), or [] if it has none."""
    try:
        # Unresolved: an override may hold an interpolation, such as `run_dir='${hydra:runtime.output_dir}'`.
        return OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"), resolve=False)
    except OSError:
        return []
