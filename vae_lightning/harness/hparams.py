"""TensorBoard's HPARAMS tab: each run's defining hyperparameters beside its val and test loss."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

# The groups that define what a run is; the trainer, loggers and callbacks say how it runs.
DEFINING_GROUPS = ("model", "loss", "optim", "clip", "data")
# Data keys that say where the data is, not which data it is.
LOCATION_KEYS = ("root", "download")
METRICS = ("val/loss", "test/loss")


def short_targets(group: dict[str, Any]) -> dict[str, Any]:
    """A group's arguments with `_target_` as the class name alone (VAE, SGD) and no `_partial_`."""
    return {
        key: value.rpartition(".")[2] if key == "_target_" else value
        for key, value in group.items()
        if key != "_partial_"
    }


def defining_hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    """model, loss, optim, clip and data (less where it lives) and the seed: what tells a sweep's runs apart."""
    config = OmegaConf.to_container(cfg, resolve=True)
    chosen = {group: short_targets(config[group] or {}) for group in DEFINING_GROUPS}
    chosen["data"] = {key: value for key, value in chosen["data"].items() if key not in LOCATION_KEYS}
    return {**chosen, "seed": config["seed"]}


def log_comparison(trainer: L.Trainer, cfg: DictConfig, metrics: dict[str, float], x: int) -> None:
    """Write TensorBoard's hparams summary with `metrics` (val/loss, test/loss) as its columns.

    Lightning writes the metrics' values as scalars too, at `x`: the x of test/loss, after every
    val/loss point, so that TensorBoard (whose table shows each metric's last value) shows these.
    """
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(defining_hyperparameters(cfg), metrics=metrics, step=x)
