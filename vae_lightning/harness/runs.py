"""A run folder's life: the lock on it, its status.json, and how a run ends (completed, failed,
interrupted by a signal), with the exit code each gives.

A run folder is held by one process at a time: the lock is an `flock` on `<run>/.lock`, which the
operating system releases when the process ends, however it ends, so no stale lock survives a kill.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import time
from pathlib import Path
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

from omegaconf import OmegaConf

from vae_lightning.files import read_json, write_json
from vae_lightning.errors import ConfigError, NonFiniteLossError, UserInputError

log = logging.getLogger(__name__)

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


def death(exit_code: int | None) -> str:
    """What a job's process that ended without recording its outcome died of."""
    if exit_code is not None and exit_code < 0:
        return f"the job's process was killed by {signal.Signals(-exit_code).name}"
    return f"the job's process exited with code {exit_code} before recording its outcome"


def record_death(run_dir: Path, exit_code: int | None) -> None:
    """Mark a job whose process ended while its status said running (or before it had one) as failed."""
    status = read_status(run_dir)
    if status is None or status["status"] == "running":
        write_status(run_dir, "failed", error=death(exit_code), exit_code=exit_code)
        log.error("%s: %s", run_dir.name, death(exit_code))


class Interrupted(BaseException):
    """The run was stopped by a signal: Ctrl-C (SIGINT), SIGTERM (`kill`, Slurm's `scancel`), or
    Slurm's warning before a time limit (SIGUSR2, the job requeued). A BaseException, as
    KeyboardInterrupt, so that nothing on the way catches it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signal = signal.Signals(signum)
        self.exit_code = 128 + signum  # what a shell reports for a process a signal stopped


def raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


def record_interrupt(run_dir: Path, interrupt: Interrupted) -> None:
    write_status(run_dir, "interrupted", error=f"interrupted by {interrupt.signal.name}",
                 signal=interrupt.signal.name, exit_code=interrupt.exit_code)


def behind(error: BaseException | None, matches: Callable[[BaseException], bool]) -> BaseException | None:
    """The first error in `error`'s chain of causes that `matches` (Lightning and torch wrap errors)."""
    while error is not None:
        if matches(error):
            return error
        error = error.__cause__ or error.__context__
    return None


def full_disk(error: BaseException) -> BaseException | None:
    return behind(error, lambda cause: isinstance(cause, OSError) and cause.errno == errno.ENOSPC)


def failure(error: BaseException) -> tuple[int, str | None]:
    """The exit code of a failed run, and one line for a failure the user can act on (2: bad input,
    3: a NaN or infinite loss, 1: a full disk or a crash, which has no line: its traceback is logged)."""
    if isinstance(error, UserInputError):
        return 2, str(error)
    if isinstance(error, NonFiniteLossError):
        return 3, str(error)
    disk = full_disk(error)
    if isinstance(disk, OSError):
        return 1, f"no space left on device writing {disk.filename or 'a file'}: free some space, then resume=true"
    return 1, None


class RunRecord:
    """`with RunRecord(run_dir) as record:` holds the run folder, records `running` in its status.json
    and, when the block ends, `completed` (after `record.complete(results)`), `interrupted` (SIGINT,
    SIGTERM, or Slurm's SIGUSR2 through submitit's requeue) or `failed`; `record.exit_code` is the
    run's exit code. Lightning would turn Ctrl-C into `sys.exit(1)` and delay SIGTERM to the next
    batch: within the block both raise `Interrupted` at once. Raises ConfigError if another process
    holds the folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.lock = hold(run_dir)
        self.previous = read_status(run_dir)
        self.exit_code = 0
        self.handlers: dict[int, Any] = {}

    def __enter__(self) -> RunRecord:
        write_status(self.run_dir, "running")
        self.handlers = {signum: signal.signal(signum, raise_interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
        requeue = signal.getsignal(signal.SIGUSR2)
        if callable(requeue):  # submitit's: it requeues the Slurm job, then calls sys.exit
            self.handlers[signal.SIGUSR2] = requeue
            signal.signal(signal.SIGUSR2, self.requeue_then_interrupt)
        return self

    def requeue_then_interrupt(self, signum: int, frame: Any) -> None:
        # Requeueing makes Slurm send this job SIGTERM: once requeued, that is no interrupt of its own.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            self.handlers[signal.SIGUSR2](signum, frame)
        except SystemExit:
            raise Interrupted(signum) from None

    def complete(self, results: dict[str, Any]) -> None:
        write_status(self.run_dir, "completed", results=results)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        for signum, handler in self.handlers.items():
            signal.signal(signum, handler)
        if error is None:
            return False
        # A signal inside a checkpoint's write comes back wrapped in torch's writer's error.
        error = behind(error, lambda cause: isinstance(cause, Interrupted)) or error
        if isinstance(error, Interrupted):
            log.error("interrupted by %s; resume=true continues from the last checkpoint", error.signal.name)
            self.exit_code = error.exit_code
            record_interrupt(self.run_dir, error)
            return True
        if not isinstance(error, (Exception, SystemExit)):
            return False
        if not self.run_dir.is_dir():  # nowhere left to record anything
            log.error("%s was deleted while its run trained; nothing of it is left to resume", self.run_dir)
            self.exit_code = 1
            return True
        self.exit_code, message = failure(error)
        if message is None:
            log.error("training failed", exc_info=error)
        else:
            log.error("%s", message)
        # On a full disk the failed write removed its temporary file: the few bytes of status.json fit.
        write_status(self.run_dir, "failed", error=message or repr(error), exit_code=self.exit_code)
        return True
