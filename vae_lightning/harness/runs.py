"""Run folders and their life: claimed and named before Hydra starts, locked, their status.json, how
a run ends (completed, failed, interrupted) and its exit code; a basic launcher's job forked."""

from __future__ import annotations

import ctypes
import fcntl
import gc
import hashlib
import logging
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType, TracebackType
from typing import IO, Any

# hydra.core.utils.configure_log: how a launcher plugin sets up a job's logging as Hydra configures it
# (Hydra's example launcher calls it); Hydra offers no other entry to its hydra.job_logging settings.
from hydra.core.utils import configure_log
from omegaconf import DictConfig, OmegaConf
from torch import distributed as dist

from vae_lightning.files import full_disk, read_json, refuse_links_out, write_json
from vae_lightning.harness.sweeps import GRID_SWEEPER, expands_a_grid
from vae_lightning.errors import ConfigError, NonFiniteLossError, UserInputError, say_error

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
RESULTS_FILE = "results.json"
LOCK_FILE = ".lock"
LOCK_PATIENCE_SECONDS = 1.0
MAX_NAME_LENGTH = 200
# What stops a run as an interrupt, recorded: Ctrl-C, `kill` (and Slurm's scancel), a closed terminal.
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What a sweep passes on to its jobs: the stopping signals, and Ctrl-Z (`signals_forwarded`).
PASSED_ON_SIGNALS = (*STOPPING_SIGNALS, signal.SIGTSTP)
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Set by a run's first process for the DDP processes Lightning's launcher starts from it (they inherit its
# environment): its pid, which they watch. torchrun's and Slurm's processes are its siblings, never told.
FIRST_PROCESS_ENV = "VAE_LIGHTNING_FIRST_PROCESS"
FIRST_PROCESS_POLL_SECONDS = 0.2
# Lightning's observer of the processes its launcher starts looks every 5 s.
LAUNCH_POLL_SECONDS = 0.1
# How long a process beside the first whose run failed (gloo: a peer died) waits to see whether the first is
# gone: the system closes a killed process's sockets an instant before it hands its children to another
# parent. Short: while it waits, its own sockets stay open, and a first that lives on waits for it in gloo.
FIRST_DEATH_GRACE_SECONDS = 2.0


def claim_fresh_dir(path: str | Path) -> Path:
    """Create `path`, or `path-2`, `path-3`... if taken, and return the one created.

    `os.mkdir` fails when the folder exists, so of two commands racing for one name only one wins.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, suffix = path, 1
    while True:
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            suffix += 1
            candidate = path.with_name(f"{path.name}-{suffix}")


def job_dir(override_dirname: str, job_num: int, sweeper: str = GRID_SWEEPER) -> str:
    """A sweep job's sub-folder: the overrides the sweep varies (`clip.value=0.5,seed=1`), safe as a
    file name; `job<N>` when it varies nothing. Under a sweeper that chooses its own values (Optuna),
    which may choose the same ones twice, the job's number comes first, and its sampled numbers are
    named by 4 significant digits (`optim.lr=0.01252`; the job's .hydra/overrides.yaml and the study
    keep every digit). A name longer than MAX_NAME_LENGTH is cut and ends in a hash of the whole, not the
    job's number, which a value added to a resumed sweep shifts: the job keeps its folder."""
    name = override_dirname.replace(os.sep, "_") or f"job{job_num}"
    if not expands_a_grid(sweeper) and override_dirname:
        name = f"{job_num}_" + re.sub(r"\d+\.\d{5,}(e-?\d+)?", lambda number: f"{float(number[0]):.4g}", name)
    if len(name) > MAX_NAME_LENGTH:
        name = f"{name[:MAX_NAME_LENGTH]}...{hashlib.sha256(override_dirname.encode()).hexdigest()[:12]}"
    return name


def run_name(timestamp: str, defining_overrides: list[str]) -> str:
    """A single run's folder: its time, then what its command line changed of what defines a run
    (`2026-12-02_10-00-00_clip.value=0.5`), so that TensorBoard's run list tells runs apart. A key
    given twice is named by its last value, the one Hydra keeps."""
    last = {override.partition("=")[0].lstrip("+~"): override for override in defining_overrides}
    label = ",".join(sorted(last.values())).replace(os.sep, "_")[:MAX_NAME_LENGTH]
    return f"{timestamp}_{label}" if label else timestamp


def config_subdir(resume: bool, run_dir: str) -> str:
    """Where Hydra saves the run's config: a resumed run keeps the original and adds its own beside
    it; a run that starts under resume=true (a sweep's job that never ran) writes the original, as does one
    whose original Hydra never completed: a full disk stopped it, leaving an empty config.yaml, whose
    overrides.yaml, written last, the sweep's report and plots read."""
    if not resume:  # `--cfg hydra --resolve` resolves this before any run has a folder (run_dir None)
        return ".hydra"
    overrides = Path(run_dir) / ".hydra" / "overrides.yaml"
    if overrides.is_file() and overrides.stat().st_size > 0:
        return f".hydra/resumed-{datetime.now():%Y-%m-%d_%H-%M-%S}"
    return ".hydra"


def register_resolvers() -> None:
    """Make `${job_dir:...}` and `${config_subdir:...}` available to the config. Both are pure functions
    of their arguments, creating no folder, so every process of a job (a resumed run, each DDP or
    Slurm task) computes the same folder."""
    OmegaConf.register_new_resolver("job_dir", job_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("config_subdir", config_subdir, use_cache=True, replace=True)


def write_status(run_dir: Path, status: str, **details: Any) -> None:
    """Record `running`, `completed`, `pruned`, `failed` or `interrupted` (with details) in run_dir/status.json."""
    write_json(run_dir / STATUS_FILE, {"status": status, **details})


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """The run's status.json, or None when it is missing, not JSON, or not the object write_status writes."""
    status = read_json(run_dir / STATUS_FILE)
    return status if isinstance(status, dict) and isinstance(status.get("status"), str) else None


def val_loss(run_dir: Path) -> float | None:
    """The val loss of the run's best checkpoint, once it completed."""
    results = (read_status(run_dir) or {}).get("results")
    val = results.get("val") if isinstance(results, dict) else None
    loss = val.get("loss") if isinstance(val, dict) else None
    return float(loss) if isinstance(loss, (int, float)) and not isinstance(loss, bool) else None


def holds_checkpoints(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints").glob("*.ckpt"))


def holds_run(run_dir: Path) -> bool:
    """True once a run has left something to continue from: a checkpoint or its results."""
    return holds_checkpoints(run_dir) or (run_dir / RESULTS_FILE).exists()


def lock_holder(run_dir: Path) -> int | None:
    """The pid of the process holding the run folder, or None when it is free."""
    return pid_holding(run_dir / LOCK_FILE)


def pid_holding(path: Path) -> int | None:
    """The pid written in a lock file whose lock a live process holds (the system releases it when
    the process ends, however it ends), or None."""
    if not path.exists():
        return None
    with open(path) as file:  # flock needs no write access: a read-only folder is read
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return int(file.read().strip() or 0)
        fcntl.flock(file, fcntl.LOCK_UN)
    return None


def lock_run_dir(run_dir: Path) -> IO[str]:
    """Take the run folder's lock (an `flock` on `<run>/.lock`, released by the system when the process
    ends, however it ends) for this process's lifetime; ConfigError if another process has it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    file = open(run_dir / LOCK_FILE, "a+")  # noqa: SIM115 - kept open: closing it would release the lock
    # Another command's check (lock_holder) takes the lock for an instant: only a process that keeps
    # it for a second is another run.
    deadline = time.monotonic() + LOCK_PATIENCE_SECONDS
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                file.seek(0)
                holder = file.read().strip()
                file.close()
                raise ConfigError(f"{run_dir} is in use by process {holder}; wait for it to end, or stop it") from None
            time.sleep(0.05)
    file.truncate(0)
    file.write(str(os.getpid()))
    file.flush()
    return file


def refuse_unfit_folder(folder: Path, sweep: bool) -> None:
    """Refuse a single run into a sweep's folder or beside its jobs, a sweep into a single run's, a folder
    within a run's (resume=true of that run moves aside every metrics.csv under it, plot and evaluate read
    its files), and a folder handed over with a symbolic link out of it (the run would write through it:
    its log, lock, checkpoints, Hydra's saved config) or a Lightning HPC checkpoint (`trainer.fit` would
    load it under Slurm, unasked)."""
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    outer = next((parent for parent in folder.resolve().parents if (parent / ".hydra").is_dir()), None)
    if outer is not None:
        raise ConfigError(f"{outer} holds a run, and {key}={folder} would nest this {'sweep' if sweep else 'run'} in "
                          f"it (resume=true of that run would move its metrics.csv aside); choose a {key} outside it")
    if any(folder.glob("*/*/.hydra/")):  # `outputs`, which holds runs/ and sweeps/
        raise ConfigError(f"{folder} holds folders of runs and sweeps, not a {'sweep' if sweep else 'run'}; give "
                          f"this one a folder of its own, e.g. {key}={folder / ('my-sweep' if sweep else 'my-run')}")
    if sweep and (folder / ".hydra").is_dir():
        raise ConfigError(f"{folder} holds a single run, not a sweep; continue it without -m "
                          f"(hydra.run.dir={folder} resume=true), or choose another {key}")
    if not sweep and ((folder / "multirun.yaml").exists() or any(folder.glob("*/.hydra/"))):
        raise ConfigError(f"{folder} holds a sweep, not a single run; continue it with -m "
                          f"(hydra.sweep.dir={folder} resume=true), or choose another {key}")
    # A job of the sweep (its .hydra/) may be continued alone; a new folder beside its jobs would be read as one.
    if not sweep and (folder.parent / "multirun.yaml").exists() and not (folder / ".hydra").is_dir():
        raise ConfigError(f"{folder.parent} holds a sweep, and {key}={folder} would put this run among its jobs "
                          f"(plot would read it as one); choose a {key} outside the sweep's folder")
    refuse_links_out(folder, "the run", f"choose another {key}")
    planted = next(folder.rglob("hpc_ckpt_*"), None)
    if planted is not None:
        raise ConfigError(f"{planted}: under Slurm, Lightning resumes from such a checkpoint by itself, and this "
                          f"project writes none; delete it, or choose another {key}")


# What a run writes as files and keeps as folders. One of the other kind (a folder named status.json) failed
# the resumed run with a traceback, exit 1; a folder named last.ckpt only once the run had trained an epoch
# and saved there (it was passed over as a checkpoint that does not load).
RUN_FILES = (STATUS_FILE, RESULTS_FILE, "run.log", "hparams.yaml", ".hydra/config.yaml", ".hydra/hydra.yaml",
             ".hydra/overrides.yaml", "checkpoints/*.ckpt")
RUN_FOLDERS = (".hydra", "csv", "checkpoints")


def refuse_misshapen(run_dir: Path) -> None:
    """ConfigError for a path of the run that is a folder where it writes a file, or a file where it keeps a folder."""
    misshapen = [(path, "a folder", "a file") for name in RUN_FILES for path in sorted(run_dir.glob(name))
                 if path.is_dir()]
    misshapen += [(run_dir / name, "a file", "a folder") for name in RUN_FOLDERS
                  if (run_dir / name).exists() and not (run_dir / name).is_dir()]
    if misshapen:
        path, found, kept = misshapen[0]
        raise ConfigError(f"{path} is {found} where the run keeps {kept}: move it out of {run_dir}, or choose another "
                          f"folder")


def refuse_if_taken(folder: Path, resume: bool, sweep: bool = False, advice: str | None = None) -> None:
    """Refuse, before anything is written, to start over a run that exists or to share a busy folder, or
    to run in one whose files are not of the kind the run writes. `advice` replaces train.py's advice for
    a command that chose the folder itself (reproduce's sweeps)."""
    # A job is known by its .hydra/; one made a file would fail Hydra's write of the job's config with a traceback.
    runs = [job for job in folder.glob("*/") if (job / ".hydra").exists()] if sweep else [folder]
    for run_dir in runs:
        holder = lock_holder(run_dir)
        if holder is not None:
            raise ConfigError(f"{run_dir} is in use by process {holder}; wait for it to end, or stop it")
        refuse_misshapen(run_dir)
    if resume:
        return
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    if any(holds_run(run_dir) for run_dir in runs):
        kind = "a sweep" if sweep else "a run"
        advice = advice or f"pass resume=true to continue it, or choose another {key}"
        raise ConfigError(f"{folder} already holds {kind}; {advice}")


def job_overrides(job_dir: Path) -> list[str]:
    """The overrides a sweep job was started with (its .hydra/overrides.yaml), or [] if it has none;
    ConfigError naming the file when it is not the list of lines Hydra writes."""
    path = job_dir / ".hydra" / "overrides.yaml"
    try:
        # Unresolved: an override may hold an interpolation, such as `run_dir='${hydra:runtime.output_dir}'`.
        overrides = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except OSError:
        return []
    except Exception as error:  # whatever YAML or OmegaConf raise, the file is the cause
        overrides = error
    if not isinstance(overrides, list) or not all(isinstance(override, str) for override in overrides):
        raise ConfigError(f"{path} is not the list of overrides Hydra writes ({type(overrides).__name__}); restore "
                          f"it, or move the job's folder out of the sweep")
    return overrides


def cause_of_death(exit_code: int | None) -> str:
    """What a job's process that ended without recording its outcome died of."""
    if exit_code is not None and exit_code < 0:
        return f"the job's process was killed by {signal.Signals(-exit_code).name}"
    return f"the job's process exited with code {exit_code} before recording its outcome"


class UnrecordedFailure(Exception):
    """A sweep's job that failed before its folder could hold its outcome; the message is its one line."""


# The jobs of this process's sweeps that failed before their folder could hold their outcome: a disk too full
# for Hydra's own record of the job (.hydra/config.yaml), written before any of the project's code runs in the
# job. The launcher notes each here, in the sweep's process; the sweep's report counts and lists them.
unrecorded_failures: dict[Path, tuple[list[str], str]] = {}


def no_room_to_start(error: OSError, cfg: DictConfig | None, sweep: bool) -> UnrecordedFailure | None:
    """The one line of a command that met a full disk as Hydra set up its run, or its `sweep` or a job of it
    (`cfg`: Hydra's current config, whose folders are the command's), or None for another error."""
    if cfg is None:
        return None
    if sweep:
        sweep_dir = Path(cfg.hydra.sweep.dir)
        return no_room(error, f"into {sweep_dir}", f"hydra.sweep.dir={sweep_dir}")
    run_dir = Path(cfg.hydra.run.dir)
    return no_room(error, f"the run's config in {run_dir / '.hydra'}", f"hydra.run.dir={run_dir}")


def no_room(error: OSError, where: str, folder_override: str) -> UnrecordedFailure | None:
    """The one line of a command or a job whose start met a full disk (`error`) writing `where`, continued with
    `folder_override`; None for another error. Hydra's write names no file when the disk fills as the file is
    closed: `where` names what it was writing."""
    reason = full_disk(error)
    if reason is None:
        return None
    return UnrecordedFailure(f"{reason} writing {error.filename or where}: free some space, then the same command "
                             f"with {folder_override} resume=true")


def note_unrecorded_failure(run_dir: Path, overrides: list[str], failure: UnrecordedFailure) -> None:
    """Say and keep, for the sweep's report, a job's failure that its folder could not hold."""
    log.error("%s: %s", " ".join(overrides), failure)
    unrecorded_failures[run_dir.absolute()] = (overrides, str(failure))


def record_death(run_dir: Path, exit_code: int | None) -> bool:
    """Mark a job whose process ended while its status said running (or before it had one) as failed;
    True when it did, which the caller says."""
    status = read_status(run_dir)
    if status is None or status["status"] == "running":
        # A job that failed on a full disk said so itself, and left `running` there for resume=true, as
        # must the sweep: raised here, the sweep ended in a traceback, with neither its summary nor its failures.
        with suppress_full_disk():
            write_status(run_dir, "failed", error=cause_of_death(exit_code), exit_code=exit_code)
            return True
    return False


@contextmanager
def first_process_named() -> Iterator[None]:
    """Within the block, the processes Lightning's DDP launcher starts from this one, the run's first, can
    tell it is their parent (FIRST_PROCESS_ENV) and record its death (FirstProcessWatch)."""
    previous = os.environ.get(FIRST_PROCESS_ENV)
    os.environ[FIRST_PROCESS_ENV] = str(os.getpid())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(FIRST_PROCESS_ENV, None)
        else:
            os.environ[FIRST_PROCESS_ENV] = previous


def record_first_death(run_dir: Path, first_pid: int) -> str | None:
    """Record `failed` for a run whose first process died while its status said running; the line said, or
    None when the run's outcome is recorded already or the folder is another command's now (it holds the
    lock: a `resume=true` started meanwhile), whose status is not this process's to write."""
    if not run_dir.is_dir():  # deleted: nothing to record, and lock_run_dir would make it again
        return None
    # Read first without the lock: a first that ended recorded (completed) leaves the folder free for whatever
    # command comes next, which a lock taken now, for nothing, would refuse.
    if (read_status(run_dir) or {}).get("status") != "running":
        return None
    try:
        lock = lock_run_dir(run_dir)
    except ConfigError:
        return None
    with lock:
        if (read_status(run_dir) or {}).get("status") != "running":
            return None
        line = (f"the first process of this DDP run (pid {first_pid}) died without recording its outcome (kill -9, "
                f"out of memory, or a crash); resume=true continues from the last checkpoint")
        write_status(run_dir, "failed", error=line)
        return line


def say_and_log(line: str) -> None:
    """Say `line` on stderr, and write it into this process's log file, from a thread that then ends the
    process with os._exit: the console handler is skipped, which would say it twice."""
    say_error(line)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, line, (), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
            handler.flush()


@contextmanager
def watching_launched_processes(launcher: Any, run_dir: Path) -> Iterator[None]:
    """Within the block (the run's fit), in a DDP run's first process, watch the processes Lightning's launcher
    starts from it (`watch_once_started`) from their start: the first waits for them in gloo's setup, before
    any hook of the run. Lightning says they started only in its launcher's `procs` (no other launcher has
    any), polled."""
    fit_ended = threading.Event()
    starts_them = hasattr(launcher, "procs") and not launcher.cluster_environment.creates_processes_externally
    if starts_them and hasattr(os, "waitid"):
        threading.Thread(target=watch_once_started, args=(launcher, run_dir, fit_ended), daemon=True,
                         name="DDP launch watch").start()
    try:
        yield
    finally:
        fit_ended.set()


def watch_once_started(launcher: Any, run_dir: Path, fit_ended: threading.Event) -> None:
    """Once the launcher has started them all (one after the other, then the run): when a signal kills one
    (`kill -9`, the out-of-memory killer, a crash in native code), record `failed` and end this process at
    once, with one line and exit 1. Lightning's own observer of those processes SIGKILLs this one within 5 s
    of such an end, which left the run `running` and the command without a line (exit -9). One whose run
    ended exits by itself, under gloo with 0 (FirstProcessWatch.final_exit_code)."""
    while len(launcher.procs) < launcher.num_processes - 1:
        if fit_ended.wait(LAUNCH_POLL_SECONDS):
            return
    for rank, process in enumerate(launcher.procs, start=1):
        threading.Thread(target=end_with_further_process, args=(process.pid, rank, run_dir), daemon=True,
                         name=f"DDP process {rank} watch").start()


def end_with_further_process(pid: int, rank: int, run_dir: Path) -> None:
    try:
        # WNOWAIT: not reaped, so that the launcher's own handle on the process still sees it end.
        ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:  # reaped by the launcher's own handle first: Lightning's observer acts
        return
    if ended.si_code not in (os.CLD_KILLED, os.CLD_DUMPED):  # it ended itself, its exit code said as it chose
        return
    status = read_status(run_dir) or {}
    if status.get("status") in ("completed", "pruned"):
        return
    if status.get("status") == "running":
        line = (f"DDP process {rank} of this run (pid {pid}) was killed by {signal.Signals(ended.si_status).name} "
                f"(kill, the out-of-memory killer, or a crash: see its log); resume=true continues from the last "
                f"checkpoint")
        with suppress_full_disk():
            write_status(run_dir, "failed", error=line, exit_code=1)
        say_and_log(line)
    for handler in logging.getLogger().handlers:
        handler.flush()
    # The exit code of an outcome this process's run recorded meanwhile (said as it was recorded), else 1.
    os._exit(status.get("exit_code", 1))


class FirstProcessWatch:
    """`with FirstProcessWatch(run_dir) as watch:` in a DDP process that Lightning's launcher started from the
    run's first (its parent), which alone records the run: when the first dies without a word (`kill -9`, the
    out-of-memory killer), this process records `failed` in status.json, says so in one line on stderr (the
    first's, which it shares), and ends. It would otherwise wait for the first in gloo's setup for half an
    hour, or end on its next exchange of gradients, both leaving status.json saying `running`. A process
    started by torchrun or Slurm (a sibling of the first, whose launcher watches them) watches nothing."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        pid = os.environ.get(FIRST_PROCESS_ENV, "")
        self.first_pid = int(pid) if pid.isdigit() else None
        self.exit_code = 1
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.watch, name="first process watch", daemon=True)

    def __enter__(self) -> FirstProcessWatch:
        if self.first_pid is not None:
            self.thread.start()
        return self

    def watch(self) -> None:
        # Polled: the parent's pid changes once it has died, however it died (PR_SET_PDEATHSIG would signal
        # a process stuck in gloo's C++, whose Python handler runs only once that call returns).
        while os.getppid() == self.first_pid:
            if self.done.wait(FIRST_PROCESS_POLL_SECONDS):
                return
        line = record_first_death(self.run_dir, self.first_pid)
        if line is not None:
            say_and_log(line)
        # Nothing of the run is this process's to save (the first writes every checkpoint), and it may be
        # stuck in a wait for the first that no signal ends.
        os._exit(self.exit_code)

    def wait_for_the_first(self, process: RunRecord) -> None:
        """This process's run failed (gloo saw a peer die, which may be the first): if the first dies meanwhile,
        the watch records it and ends this process. If it lives on, it records the run. An interrupt is this
        process's own signal (the first, sent it too, records it) and is not waited on."""
        if self.first_pid is None or not process.exit_code or process.interrupted:
            return
        self.exit_code = process.exit_code
        self.thread.join(FIRST_DEATH_GRACE_SECONDS)

    def final_exit_code(self, process: RunRecord) -> int:
        """This process's exit code once its run has ended: started by Lightning's launcher and joined to the first
        over gloo, 0 whatever the outcome, since Lightning's child-process observer answers any other by SIGKILLing
        the first (watch_once_started), which records and reports the run as its exchange of gradients fails."""
        if self.first_pid is not None and dist.is_initialized() and dist.get_backend() == "gloo":
            return 0
        return process.exit_code

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()


# A job's process is a fork of the sweep's, which has imported everything and computed nothing
# (no torch threads yet): it starts in milliseconds, where a fresh process imports torch and
# Lightning again for seconds (Hydra's joblib launcher's loky workers: benchmarks/sweep_speed.py
# --launcher joblib). Its state (seeds, flags) still dies with it. The parallel launcher forks so too.
CONTEXT = multiprocessing.get_context("fork")


@contextmanager
def forked_job(sweep_pid: int, run_dir: Callable[[], Path | None]) -> Iterator[None]:
    """Within the block, a sweep's forked job: a process group of its own (the sweep passes each signal
    on once, `signals_forwarded`), its signals taken as a run takes them, and, on Linux, SIGTERM when the
    sweep's process dies (`kill -9`), where it would train on unwatched, holding the sweep's lock.

    A signal that arrived while the job was forked was held and comes now. A signal that stops the job
    before its run records itself ends it with the signal's exit code, the interrupt recorded in its
    folder (`run_dir()`) if it has one yet, whose run recorded no outcome. Library code that the signal
    interrupts may raise an error of its own on the way out (OmegaConf, composing the job's config): the
    interrupt is then its cause."""
    try:
        os.setpgrp()
        for signum in STOPPING_SIGNALS:
            signal.signal(signum, raise_interrupted)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)  # not the sweep's, which pauses its jobs
        if sys.platform == "linux":
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != sweep_pid:  # it died before the request was made
                os.kill(os.getpid(), signal.SIGTERM)
        # The sweep's garbage (the check's Trainers) goes while the signals still wait: an interrupt raised
        # in a __del__ would be printed and lost (5 ms).
        gc.collect()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON_SIGNALS)
        yield
    except BaseException as error:
        interrupt = cause_matching(error, lambda cause: isinstance(cause, Interrupted))
        if not isinstance(interrupt, Interrupted):
            raise
        folder = run_dir()
        if folder is not None and folder.is_dir() and (read_status(folder) or {}).get("status") in (None, "running"):
            record_interrupt(folder, interrupt)
        sys.exit(interrupt.exit_code)


def start_as_a_job(process: multiprocessing.process.BaseProcess) -> None:
    """Start a sweep's job process in a group of its own, set from both sides so that no forwarded
    signal can find it missing."""
    process.start()
    with suppress(OSError):  # the job set it first, or has ended already
        os.setpgid(process.pid, process.pid)


@contextmanager
def signals_held() -> Iterator[None]:
    """Within the block, the signals a sweep passes on wait (a job forked meanwhile is not yet among those
    it passes them to); they are delivered when it ends."""
    signal.pthread_sigmask(signal.SIG_BLOCK, PASSED_ON_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON_SIGNALS)


@contextmanager
def signals_forwarded(jobs: Callable[[], Iterable[int]], received: list[int]) -> Iterator[None]:
    """Within the block, the stopping signals are recorded in `received` and sent on to the process
    group of each running job (`jobs()`, their pids), where the job records itself as interrupted.
    Ctrl-Z (SIGTSTP) pauses the jobs, then this process; `fg` (SIGCONT) continues them after it."""

    def send(pids: Iterable[int], signum: int) -> None:
        for pid in pids:
            with suppress(ProcessLookupError):  # ended meanwhile
                os.killpg(pid, signum)

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        send(jobs(), signum)

    def pause(signum: int, frame: Any) -> None:
        # The terminal stops only its foreground group: the jobs, each in a group of its own, trained on.
        paused = list(jobs())
        send(paused, signal.SIGTSTP)
        # SIGSTOP: SIGTSTP would come back here, and reproduce's sweep, in a session (an orphaned group) of its
        # own, would drop its stop.
        os.kill(os.getpid(), signal.SIGSTOP)
        send(paused, signal.SIGCONT)

    paused_by = signal.signal(signal.SIGTSTP, pause)
    try:
        with signals_handled(forward):
            yield
    finally:
        signal.signal(signal.SIGTSTP, paused_by)


@contextmanager
def signals_handled(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Within the block, the stopping signals go to `handler`; their handlers are put back after it."""
    previous = {signum: signal.signal(signum, handler) for signum in STOPPING_SIGNALS}
    try:
        yield
    finally:
        for signum, earlier in previous.items():
            signal.signal(signum, earlier)


def stop_the_sweep(received: list[int], sweep_dir: Path, left: str = "") -> None:
    """End a sweep that a signal interrupted, with one line on how to continue it."""
    name = signal.Signals(received[0]).name
    log.error("sweep interrupted by %s: the running jobs recorded themselves as interrupted%s; the same command "
              "with hydra.sweep.dir=%s resume=true continues it", name, left, sweep_dir)
    raise SystemExit(128 + received[0])


def _run_in_child(job: Callable[[DictConfig, Path], int], cfg: DictConfig, run_dir: Path, logging_config: DictConfig,
                  sweep_pid: int) -> None:
    with forked_job(sweep_pid, lambda: run_dir):
        # Inside the workers of Hydra's joblib launcher (hydra/launcher=joblib) the default start method
        # is loky's, which a forked job cannot use for processes of its own: give it the platform's back.
        multiprocessing.set_start_method(None, force=True)
        configure_log(logging_config)
        sys.exit(job(cfg, run_dir))


def run_isolated(job: Callable[[DictConfig, Path], int], cfg: DictConfig, run_dir: Path,
                 logging_config: DictConfig) -> None:
    """Run `job(cfg, run_dir)` in a child process, for Hydra's basic launcher, which runs a sweep's jobs in the
    sweep's own process: a job that raises, calls `sys.exit` or is killed takes only its own process down, and
    the sweep goes on. A signal to the sweep stops it, after its job has recorded the interrupt."""
    # The fork hands the job `cfg` itself, unresolved, as a job of another launcher gets it (the HPARAMS tab
    # tells a key that copies another by its interpolation), and keeps Hydra's state and resolvers for `${hydra:...}`.
    process = CONTEXT.Process(target=_run_in_child, args=(job, cfg, run_dir, logging_config, os.getpid()))
    received: list[int] = []
    with signals_forwarded(lambda: [process.pid] if process.pid else [], received):
        with signals_held():  # a signal now reaches the job once it has its group
            if not received:
                start_as_a_job(process)
        if process.pid:
            process.join()
    if process.pid and record_death(run_dir, process.exitcode):
        log.error("%s: %s", run_dir.name, cause_of_death(process.exitcode))
    if received:
        stop_the_sweep(received, run_dir.parent)


class Interrupted(BaseException):
    """The run was stopped by a signal: Ctrl-C (SIGINT), SIGTERM (`kill`, Slurm's `scancel`), SIGHUP (its
    terminal closed), or Slurm's warning before a time limit (SIGUSR2, the job requeued). A
    BaseException, as KeyboardInterrupt, so that nothing on the way catches it."""

    level = logging.ERROR
    next_step = "resume=true continues from the last checkpoint"

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal = signal.Signals(signum)
        self.exit_code = 128 + signum  # what a shell reports for a process a signal stopped
        self.said = f"interrupted by {self.signal.name}"


class Requeued(Interrupted):
    """Slurm's warning before the time limit, or a preemption (SIGUSR2), to a job submitit has requeued."""

    level = logging.WARNING
    next_step = "requeued: it continues from the last checkpoint when Slurm starts it again"


class NotRequeued(Interrupted):
    """Slurm's warning before the time limit (SIGUSR2) to a job that has been requeued for it as many
    times as hydra.launcher.max_num_timeout allows: submitit refuses to requeue it again."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        # Not 128 + SIGUSR2, with which a requeued job ends without a result: this one must report.
        self.exit_code = 1
        self.said = ("reached its Slurm time limit more times than hydra.launcher.max_num_timeout allows, and is "
                     "not requeued: raise hydra.launcher.timeout_min or max_num_timeout")


def requeued_by_the_first_task(requeue: Any) -> bool:
    """Whether submitit's SIGUSR2 handler `requeue` requeues the Slurm job, as it decides in the job's first
    task: not once the job has reached its time limit more times than hydra.launcher.max_num_timeout allows.
    In the job's other tasks the handler only returns; each task holds the countdown the first one has."""
    handler = getattr(requeue, "__self__", None)
    delayed = getattr(handler, "_delayed", None)
    if delayed is None or not hasattr(handler, "has_timed_out"):  # not submitit's handler: nothing to go by
        return True
    if handler.env.global_rank == 0:  # the first task itself: its handler raised had it refused
        return True
    return delayed._timeout_countdown - handler.has_timed_out() >= 0


# The interrupts a signal handler has raised, or put off (`raise_or_put_off`), in this process. One raised inside
# a weakref callback or a __del__ is printed ("Exception ignored") and lost: a job so signalled as it started or
# trained, trained on, and one that Slurm's warning had requeued trained until Slurm killed it, its last steps lost.
raised_interrupts: list[Interrupted] = []


def kept(interrupt: Interrupted) -> Interrupted:
    """`interrupt`, noted as raised, for `raise_lost_interrupt`."""
    raised_interrupts.append(interrupt)
    return interrupt


def raise_interrupted(signum: int, frame: Any) -> None:
    raise kept(Interrupted(signum))


def raise_or_put_off(interrupt: Interrupted, frame: FrameType | None) -> None:
    """Raise `interrupt` from a signal handler, noted for `raise_lost_interrupt`; when `frame` or a caller of it runs
    threading's or queue's code, only note it, for `raise_lost_interrupt` to raise at the next batch's end. Their
    counts and waiters an exception leaves out of step: raised inside Queue.put between its count and its notify, an
    interrupt left TensorBoard's writer asleep until its next flush, which the run's end waits for (2 minutes)."""
    kept(interrupt)
    while frame is not None:
        if frame.f_globals.get("__name__") in ("threading", "queue"):
            return
        frame = frame.f_back
    raise interrupt


def raise_lost_interrupt(*_: Any) -> None:
    """Raise the last interrupt a signal handler raised or put off again, at a point from which it propagates, if
    any."""
    if raised_interrupts:
        lost = raised_interrupts[-1]
        raise type(lost)(lost.signal)


def record_interrupt(run_dir: Path, interrupt: Interrupted) -> None:
    write_status(run_dir, "interrupted", error=interrupt.said,
                 signal=interrupt.signal.name, exit_code=interrupt.exit_code)


@contextmanager
def suppress_full_disk() -> Iterator[None]:
    """Within the block, a write that finds the disk full is given up; any other error is raised."""
    try:
        yield
    except OSError as error:
        if full_disk(error) is None:
            raise


def cause_matching(error: BaseException | None, matches: Callable[[BaseException], bool]) -> BaseException | None:
    """The first error in `error`'s chain of causes that `matches` (Lightning and torch wrap errors)."""
    # The chain can loop: TensorBoard's writer raises its thread's one error object at every later write,
    # so on a full disk that error came back as the context of a wrapper whose cause it was (a run hung here).
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if matches(error):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def a_peer_died(error: BaseException) -> bool:
    """True for gloo's error in the processes left when another ends in the middle of an exchange of gradients."""
    return cause_matching(error, lambda cause: isinstance(cause, RuntimeError)
                          and any(words in str(cause) for words in ("closed by peer", "reset by peer"))) is not None


def failure(error: BaseException, run_dir: Path) -> tuple[int, str | None]:
    """The exit code of a failed run, and one line for a failure the user can act on (2: bad input,
    3: a NaN or infinite loss, 1: a full disk, another DDP process's death, or a crash, which has no
    line: its traceback is logged)."""
    if isinstance(error, UserInputError):
        return 2, str(error)
    if isinstance(error, NonFiniteLossError):
        return 3, str(error)
    if a_peer_died(error):
        return 1, ("another process of this DDP run died (killed, out of memory, or failed: see its log); "
                   "resume=true continues from the last checkpoint")
    disk = cause_matching(error, lambda cause: full_disk(cause) is not None)
    if isinstance(disk, OSError):
        # torch's checkpoint writer names no file: the folder, at least, says which disk to free.
        where = disk.filename or f"a file in {run_dir}"
        return 1, f"{full_disk(disk)} writing {where}: free some space, then resume=true"
    return 1, None


class RunRecord:
    """`with RunRecord(run_dir) as record:` how each process of a run takes signals and ends: within the
    block SIGINT, SIGTERM, SIGHUP, and Slurm's SIGUSR2 through submitit's requeue, raise `Interrupted`
    at once (Lightning would turn Ctrl-C into `sys.exit(1)` and delay SIGTERM to the next batch), unless they
    come inside threading's or queue's code (`raise_or_put_off`), and when it ends `record.exit_code` is the
    process's exit code, 0 when it completed.

    The first process of a run holds the run folder (ConfigError if another process holds it), records
    `running` in its status.json and, when the block ends, `completed` (after `record.complete(results)`),
    `interrupted` or `failed`, each said in one line (a crash: its traceback). With `first=False`, a process
    a distributed launcher starts beside the first records nothing, and logs only what the first may never see."""

    def __init__(self, run_dir: Path, first: bool = True) -> None:
        self.run_dir = run_dir
        self.first = first
        self.exit_code = 0
        self.requeued = False
        self.completed = False
        self.interrupted = False
        self.lock = lock_run_dir(run_dir) if first else None

    def release(self) -> None:
        """Free the run folder: once the run has ended, or without running (refused, or nothing left to do)."""
        self.lock.close()

    def __enter__(self) -> RunRecord:
        raise_lost_interrupt()  # one that was lost on its way out: the run does not start
        if self.first:
            write_status(self.run_dir, "running")
        self.handlers: dict[int, Any] = {signum: signal.signal(signum, self.interrupt) for signum in STOPPING_SIGNALS}
        self.thread_hook = threading.excepthook
        threading.excepthook = self.thread_failed
        requeue = signal.getsignal(signal.SIGUSR2)
        if callable(requeue):  # submitit's: it requeues the Slurm job, then calls sys.exit
            self.handlers[signal.SIGUSR2] = requeue
            signal.signal(signal.SIGUSR2, self.requeue_then_interrupt)
        return self

    def thread_failed(self, failed: threading.ExceptHookArgs) -> None:
        # TensorBoard's writer thread, finding the disk full, printed its traceback as it died, then the
        # run's next write raised the same error, which the run says in one line: the traceback said nothing more.
        if not (full_disk(failed.exc_value) and type(failed.thread).__module__.startswith("tensorboard.")):
            self.thread_hook(failed)

    def interrupt(self, signum: int, frame: Any) -> None:
        # Requeueing makes Slurm send this job SIGTERM: once requeued, that is no interrupt of its own.
        # Lightning's teardown can put this handler back while the requeue unwinds the fit.
        if not (self.requeued and signum == signal.SIGTERM):
            raise_or_put_off(Interrupted(signum), frame)

    def requeue_then_interrupt(self, signum: int, frame: Any) -> None:
        self.requeued = True
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # In a Slurm task other than the first it returns: the first task requeues the whole job.
        try:
            with suppress(SystemExit):
                self.handlers[signal.SIGUSR2](signum, frame)
            # Ended as if requeued, a task the first did not requeue left the job without its result: the sweep
            # took the job for killed outright, where the first task recorded it interrupted, with what to raise.
            requeued = requeued_by_the_first_task(self.handlers[signal.SIGUSR2])
        except Exception:  # submitit's UncompletedJobError: "timed-out too many times"
            requeued = False
        raise_or_put_off(Requeued(signum) if requeued else NotRequeued(signum), frame)

    def complete(self, results: dict[str, Any]) -> None:
        if results.get("pruned_epoch"):  # stopped by a search's pruner: scored, but not trained to the end
            write_status(self.run_dir, "pruned", epoch=results["pruned_epoch"], results=results)
        else:
            write_status(self.run_dir, "completed", results=results)
        self.completed = True

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        for signum, handler in self.handlers.items():
            signal.signal(signum, handler)
        threading.excepthook = self.thread_hook
        # Raised again by now, or come as the run completed: none is left to stop another run in this process.
        late = raised_interrupts[-1] if raised_interrupts else None
        raised_interrupts.clear()
        if error is None:
            # Put off or lost past the run's last batch, an interrupt leaves the run's outcome as it stands, and
            # the process ends as the signal asks: exit 0 let a shell's `&&` go on to its next command.
            if late is not None:
                self.exit_code = late.exit_code
            return False
        # A signal inside a checkpoint's write comes back wrapped in torch's writer's error.
        error = cause_matching(error, lambda cause: isinstance(cause, Interrupted)) or error
        if late is not None and not isinstance(error, Interrupted) and a_peer_died(error):
            # This process put the signal off; the run's other processes, signalled at once, ended on it.
            error = late
        if isinstance(error, Interrupted):
            self.exit_code = error.exit_code
            self.interrupted = True
            # A process beside the first has nothing to say: the first, signalled as this one, says it. When
            # the run completed, the signal came as the block ended: the run's outcome stands.
            if self.first and not self.completed:
                log.log(error.level, "%s; %s", error.said, error.next_step)
                # On a disk too full for it, status.json keeps saying running: resume=true continues that too.
                with suppress_full_disk():
                    record_interrupt(self.run_dir, error)
            return True
        if not isinstance(error, (Exception, SystemExit)):
            return False
        self.exit_code = self.failed(error)
        return True

    def failed(self, error: BaseException) -> int:
        """The failure's exit code, its line said (a crash: its traceback, which may be the only record
        of why this process died) and recorded, by the first process alone."""
        if self.first and not self.run_dir.is_dir():  # nowhere left to record anything
            log.error("%s was deleted while its run trained; nothing of it is left to resume", self.run_dir)
            return 1
        code, message = failure(error, self.run_dir)
        if message is None:
            log.error("training failed", exc_info=error)
        # Bad input and a NaN loss are met by the first process too, which reports them; a process beside
        # it says only what the first may never see (a full disk, perhaps its own alone, a death).
        elif code == 1 or self.first:
            log.error("%s", message)
        if self.first:
            try:
                write_status(self.run_dir, "failed", error=message or repr(error), exit_code=code)
            except OSError as full:
                # A disk another writer filled (a shared cluster's) may not hold even status.json's few bytes.
                # It keeps saying running, which resume=true continues as it does a killed run's.
                if full_disk(full) is None:
                    raise
                if not (message and message.startswith(full_disk(full) or "")):  # said once is enough
                    log.error("%s writing %s: free some space, then resume=true", full_disk(full), full.filename)
        return code
