"""Signals while a command starts (torch and Lightning take seconds to import, train.py's check more): Ctrl-C in
one line, not a traceback through whichever import it landed in; Ctrl-Z; Slurm's warning, kept for the run."""

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_before_start(signum: int, frame: FrameType | None) -> None:
    """End the process at once: a library that catches the interrupt inside an import (scipy does) fails
    later with an error of its own, exit 1."""
    print(f"error: interrupted by {signal.Signals(signum).name} as the command started; it ran nothing",
          file=sys.stderr)
    os._exit(128 + signum)


@contextmanager
def stopped_in_one_line() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP end the process in one line; a signal the shell has it
    ignore (nohup) stays ignored. The handlers before it are put back as it ends."""
    handlers = {signum: signal.signal(signum, stop_before_start) for signum in STOPPING_SIGNALS
                if signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def paused_by_ctrl_z() -> None:
    """In a process that leads a session of its own (reproduce's sweep: an orphaned process group, in which
    SIGTSTP's own stop is dropped, and the sweep went on to start its jobs), Ctrl-Z (SIGTSTP) stops it with SIGSTOP.
    Elsewhere the kernel's stop stays: a handler waits for Python's next instruction, which a DDP process blocked
    in an exchange with another does not reach."""
    if os.getsid(0) == os.getpid():
        signal.signal(signal.SIGTSTP, lambda signum, frame: os.kill(os.getpid(), signal.SIGSTOP))


# Slurm's warnings (SIGUSR2) that came while a submitit job loaded the project, before submitit's handler.
held_warnings: list[int] = []


def hold_slurm_warning() -> None:
    """In a job submitit started (it sets SUBMITIT_FOLDER, then loads the job, which imports this package before
    torch and Lightning), keep Slurm's warning before the time limit (SIGUSR2) for `release_slurm_warning`, until
    submitit puts its own handler in place. Unhandled while torch and Lightning imported, it killed the job outright."""
    if ("SUBMITIT_FOLDER" in os.environ and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL):
        signal.signal(signal.SIGUSR2, lambda signum, frame: held_warnings.append(signum))


def release_slurm_warning() -> None:
    """Send a warning `hold_slurm_warning` kept again, to the handler in place now: the run's, which records it."""
    if held_warnings:
        held_warnings.clear()
        signal.raise_signal(signal.SIGUSR2)
