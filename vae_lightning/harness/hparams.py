"""TensorBoard's HPARAMS tab: each run's definition beside its losses; TensorBoard lists what a sweep varies first."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig
from torch.utils.tensorboard.summary import hparams
from torch.utils.tensorboard.writer import FileWriter

from vae_lightning.harness.definition import run_definition


def hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    """The run's definition as TensorBoard shows it: `optim/lr`, a class by its name (`optim/_target_`:
    SGD), lists and null as text."""
    shown: dict[str, Any] = {}
    for key, value in run_definition(cfg).items():
        name = key.rpartition(".")[2]
        if name == "_partial_":
            continue
        if name == "_target_":
            value = str(value).rpartition(".")[2]
        shown[key.replace(".", "/")] = value if isinstance(value, (int, float, str, bool)) else str(value).lower()
    return shown


def log_hparams(trainer: L.Trainer, cfg: DictConfig, results: dict[str, Any]) -> None:
    """Write the run's session to TensorBoard's HPARAMS tab, once it has a val or test loss.

    Only the session's start and end are written, no experiment summary: TensorBoard takes the
    first run's experiment as it stands, sorted by name, but computes one from the sessions when
    there is none, marking the hyperparameters whose values differ between runs and listing those
    first. The metrics it then finds are every scalar of the runs,
    val/loss and test/loss among them, each shown at its last point, which validation and testing
    logged already: no point is added (Lightning's `log_hyperparams` would add one at a step of its
    own, which smoothing turns into a drop at the end of every val curve).
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
            _, session_start, session_end = hparams(hyperparameters(cfg), metrics)
            writer.add_summary(session_start)
            writer.add_summary(session_end)
            writer.close()
