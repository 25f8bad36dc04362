"""`hydra/launcher=parallel`: sweep jobs side by side, each in a process forked from the sweep's own,
which trains and records its own outcome; one that dies is recorded by the sweep."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

# hydra.core.*: the launcher plugin API, as Hydra's example launcher uses it (a job's config set as the current
# one, its logging, its run); Hydra exports it nowhere else.
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from vae_lightning.harness.runs import (CONTEXT, STOPPING_SIGNALS, UnrecordedFailure, cause_of_death, forked_job,
                                        no_room, note_unrecorded_failure, record_death, signals_forwarded,
                                        signals_held, start_as_a_job, stop_the_sweep)

log = logging.getLogger(__name__)


@dataclass
class RunningJob:
    """A job the launcher started and has not yet heard the end of."""

    process: BaseProcess
    receiver: Connection  # the job's folder as it starts, then its JobReturn, arrive here pickled
    overrides: list[str]
    run_dir: str | None = None


def cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and Slurm narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ParallelLauncher(Launcher):
    """Runs `n_jobs` jobs at a time, each with cores / n_jobs torch threads (at least one)."""

    def __init__(self, n_jobs: int = 2) -> None:
        self.n_jobs = n_jobs
        self.threads = max(1, cores() // n_jobs)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        jobs = iter(enumerate(job_overrides, start=initial_job_idx))
        results: dict[int, JobReturn] = {}
        log.info("Launching %d jobs, %d at a time with %d torch threads each", len(job_overrides), self.n_jobs,
                 self.threads)
        self.launch_as_they_come(lambda: next(jobs, None), results.__setitem__, total=len(job_overrides))
        return [results[index] for index in sorted(results)]

    def launch_as_they_come(self, next_job: Callable[[], tuple[int, Sequence[str]] | None],
                            ended: Callable[[int, JobReturn], None], at_a_time: int | None = None,
                            total: int | None = None) -> None:
        """Run the jobs `next_job` gives (its number and overrides; None when there are no more),
        `at_a_time` of them at once (at most n_jobs), starting the next as soon as one ends: `ended`
        hears each job's JobReturn first, so that an optimising sweeper can tell its study before it
        asks for another trial. `total`, when known, is how many jobs `next_job` has in all."""
        setup_globals()
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        # Every job's TensorBoard logger imports it, which took each forked job 0.08-0.13 s (-X importtime).
        import torch.utils.tensorboard  # noqa: F401
        slots = min(self.n_jobs, at_a_time or self.n_jobs)
        running: dict[int, RunningJob] = {}
        received: list[int] = []
        more, started = True, 0
        with signals_forwarded(lambda: [job.process.pid for job in running.values()], received):
            while running or (more and not received):
                while more and not received and len(running) < slots:
                    job = next_job()
                    if job is None:
                        more = False
                        break
                    index, overrides = job
                    log.info("\t#%d : %s", index, " ".join(filter_overrides(overrides)))
                    with signals_held():  # a signal now reaches the job once it is in `running`
                        running[index] = self._start(index, overrides)
                    started += 1
                for index in finished(running) if running else []:
                    ended(index, job_return(running.pop(index)))
        if received:
            stop_the_sweep(received, self.config.hydra.sweep.dir,
                           "" if total is None else f", {total - started} never started")

    def _start(self, index: int, overrides: Sequence[str]) -> RunningJob:
        receiver, sender = CONTEXT.Pipe(duplex=False)
        process = CONTEXT.Process(target=self._run_job, args=(index, overrides, sender, os.getpid()),
                                  name=f"job {index}")
        # A signal the sweep receives reaches each job once, forwarded, never twice.
        start_as_a_job(process)
        sender.close()
        return RunningJob(process, receiver, list(overrides))

    def _run_job(self, index: int, overrides: Sequence[str], sender: Connection, sweep_pid: int) -> None:
        # Before its run records itself (Hydra sets the job up first), the job records an interrupt in its
        # folder, if it has one yet.
        run_dir = None
        with forked_job(sweep_pid, lambda: run_dir):
            sweep_config = self._job_config(index, overrides)
            run_dir = Path(sweep_config.hydra.sweep.dir) / str(sweep_config.hydra.sweep.subdir)
            sender.send(str(run_dir))
            try:
                returned: JobReturn | UnrecordedFailure = run_job(
                    hydra_context=self.hydra_context, task_function=self.task_function, config=sweep_config,
                    job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
            except OSError as error:
                # Hydra writes the job's .hydra/config.yaml before any of the project's code runs in the job (the
                # task never raises): on a full disk that write raised here, the job's traceback printed, and the
                # sweep's report, finding no .hydra/overrides.yaml, left the job out of its count.
                failure = no_room(error, f"the job's config in {run_dir / '.hydra'}",
                                  f"hydra.sweep.dir={sweep_config.hydra.sweep.dir}")
                if failure is None:
                    raise
                returned = failure
            sender.send_bytes(pickle.dumps(returned) if isinstance(returned, UnrecordedFailure) else pickled(returned))

    def _job_config(self, index: int, overrides: Sequence[str]) -> DictConfig:
        """The job's config, set as Hydra's current one."""
        # torch is imported here, not at the top: Hydra imports every plugin module in every app.
        import torch

        torch.set_num_threads(self.threads)
        os.environ["OMP_NUM_THREADS"] = str(self.threads)  # for the processes a job starts (DDP)
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{index}"
            sweep_config.hydra.job.num = index
        HydraConfig.instance().set_config(sweep_config)
        return sweep_config


def picklable(config: DictConfig | None) -> DictConfig | None:
    """The config without its structured-config classes, which are made at run time and cannot be pickled."""
    return None if config is None else OmegaConf.create(OmegaConf.to_container(config))


def pickled(returned: JobReturn) -> bytes:
    """The job's JobReturn as bytes for the sweep's process; a return value that cannot be pickled
    (an exception holding an open file, say) arrives as its text."""
    returned.cfg, returned.hydra_cfg = picklable(returned.cfg), picklable(returned.hydra_cfg)
    try:
        return pickle.dumps(returned)
    except Exception as error:
        returned.status = JobStatus.FAILED
        returned.return_value = RuntimeError(f"the job's result could not be sent to the sweep: {error!r}")
        return pickle.dumps(returned)


def finished(running: dict[int, RunningJob]) -> list[int]:
    """The indices of the running jobs that sent their result or ended; waits until one has, reading
    each job's folder as it arrives.

    Waiting on the pipes as well as the processes: a job blocks in `send` until its result is read.
    """
    while True:
        ready = set(wait([waitable for job in running.values() for waitable in (job.process.sentinel, job.receiver)]))
        for job in running.values():
            if job.receiver in ready and job.run_dir is None:
                try:
                    job.run_dir = job.receiver.recv()
                except EOFError:  # the job ended before it had a folder (a signal as it started)
                    continue
                ready -= {job.receiver}
        done = [index for index, job in running.items() if {job.process.sentinel, job.receiver} & ready]
        if done:
            return done


def job_return(job: RunningJob) -> JobReturn:
    """What the job's process sent back. One that ended without sending it is recorded as failed in
    its folder's status.json, and returned as a job with no val loss (inf), so that the sweep goes on
    to its report, which lists it."""
    returned = None
    try:
        if job.run_dir is None:
            job.run_dir = job.receiver.recv()
        returned = pickle.loads(job.receiver.recv_bytes())
    except EOFError:  # the process ended without sending
        pass
    job.process.join()
    job.receiver.close()
    if isinstance(returned, JobReturn):
        return returned
    if isinstance(returned, UnrecordedFailure):  # its folder could not hold it: the sweep's report lists it
        assert job.run_dir is not None  # sent before the job wrote anything
        note_unrecorded_failure(Path(job.run_dir), job.overrides, returned)
        return failed_job(job.overrides)
    interrupts = {128 + signum: signum.name for signum in STOPPING_SIGNALS}
    if job.process.exitcode in interrupts:  # it recorded the interrupt itself, where it had a folder
        log.error("%s: interrupted by %s", " ".join(job.overrides), interrupts[job.process.exitcode])
    else:
        log.error("%s: %s", " ".join(job.overrides), cause_of_death(job.process.exitcode))
        if job.run_dir is not None:
            record_death(Path(job.run_dir), job.process.exitcode)
    return failed_job(job.overrides)


def failed_job(overrides: list[str]) -> JobReturn:
    """A failed job as the sweeper hears of it: no val loss (inf). A JobReturn with status FAILED would
    make Hydra's basic sweeper raise its error, ending the sweep before its report."""
    ended = JobReturn(overrides=overrides, status=JobStatus.COMPLETED)
    ended.return_value = float("inf")
    return ended
