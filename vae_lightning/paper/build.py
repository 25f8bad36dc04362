"""Hydra's `instantiate`, restricted to plain data and to an explicit list of the classes the configs build.

A checkpoint or a saved config is data from disk: whatever `_target_` it names would be imported
and called, and every `${...}` in it would be resolved by OmegaConf (`${oc.create:{_target_: ...}}`
makes a node nothing checked). Only plain data, naming only the exact classes below (and those a
user adds by name), is ever built.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from hydra.errors import InstantiationException
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


# What OmegaConf reads as an interpolation (or a resolver call) inside any string.
INTERPOLATION = "${"
PLAIN_SCALARS = (str, int, float, bool, type(None))


def check_plain_data(config: Any, path: str = "") -> None:
    """Raise ConfigError unless `config` is made of dicts, lists and scalars only, with no `${` in any
    string: a resolved config never holds one, and in data from disk it would call code."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            key_path = f"{path}.{key}" if path else str(key)
            if not isinstance(key, (str, int)) or INTERPOLATION in str(key):
                raise ConfigError(f"{key_path}: not a plain key; configs and checkpoints hold plain data only")
            check_plain_data(value, key_path)
    elif isinstance(config, (list, tuple)):
        for index, value in enumerate(config):
            check_plain_data(value, f"{path}[{index}]")
    elif not isinstance(config, PLAIN_SCALARS):
        raise ConfigError(f"{path or 'the config'} is a {type(config).__name__}: configs and checkpoints hold "
                          f"plain data only (dicts, lists, numbers, strings)")
    elif isinstance(config, str) and INTERPOLATION in config:
        raise ConfigError(f"{path or 'the config'}={config!r} holds an interpolation ${{...}}: data read back from "
                          f"a checkpoint or saved config is never resolved; pass plain values")


def check_targets(config: Any, path: str = "") -> None:
    """Raise ConfigError unless `config` is plain data and every `_target_` in it is on the allowed
    list, by exact name."""
    check_plain_data(config, path)
    allowed = allowed_targets()
    for key, target in targets(config, path):
        if target not in allowed:
            raise ConfigError(
                f"{key}={target} is not a class this project builds; if you trust it, add its full name "
                f"to ${ALLOWED_TARGETS_VARIABLE} (comma-separated), e.g. {ALLOWED_TARGETS_VARIABLE}={target}"
            )


def instantiate_trusted(config: Any, config_key: str = "", **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, after `check_targets` has accepted `config` (plain data, found at
    `config_key`, which the error names) and every `_target_` in it."""
    config = renamed(config)
    check_targets(config, config_key)
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ValueError):  # a constructor's own range check, in the config's words
            raise ConfigError(str(cause)) from None
        if isinstance(cause, TypeError):  # an argument the constructor does not take, or of a wrong kind
            raise ConfigError(f"{config_key or 'config'}: {cause}") from None
        raise
