"""`hydra/launcher=slurm`: Hydra's submitit Slurm launcher, with sbatch's refusal of the sweep's
settings said in one line, exit 2, where Hydra would print submitit's traceback, and the sweep's jobs
cancelled when the command waiting for them is interrupted."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import redirect_stderr, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from vae_lightning.harness.runs import (Interrupted, raise_interrupted, signals_handled, signals_held,
                                        stop_the_sweep)

# Why Slurm keeps a job pending that cannot start on its partition as the cluster is configured (sbatch
# accepts such jobs unless the cluster sets EnforcePartLimits), and the settings that ask for it.
NEVER_STARTS = {
    "PartitionConfig": "more CPUs per node than a node of their partition has (hydra.launcher.cpus_per_task "
                       "times tasks_per_node)",
    "PartitionNodeLimit": "more nodes than their partition has, or fewer than it needs (hydra.launcher.nodes)",
    "PartitionTimeLimit": "more time than their partition allows (hydra.launcher.timeout_min)",
    "BadConstraints": "a node feature, or resources together, that no node has (hydra.launcher.constraint, "
                      "cpus_per_task, mem_gb)",
    "InvalidAccount": "an account they may not use (hydra.launcher.account)",
    "InvalidQOS": "a QOS they may not use (hydra.launcher.qos)",
    "AccountNotAllowed": "an account their partition does not allow (hydra.launcher.account)",
    "QOSNotAllowed": "a QOS their partition does not allow (hydra.launcher.qos)",
}
# PartitionConfig is also Slurm's reason for a partition whose settings, changed after sbatch accepted the jobs,
# shut them out (sbatch refuses a job they shut out): then their CPUs fit the partition, and this is what they ask.
SHUT_OUT = ("a partition that shuts them out (hydra.launcher.partition; its AllowGroups, RootOnly, DisableRootJobs, "
            "AllocNodes, or ReqResv: a reservation, +hydra.launcher.additional_parameters.reservation=NAME)")
# What jobs ask for that their partition's own settings of who may run there refuse.
NOT_LET_IN = {NEVER_STARTS["AccountNotAllowed"], NEVER_STARTS["QOSNotAllowed"], SHUT_OUT}
# squeue's %r is what Slurm said of a job's wait where it said something, in place of the reason: Slurm 22.05 says
# these of a job that its partition's AllowAccounts/DenyAccounts or AllowQos/DenyQos exclude.
SAID_OF_REASONS = {"Job's account not ": "AccountNotAllowed", "Job's QOS not ": "QOSNotAllowed"}
# How squeue says that a job waits for nodes of its partition that are down or drained: an admin's resume ends
# the wait. (PartitionNodeLimit too, for a job whose node count its partition holds: then the count is not why it
# waits. Slurm 22.05 gives it only for a count beyond the partition's, a drained or down node ReqNodeNotAvail.)
NODES_NOT_UP = ("ReqNodeNotAvail", "NodeDown", "Nodes required for job are DOWN, DRAINED")
# The states (sinfo %T, a node not responding marked by a suffix) of a node that can run jobs.
NODE_UP_STATES = {"idle", "mixed", "allocated", "completing", "planned", "reserved"}
# How often the queue is asked why the sweep's pending jobs wait.
QUEUE_POLL_S = 5
# How long cancelled jobs may take to end: Slurm sends SIGTERM, then SIGKILL after its KillWait (30 s by default).
CANCEL_WAIT_S = 120

log = logging.getLogger(__name__)


class SlurmLauncher(Launcher):
    """Submits each batch of jobs as a Slurm job array through Hydra's own launcher, which it holds
    rather than extends: that plugin is the optional [slurm] extra, and Hydra imports every module
    under hydra_plugins, this one too, on every command."""

    def __init__(self, **params: Any) -> None:
        from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititLauncher

        self.submitit = SubmititLauncher(**params)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.submitit.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        submitted = SubmittedJobs(self.submitit.params["submitit_folder"])
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sbatch_echo = SbatchEcho(sys.stderr)
        try:
            with signals_handled(raise_interrupted), QueueWatch(submitted), redirect_stderr(sbatch_echo):
                try:
                    return self.submitit.launch(job_overrides, initial_job_idx)
                except FailedJobError:  # sbatch's refusal, an UncompletedJobError too: nothing was submitted
                    raise
                except UncompletedJobError as error:
                    # Hydra's launcher collects the jobs' results in turn and stops at the first missing one,
                    # leaving the others unwatched: they end as in any sweep, then the lost one is said.
                    lost = lost_job(error)
                while queued(submitted.ids()):
                    time.sleep(QUEUE_POLL_S)
            log.error("hydra/launcher=slurm: %s; the sweep's other jobs ran to their end. python -m "
                      "vae_lightning.plot %s draws its figures and summary, and the same command with "
                      "hydra.sweep.dir=%s resume=true continues it", lost, sweep_dir, sweep_dir)
            raise SystemExit(1)
        except NeverStarts as stuck:
            job = stuck.job
            slurm_said = f"; Slurm says: {job.said}" if job.said != job.reason else ""
            if stuck.asks_for in NOT_LET_IN:
                where = (f"scontrol show partition {job.partition} lists whom it lets in: AllowAccounts, AllowQos, "
                         f"AllowGroups, RootOnly, DisableRootJobs, AllocNodes, ReqResv")
            else:
                where = ("sinfo -o '%P %D %c %m %G %l' lists each partition's nodes, CPUs, memory in MB, GPUs and "
                         "time limit")
            log.error("hydra/launcher=slurm: Slurm keeps the sweep's jobs (%s) waiting, and would for ever "
                      "(reason %s: they ask for %s%s); they are cancelled. Change that setting, or choose another "
                      "hydra.launcher.partition (%s)", ", ".join(submitted.ids()), job.reason, stuck.asks_for,
                      slurm_said, where)
            raise SystemExit(2) from None
        except Interrupted as interrupt:
            # The jobs would train on, unwatched, with nothing to collect them: they end with the command.
            jobs = submitted.ids()
            cancel(jobs)
            stop_the_sweep([interrupt.signal], sweep_dir,
                           f" (Slurm jobs {', '.join(jobs)} cancelled)" if jobs else "")
        except FailedJobError as error:
            # sbatch's lines together name the setting: its last alone may not (`Memory specification can not be
            # satisfied`, then `Requested node configuration is not available`). Nothing was submitted.
            sbatch_echo.forget(str(error).strip())
            said = "; ".join(line.strip() for line in str(error).strip().splitlines()) or "no reason given"
            log.error("hydra/launcher=slurm: sbatch refused the jobs (%s); fix that setting of hydra.launcher "
                      "(docs/cluster.md lists them), or ask the cluster's admins what it takes", said)
            raise SystemExit(2) from None
        finally:
            sbatch_echo.release()


class SbatchEcho:
    """sys.stderr while Hydra's launcher submits the jobs and waits for them. submitit prints sbatch's refusal there
    before it raises it (FailedJobError), which the launcher then quotes in its own line: the refusal appeared twice.
    What sbatch said (its lines start `sbatch: `) is held back until the launch ends, and then written unless it was
    that refusal; everything else is written at once."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.held: list[str] = []

    def write(self, text: str) -> int:
        # print() writes its text, then the line's end apart: that end goes with the text held.
        if text.startswith("sbatch: ") or (text == "\n" and self.held and not self.held[-1].endswith("\n")):
            self.held.append(text)
            return len(text)
        return self.stream.write(text)

    def forget(self, refusal: str) -> None:
        """Drop `refusal` (sbatch's stderr, as submitit printed it) from what is held, once."""
        rest = "".join(self.held).replace(f"{refusal}\n", "", 1)
        self.held = [rest] if rest else []

    def release(self) -> None:
        """Write what is still held."""
        held, self.held = "".join(self.held), []
        if held:
            self.stream.write(held)
            self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        # flush, fileno, isatty, encoding, ... as the stream's own.
        return getattr(self.stream, name)


class SubmittedJobs:
    """The Slurm jobs that one launch submits, found by the folders submitit moves their sbatch scripts
    to (`<sweep>/.submitit/<job id>/<job id>_submission.sh`): Hydra's launcher holds the jobs themselves."""

    def __init__(self, submitit_folder: str) -> None:
        from submitit.core.utils import JobPaths

        self.folder = JobPaths.get_first_id_independent_folder(Path(submitit_folder))
        self.before = self.all_ids()

    def all_ids(self) -> set[str]:
        return {script.name.removesuffix("_submission.sh") for script in self.folder.glob("*/*_submission.sh")}

    def ids(self) -> list[str]:
        """The ids of the jobs submitted since this was made."""
        return sorted(self.all_ids() - self.before)


def cancel(jobs: list[str]) -> None:
    """scancel `jobs` and wait for them to leave the queue, each running one having recorded its interrupt
    (scancel's SIGTERM); a second interrupt stops the wait, never the scancel."""
    if not jobs:
        return
    deadline = time.monotonic() + CANCEL_WAIT_S
    with suppress(Interrupted), signals_handled(raise_interrupted):
        with signals_held():
            subprocess.run(["scancel", *jobs], capture_output=True, timeout=60)
        while time.monotonic() < deadline and queued(jobs):
            time.sleep(1)


def queued(jobs: list[str]) -> bool:
    """Whether any of `jobs` is still in Slurm's queue (squeue refuses ids it no longer knows)."""
    listed = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(jobs)], capture_output=True, text=True,
                            timeout=60)
    return listed.returncode == 0 and bool(listed.stdout.strip())


class NeverStarts(BaseException):
    """The sweep's `job` waits for a reason that no time ends (NEVER_STARTS). A BaseException, raised into
    submitit's wait for its jobs: submitit passes an Exception there over, as a failed sacct."""

    def __init__(self, job: PendingJob, asks_for: str) -> None:
        super().__init__(job.reason)
        self.job = job
        self.asks_for = asks_for


class QueueWatch:
    """`with QueueWatch(submitted):` a thread asks Slurm why the jobs submitted wait; when for a reason
    in NEVER_STARTS, it cancels them and raises NeverStarts in the main thread, which waits on them; when
    for nodes of their partition that are down or drained, it says so once, and they wait."""

    def __init__(self, submitted: SubmittedJobs) -> None:
        self.submitted = submitted
        self.ended = threading.Event()
        self.stuck: PendingJob | None = None
        self.asks_for = ""
        self.thread = threading.Thread(target=self.watch, name="slurm queue watch", daemon=True)

    def __enter__(self) -> QueueWatch:
        # SIGUSR1 carries the thread's finding to the main thread, the only one where Python runs handlers.
        self.previous = signal.signal(signal.SIGUSR1, self.raise_never_starts)
        self.thread.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self.ended.set()
        self.thread.join()
        signal.signal(signal.SIGUSR1, self.previous)

    def raise_never_starts(self, signum: int, frame: Any) -> None:
        raise NeverStarts(self.stuck, self.asks_for)

    def watch(self) -> None:
        said_waiting = False
        while not self.ended.wait(QUEUE_POLL_S):
            jobs = self.submitted.ids()
            pending = pending_jobs(jobs)
            stuck = next((job for job in pending if never_starts(job)), None)
            if stuck is not None:
                subprocess.run(["scancel", *jobs], capture_output=True, timeout=60)
                self.stuck, self.asks_for = stuck, asks_for(stuck)
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                return
            waiting = next((job for job in pending if job.reason.startswith(NODES_NOT_UP)
                            or job.reason == "PartitionNodeLimit"), None)
            if waiting is not None and not said_waiting:
                said_waiting = True
                # Said once: the jobs start by themselves when the nodes come back, which may take days.
                log.warning("hydra/launcher=slurm: Slurm keeps the sweep's jobs (%s) waiting until nodes of "
                            "partition %s are up again (%s); they start when the cluster's admins resume them "
                            "(sinfo -p %s -N lists its nodes' states), and Ctrl-C cancels them", ", ".join(jobs),
                            waiting.partition, nodes_not_up(waiting.partition), waiting.partition)


@dataclass
class PendingJob:
    """A pending Slurm job as squeue lists it: its partition, the nodes and CPUs it asks for, why it waits (Slurm's
    name of the reason), and what Slurm said of it (the reason's name, where Slurm said nothing more)."""

    partition: str
    nodes: int
    cpus: int
    reason: str
    said: str


def pending_jobs(jobs: list[str]) -> list[PendingJob]:
    """Those of `jobs` that are pending (an array's pending tasks listed together)."""
    if not jobs:
        return []
    listed = subprocess.run(["squeue", "-h", "-t", "PD", "-o", "%P|%D|%C|%r", "-j", ",".join(jobs)],
                            capture_output=True, text=True, timeout=60)
    if listed.returncode:
        return []
    # A reason may hold spaces ("Nodes required for job are DOWN, DRAINED or ..."), the count a range ("1-2").
    rows = (line.split("|", 3) for line in listed.stdout.splitlines() if line.count("|") >= 3)
    return [PendingJob(partition, int(nodes.split("-")[0]), int(cpus), reason_of(said.strip()), said.strip())
            for partition, nodes, cpus, said in rows if nodes.split("-")[0].isdigit() and cpus.isdigit()]


def reason_of(said: str) -> str:
    """The name of the reason for which Slurm keeps a job waiting, from squeue's %r (`said`)."""
    return next((reason for start, reason in SAID_OF_REASONS.items() if said.startswith(start)), said)


def never_starts(job: PendingJob) -> bool:
    """Whether `job` waits for a reason no time ends. PartitionNodeLimit only when the job's node count is
    beyond what its partition has or allows, not while the partition's nodes are down or drained."""
    if job.reason not in NEVER_STARTS:
        return False
    if job.reason != "PartitionNodeLimit":
        return True
    limits = partition_node_limits(job.partition)
    if limits is None:  # the controller did not answer: the jobs are not cancelled on a guess
        return False
    fewest, most = limits
    return not fewest <= job.nodes <= most


def asks_for(job: PendingJob) -> str:
    """What `job`, which never starts, asks of its partition that it does not give."""
    if job.reason == "PartitionConfig":
        most = partition_cpu_limit(job.partition)
        if most is not None and job.cpus <= most:
            return SHUT_OUT
    return NEVER_STARTS[job.reason]


def partition_settings(partition: str) -> dict[str, str] | None:
    """`partition`'s settings as scontrol shows them (TotalNodes=1, MaxNodes=UNLIMITED, ...), or None if it did not."""
    shown = subprocess.run(["scontrol", "show", "partition", "-o", partition], capture_output=True, text=True,
                           timeout=60)
    settings = dict(item.split("=", 1) for item in shown.stdout.split() if "=" in item)
    return None if shown.returncode or "TotalNodes" not in settings else settings


def partition_cpu_limit(partition: str) -> int | None:
    """The most CPUs a job of `partition` may ask for, as Slurm counts them for PartitionConfig (its CPUs, or its
    MaxCPUsPerNode times its nodes if fewer), or None if scontrol did not say."""
    settings = partition_settings(partition)
    if settings is None or not settings.get("TotalCPUs", "").isdigit():
        return None
    per_node = settings.get("MaxCPUsPerNode", "UNLIMITED")
    total = int(settings["TotalCPUs"])
    return total if not per_node.isdigit() else min(total, int(per_node) * int(settings["TotalNodes"]))


def partition_node_limits(partition: str) -> tuple[int, int] | None:
    """The fewest and most nodes a job of `partition` may ask for (its MinNodes; its MaxNodes or, if fewer, the
    nodes it has in any state), or None if scontrol did not say."""
    settings = partition_settings(partition)
    if settings is None:
        return None
    total = int(settings["TotalNodes"])
    most = total if settings.get("MaxNodes", "UNLIMITED") == "UNLIMITED" else min(total, int(settings["MaxNodes"]))
    return int(settings.get("MinNodes", "0")), most


def nodes_not_up(partition: str) -> str:
    """`partition`'s nodes that cannot run jobs now, each with its state (`vm: drained`), in one line."""
    listed = subprocess.run(["sinfo", "-h", "-N", "-p", partition, "-o", "%N %T"], capture_output=True, text=True,
                            timeout=60)
    nodes = dict(line.split(None, 1) for line in listed.stdout.splitlines() if len(line.split()) == 2)
    down = {node: state for node, state in nodes.items() if state.rstrip("*~#!%$@^-") not in NODE_UP_STATES}
    return ", ".join(f"{node}: {state}" for node, state in sorted((down or nodes).items())) or "states unknown"


def lost_job(error: Exception) -> str:
    """What submitit's UncompletedJobError says of a job that ended without a result, in one line."""
    found = re.search(r"Job (\S+) .*?\(state: ([^)]*)\)", str(error), re.DOTALL)
    job, state = found.groups() if found else ("?", "unknown")
    return (f"Slurm job {job} ended without a result (state {state}): killed outright (scancel of a job waiting to be "
            f"requeued, SIGKILL, out of memory, a node failure); its folder's status.json and .submitit/{job}/ "
            f"hold what it said")
