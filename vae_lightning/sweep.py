"""Sweep jobs that fail alone: each runs in its own process, records status.json, and is reported.

A job that raises, calls `sys.exit` or is killed takes only its own process down; the job's
runner records the outcome, the sweep goes on, and `SweepReport` lists every failed job at the
end and makes the sweep exit non-zero. This holds under the basic and the joblib launcher.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.utils import configure_log
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
STATUS_FILE = "status.json"
# Jobs start by forking a server that has already imported the project: no second `import torch`.
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["vae_lightning.train"])


def write_status(run_dir: Path, status: str, **details: Any) -> None:
    """Record `running`, `completed` or `failed` (with details) atomically in run_dir/status.json."""
    path = run_dir / STATUS_FILE
    temporary = path.with_name(f".{STATUS_FILE}.tmp")
    temporary.write_text(json.dumps({"status": status, **details}, indent=2) + "\n")
    os.replace(temporary, path)


def read_status(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def _run_in_child(job: Callable[[DictConfig, Path], int], config: dict, run_dir: str, logging_config: dict) -> None:
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
    # The child adopts its parent's default start method; inside joblib's workers that is loky's,
    # which a fresh process does not know.
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("forkserver", force=True)
    try:
        process.start()
    finally:
        multiprocessing.set_start_method(previous, force=True)
    process.join()
    status = read_status(run_dir)
    if status is None or status["status"] == "running":
        write_status(run_dir, "failed", error=died(process.exitcode))
        log.error("%s: %s", run_dir.name, died(process.exitcode))
    return process.exitcode


def job_overrides(job_dir: Path) -> list[str]:
    try:
        return list(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))
    except OSError:
        return []


class SweepReport(Callback):
    """At the end of a sweep: plot it, list every job that did not complete, exit non-zero if any."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from vae_lightning.plot import plot_sweep

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            figure, summary = plot_sweep(sweep_dir)
            log.info("wrote %s and %s", figure, summary)
        except Exception:  # a plot that fails must not hide which jobs failed
            log.exception("could not plot %s; run python -m vae_lightning.plot %s", sweep_dir, sweep_dir)
        jobs = sorted(path.parent.parent for path in sweep_dir.glob("*/.hydra/overrides.yaml"))
        failed = [(job, read_status(job)) for job in jobs]
        failed = [(job, status) for job, status in failed if not status or status["status"] != "completed"]
        log.info("sweep %s: %d of %d jobs completed", sweep_dir, len(jobs) - len(failed), len(jobs))
        for job, status in failed:
            error = status.get("error", "no error recorded") if status else "no status.json: the job never ran"
            log.error("failed: %s: %s", " ".join(job_overrides(job)) or job.name, error)
        if failed:
            raise SystemExit(1)
