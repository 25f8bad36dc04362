"""The console's progress: Lightning's bars, or one line per epoch where jobs share the terminal."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import TQDMProgressBar

log = logging.getLogger(__name__)


def job_beside_others() -> str | None:
    """The job's name (its folder's, as TensorBoard shows it) when it runs in a sweep whose launcher
    runs several jobs at a time (`hydra.launcher.n_jobs` other than 1; joblib reads -1 as one per
    core), else None."""
    if not HydraConfig.initialized():
        return None
    hydra_config = HydraConfig.get()
    n_jobs = hydra_config.launcher.get("n_jobs", 1)
    if hydra_config.mode != RunMode.MULTIRUN or not isinstance(n_jobs, int) or n_jobs == 1:
        return None
    return Path(hydra_config.runtime.output_dir).name


class JobProgressBar(TQDMProgressBar):
    """Lightning's TQDMProgressBar, but in a job that runs beside others (`hydra/launcher=parallel`)
    each validated epoch is one line naming the job instead: the jobs' bars would take turns on the
    same terminal line, with nothing saying whose bar is shown."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if job_beside_others() is not None:
            self.disable()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        job = job_beside_others()
        if job is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        metrics: dict[str, Any] = trainer.callback_metrics
        loss = f", val/loss {float(metrics['val/loss']):.4f}" if "val/loss" in metrics else ""
        # Epochs counted from 0, as the bars of a single run count them.
        last = f" of 0-{trainer.max_epochs - 1}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        log.info("%s: Epoch %d%s validated%s", job, trainer.current_epoch, last, loss)
