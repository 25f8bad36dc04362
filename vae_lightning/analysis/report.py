"""The end of every sweep (a Hydra callback): its figure and table, and the list of failed jobs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from vae_lightning.analysis.plot import NoSpaceLeft, SweepError, job_status, plot_sweep
from vae_lightning.errors import UserInputError
from vae_lightning.harness.runs import STATUS_FILE, job_overrides, unrecorded_failures

log = logging.getLogger(__name__)


def reported_status(job: Path) -> dict[str, Any] | None:
    """The job's status; one that cannot be read is listed with the failed jobs, saying why."""
    try:
        return job_status(job)
    except SweepError as error:
        return {"status": "failed", "error": str(error)}


class SweepReport(Callback):
    """At the end of a sweep: plot it, count the jobs completed, pruned (by a search) and failed, list
    every job that failed or was interrupted, exit non-zero if any was, or if the figure and table
    could not be written. A search may let a share of its trials fail (`hydra.sweeper.max_failure_rate`,
    as Hydra's Optuna sweeper has it): a diverged learning rate is one of the answers it looks for."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        # A job that failed before Hydra could write its .hydra/overrides.yaml (a full disk) is known from its
        # launcher alone, which noted it in this process; its note outranks an earlier attempt's status.json.
        unrecorded = {sweep_dir / job.name: unrecorded_failures.pop(job) for job in list(unrecorded_failures)
                      if job.parent == sweep_dir.absolute()}
        jobs = sorted({*(path.parent.parent for path in sweep_dir.glob("*/.hydra/overrides.yaml")), *unrecorded})
        if not jobs:  # a search whose study had all its trials already: nothing ran, nothing to plot
            log.info("sweep %s ran no jobs", sweep_dir)
            return
        plotted = False
        # A plot that fails must not hide which jobs failed: they are still listed, then the sweep fails.
        try:
            written = plot_sweep(sweep_dir)
            log.info("wrote %s in %s", ", ".join(path.name for path in written), sweep_dir)
            plotted = True
        except (NoSpaceLeft, UserInputError) as error:
            log.error("%s", error)
        except KeyboardInterrupt:  # Ctrl-C as the sweep ends: its jobs have their results, the figures wait
            log.error("interrupted while plotting %s; python -m vae_lightning.plot %s writes its figures and "
                      "tables", sweep_dir, sweep_dir)
            raise SystemExit(130) from None
        except Exception:
            log.exception("could not plot %s; run python -m vae_lightning.plot %s", sweep_dir, sweep_dir)
        statuses = [(job, {"status": "failed", "error": unrecorded[job][1]} if job in unrecorded
                     else reported_status(job)) for job in jobs]
        # A job a search's pruner stopped early ended as the search meant it to: no failure.
        pruned = [job for job, status in statuses if status and status["status"] == "pruned"]
        failed = [(job, status) for job, status in statuses
                  if not status or status["status"] not in ("completed", "pruned")]
        log.info("sweep %s: %d of %d jobs completed", sweep_dir, len(jobs) - len(failed) - len(pruned), len(jobs))
        if pruned:
            log.info("%d pruned, %d failed", len(pruned), len(failed))
        for job, status in failed:
            error = status.get("error", "no error recorded") if status else "no status.json: the job never ran"
            if status and status["status"] == "running":
                # Its process has ended: a disk too full for status.json is what leaves it so (the job said the
                # file it could not write as it failed), and "no error recorded" named neither cause nor fix.
                error = (f"{job / STATUS_FILE} still says running: the job ended without recording its outcome, as "
                         f"on a disk too full to write it; free some space, then the same command with "
                         f"hydra.sweep.dir={sweep_dir} resume=true")
            outcome = "interrupted" if status and status["status"] == "interrupted" else "failed"
            overrides = unrecorded[job][0] if job in unrecorded else job_overrides(job)
            log.error("%s: %s: %s", outcome, " ".join(overrides) or job.name, error)
        tolerated = OmegaConf.select(config, "hydra.sweeper.max_failure_rate", default=None) or 0.0
        within = (len(failed) / len(jobs) <= tolerated and len(failed) + len(pruned) < len(jobs)
                  and not any(status and status["status"] == "interrupted" for _, status in failed))
        if failed and within:
            log.info("%d of %d jobs failed, within hydra.sweeper.max_failure_rate=%s", len(failed), len(jobs),
                     tolerated)
        if failed and not within or not plotted:
            raise SystemExit(1)
