"""Ctrl-C while a command starts (torch and Lightning take seconds to import, train.py's check more):
one line and the signal's exit code, not a traceback through whichever import it landed in."""

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
