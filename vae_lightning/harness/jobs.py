"""Sweep jobs that fail alone: each runs in a process of its own and records its status.json.

A job that raises, calls `sys.exit` or is killed takes only its own process down; the sweep goes
on, and `analysis.report.SweepReport` lists every failed job at the end and makes the sweep exit
non-zero. Under `hydra/launcher=parallel` (hydra_plugins/vae_lightning_launcher/) and Hydra's submitit launchers
(Slurm) every job is a process of its own already; under Hydra's basic launcher, which runs jobs
in the sweep's own process, `run_isolated` forks one for each.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.utils import configure_log
from omegaconf import DictConfig, OmegaConf

from vae_lightning.harness.runs import record_death

# A job's process is a fork of the sweep's, which has imported everything and computed nothing
# (no torch threads yet): it starts in milliseconds, where a fresh process imports torch and
# Lightning again for seconds. Its state (seeds, flags) still dies with it.
CONTEXT = multiprocessing.get_context("fork")


def _run_in_child(job: Callable[[DictConfig, Path], int], config: dict, run_dir: str, logging_config: dict) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Inside the workers of Hydra's joblib launcher (hydra/launcher=joblib) the default start method
    # is loky's, which a forked job cannot use for processes of its own: give it the platform's back.
    multiprocessing.set_start_method(None, force=True)
    configure_log(OmegaConf.create(logging_config))
    sys.exit(job(OmegaConf.create(config), Path(run_dir)))


def run_isolated(job: Callable[[DictConfig, Path], int], cfg: DictConfig, run_dir: Path, logging_config: Any) -> int:
    """Run `job(cfg, run_dir)` in a child process; returns its exit code, never raises for its failure."""
    config = OmegaConf.to_container(cfg, resolve=True)  # resolves ${hydra:...} here, where Hydra is set up
    logging_config = OmegaConf.to_container(logging_config, resolve=True)
    process = CONTEXT.Process(target=_run_in_child, args=(job, config, str(run_dir), logging_config))
    process.start()
    process.join()
    record_death(run_dir, process.exitcode)
    return process.exitcode
