"""Sweep jobs that fail alone: each runs in its own process and records status.json.

A job that raises, calls `sys.exit` or is killed takes only its own process down; the job's
runner records the outcome, the sweep goes on, and `analysis.report.SweepReport` lists every
failed job at the end and makes the sweep exit non-zero. This holds under every launcher: under
Hydra's submitit launchers (Slurm) each job is a Slurm job, a process of its own already.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.utils import configure_log
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from vae_lightning.harness.runs import read_status, write_status

log = logging.getLogger(__name__)
# Hydra's submitit launchers start every job as a Slurm job (or a local process) of its own.
SUBMITIT_PLUGIN = "hydra_plugins.hydra_submitit_launcher"
# A job's process is a fork of its launcher's, which has imported everything and computed nothing
# (no torch threads yet): it starts in milliseconds, where a fresh process imports torch and
# Lightning again for seconds. Its state (seeds, flags) still dies with it.
CONTEXT = multiprocessing.get_context("fork")


def _run_in_child(job: Callable[[DictConfig, Path], int], config: dict, run_dir: str, logging_config: dict) -> None:
    # The parallel launcher's job process ignores these so that the job alone records an interrupt;
    # the job takes them as any process does (and passes no ignored signal on to DDP's processes).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Inside the workers of Hydra's joblib launcher (hydra/launcher=joblib) the default start method
    # is loky's, which a forked job cannot use for processes of its own: give it the platform's back.
    multiprocessing.set_start_method(None, force=True)
    configure_log(OmegaConf.create(logging_config))
    sys.exit(job(OmegaConf.create(config), Path(run_dir)))


def died(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        return f"the job's process was killed by {signal.Signals(-exit_code).name}"
    return f"the job's process exited with code {exit_code} before recording its outcome"


def run_isolated(job: Callable[[DictConfig, Path], int], cfg: DictConfig, run_dir: Path, logging_config: Any) -> int:
    """Run `job(cfg, run_dir)` in a child process; returns its exit code, never raises for its failure."""
    config = OmegaConf.to_container(cfg, resolve=True)  # resolves ${hydra:...} here, where Hydra is set up
    logging_config = OmegaConf.to_container(logging_config, resolve=True)
    process = CONTEXT.Process(target=_run_in_child, args=(job, config, str(run_dir), logging_config))
    process.start()
    process.join()
    status = read_status(run_dir)
    if status is None or status["status"] == "running":
        write_status(run_dir, "failed", error=died(process.exitcode))
        log.error("%s: %s", run_dir.name, died(process.exitcode))
    return process.exitcode


def runs_jobs_in_their_own_processes(launcher: Any) -> bool:
    """True when the sweep's launcher (its config, with a `_target_`) is one of Hydra's submitit
    launchers or a subclass of one, such as `hydra/launcher=slurm`."""
    target = str(launcher.get("_target_", ""))
    return target.startswith(SUBMITIT_PLUGIN) or any(
        kind.__module__.startswith(SUBMITIT_PLUGIN) for kind in get_class(target).__mro__
    )
