"""A process that has imported train.py's modules and forks `python train.py ARGUMENTS` for the tests:
importing torch and Lightning takes some 9 s a process on 2 cores, a third of the suite's time.

Run as `python tests/forkserver.py`: it reads one request per line on stdin (JSON: arguments, cwd,
stdout and stderr paths), forks, and writes one line per event on stdout (JSON: the child's pid
once forked; its pid and exit code once it ends, negative for a signal, as subprocess reports it).
The child runs train.py itself, as `python train.py` would, with its stdin from /dev/null; whatever
the import wrote on stderr (a library's warning) it writes first."""

from __future__ import annotations

import gc
import json
import os
import runpy
import select
import signal
import sys
import tempfile
from pathlib import Path

TRAIN_PY = Path(__file__).resolve().parent.parent / "train.py"


def import_train_modules() -> str:
    """Import what train.py imports, as it does; returns what the import wrote on stderr."""
    with tempfile.TemporaryFile("w+") as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            gc.disable()
            import vae_lightning.harness.run  # noqa: F401
            gc.freeze()
            gc.enable()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        return captured.read()


def run_child(request: dict, import_output: str) -> None:
    """In the forked child: become `python train.py ARGUMENTS` in the request's folder; never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                           (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, mode, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stderr.write(import_output)
    sys.argv = [str(TRAIN_PY), *request["arguments"]]
    sys.path[0] = str(TRAIN_PY.parent)
    runpy.run_path(str(TRAIN_PY), run_name="__main__")
    sys.exit(0)


def reply(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def serve() -> None:
    import_output = import_train_modules()
    # Woken by a child's end as by a request: the handler's byte on a pipe ends the wait in select.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    requests = sys.stdin.buffer
    while True:
        ready, _, _ = select.select([requests, wake_read], [], [])
        if wake_read in ready:
            os.read(wake_read, 512)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reply({"pid": pid, "exit_code": os.waitstatus_to_exitcode(status)})
        if requests in ready:
            line = requests.readline()
            if not line:  # the tests ended
                return
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                os.close(wake_read)
                os.close(wake_write)
                signal.set_wakeup_fd(-1)
                run_child(request, import_output)
            reply({"pid": pid})


if __name__ == "__main__":
    serve()
