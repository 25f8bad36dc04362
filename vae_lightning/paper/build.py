"""Hydra's `instantiate`, restricted to an explicit list of the classes the project's configs build.

A checkpoint or a saved config is data from disk: whatever `_target_` it names would be imported
and called. Only the exact names below (and those a user adds by name) are ever built.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from hydra.utils import instantiate

from vae_lightning.paper.errors import ConfigError

ALLOWED_TARGETS = frozenset({
    # The paper's code.
    "vae_lightning.paper.model.VAE",
    "vae_lightning.paper.model.Autoencoder",
    "vae_lightning.paper.loss.VAELoss",
    "vae_lightning.paper.data.MNISTDataModule",
    "vae_lightning.paper.data.FashionMNISTDataModule",
    "vae_lightning.paper.images.ImageGrids",
    "vae_lightning.paper.gradients.GradientStatistics",
    # What the run harness adds to each run.
    "vae_lightning.harness.checkpoints.RandomState",
    "vae_lightning.harness.checkpoints.AtomicCheckpointIO",
    # Optimizers, the Trainer, its loggers and callbacks, as conf/ names them.
    "torch.optim.SGD",
    "torch.optim.Adam",
    "lightning.Trainer",
    "lightning.pytorch.loggers.TensorBoardLogger",
    "lightning.pytorch.loggers.CSVLogger",
    "lightning.pytorch.callbacks.ModelCheckpoint",
    "lightning.pytorch.callbacks.TQDMProgressBar",
})
ALLOWED_TARGETS_VARIABLE = "VAE_LIGHTNING_ALLOWED_TARGETS"
# Where these classes lived before the package had layers: checkpoints and saved configs on disk
# still name them so.
RENAMED = {
    "vae_lightning.model.VAE": "vae_lightning.paper.model.VAE",
    "vae_lightning.model.Autoencoder": "vae_lightning.paper.model.Autoencoder",
    "vae_lightning.loss.VAELoss": "vae_lightning.paper.loss.VAELoss",
    "vae_lightning.data.MNISTDataModule": "vae_lightning.paper.data.MNISTDataModule",
    "vae_lightning.data.FashionMNISTDataModule": "vae_lightning.paper.data.FashionMNISTDataModule",
}


def allowed_targets() -> frozenset[str]:
    """The built-in list plus the comma-separated full names in $VAE_LIGHTNING_ALLOWED_TARGETS."""
    extra = {name.strip() for name in os.environ.get(ALLOWED_TARGETS_VARIABLE, "").split(",") if name.strip()}
    return ALLOWED_TARGETS | extra


def targets(config: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every `_target_` in a nested config, with the dotted key that holds it."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            key_path = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                yield key_path, str(value)
            else:
                yield from targets(value, key_path)
    elif isinstance(config, (list, tuple)):
        for index, value in enumerate(config):
            yield from targets(value, f"{path}[{index}]")


def renamed(config: Any) -> Any:
    """A copy of a plain config in which every `_target_` of an earlier version has its current name."""
    if isinstance(config, Mapping):
        return {key: RENAMED.get(value, value) if key == "_target_" else renamed(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [renamed(value) for value in config]
    return config


def check_targets(config: Any, path: str = "") -> None:
    """Raise ConfigError unless every `_target_` in `config` is on the allowed list, by exact name."""
    allowed = allowed_targets()
    for key, target in targets(config, path):
        if target not in allowed:
            raise ConfigError(
                f"{key}={target} is not a class this project builds; if you trust it, add its full name "
                f"to ${ALLOWED_TARGETS_VARIABLE} (comma-separated), e.g. {ALLOWED_TARGETS_VARIABLE}={target}"
            )


def instantiate_trusted(config: Any, config_key: str = "", **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, after `check_targets` has accepted every `_target_` in `config`
    (found at `config_key`, which the error names)."""
    config = renamed(config)
    check_targets(config, config_key)
    return instantiate(config, **kwargs)
