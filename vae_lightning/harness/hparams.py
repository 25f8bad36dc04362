"""TensorBoard's HPARAMS tab: each run's definition beside its val and test loss, what a sweep varies first."""

from __future__ import annotations

from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig
from torch.utils.tensorboard.summary import hparams
from torch.utils.tensorboard.writer import FileWriter

from vae_lightning.harness.definition import run_definition



def swept_keys() -> list[str]:
    """The keys the sweep of this job varies: its folder's name (`clip.value=0.1,seed=0`) names them."""
    if not HydraConfig.initialized():
        return []
    name = str(HydraConfig.get().job.get("override_dirname") or "")
    return [item.partition("=")[0].lstrip("+~") for item in name.split(",") if "=" in item]


def hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    """The run's definition as TensorBoard shows it: `optim/lr`, a class by its name (`optim/_target_`:
    SGD), lists and null as text; the keys the sweep varies first."""
    shown: dict[str, Any] = {}
    for key, value in run_definition(cfg).items():
        name = key.rpartition(".")[2]
        if name == "_partial_":
            continue
        if name == "_target_":
            value = str(value).rpartition(".")[2]
        shown[key.replace(".", "/")] = value if isinstance(value, (int, float, str, bool)) else str(value).lower()
    first = [key.replace(".", "/") for key in swept_keys() if key.replace(".", "/") in shown]
    return {key: shown[key] for key in [*first, *(key for key in shown if key not in first)]}


def log_hparams(trainer: L.Trainer, cfg: DictConfig, results: dict[str, Any]) -> None:
    """Write TensorBoard's hparams summaries, with val/loss and test/loss as the table's columns.

    The table shows each metric's last point, which validation and testing logged already: the
    summaries are written without adding any (Lightning's `log_hyperparams` would add one at a step
    of its own, which smoothing turns into a drop at the end of every val curve).
    """
    metrics = {"val/loss": results["val"].get("loss"), "test/loss": results["test"].get("loss")}
    metrics = {name: value for name, value in metrics.items() if value is not None}
    if not metrics:
        return
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
            # An event file of its own in the run's folder, which TensorBoard reads as part of the run:
            # the logger's own writer is closed once testing ends.
            writer = FileWriter(logger.log_dir)
            for summary in hparams(hyperparameters(cfg), metrics):
                writer.add_summary(summary)
            writer.close()
