"""Signals while a command starts (torch and Lightning take seconds to import, train.py's check more):
Ctrl-C in one line, not a traceback through whichever import it landed in, and Slurm's warning held for the run."""

import os
import signal
import sys
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


def hold_slurm_warning() -> None:
    """In a job submitit started (it sets SUBMITIT_FOLDER before it loads the job, which imports this package
    before torch and Lightning), block Slurm's warning before the time limit (SIGUSR2) until
    `release_slurm_warning`. Unhandled while they imported, it killed the job outright; after, submitit's handler
    took it before the run could record it: a requeue without a line in run.log, or past max_num_timeout a failure
    without a status.json."""
    if "SUBMITIT_FOLDER" in os.environ:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})


def release_slurm_warning() -> None:
    """Deliver a warning `hold_slurm_warning` held, to the handler in place now: the run's, which records it."""
    if "SUBMITIT_FOLDER" in os.environ:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
