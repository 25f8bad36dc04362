"""Train the paper's VAE: `python train.py [overrides]`, or `python train.py -m ...` for a sweep."""

import gc
import os
import signal
import sys
from types import FrameType


def stop_before_the_run(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (or SIGTERM, SIGHUP) while torch imports or the command line is checked: nothing has run.
    Said in one line, not as a traceback through whichever import it landed in; and at once, since a
    library that catches the interrupt inside an import fails later with an error of its own."""
    print(f"error: interrupted by {signal.Signals(signum).name} before the run started; nothing ran",
          file=sys.stderr)
    os._exit(128 + signum)


# Until the check has passed; a signal the shell has the process ignore (nohup) stays ignored.
handlers_before_start = {signum: signal.signal(signum, stop_before_the_run)
                         for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
                         if signal.getsignal(signum) is not signal.SIG_IGN}

# Importing torch and Lightning creates some 750,000 objects that live until the process ends, and
# almost no garbage: the collector's passes over them took a quarter of the import, about 1 s here.
gc.disable()
from vae_lightning.harness.run import main  # noqa: E402

# Frozen, they are never walked again: not in full collections, not at exit, not in forked jobs
# (where walking them would copy their memory).
gc.freeze()
gc.enable()

if __name__ == "__main__":
    main(handlers_before_start)
