"""Hydra's `instantiate`, restricted to classes of trusted packages, for configs read back from disk."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Mapping
from typing import Any

from hydra.utils import get_class, instantiate

from vae_lightning.errors import ConfigError

TRUSTED_PACKAGES = ("vae_lightning", "torch", "torchvision", "lightning")
TRUSTED_PACKAGES_VARIABLE = "VAE_LIGHTNING_TRUSTED_PACKAGES"


def trusted_packages() -> tuple[str, ...]:
    """The built-in allowlist plus the comma-separated packages named in $VAE_LIGHTNING_TRUSTED_PACKAGES."""
    extra = [name.strip() for name in os.environ.get(TRUSTED_PACKAGES_VARIABLE, "").split(",") if name.strip()]
    return TRUSTED_PACKAGES + tuple(extra)


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


def check_targets(config: Any, path: str = "") -> None:
    """Raise ConfigError unless every `_target_` names a class of a trusted package."""
    allowed = trusted_packages()
    for key, target in targets(config, path):
        if target.split(".")[0] not in allowed:
            raise ConfigError(
                f"{key}={target} is outside the trusted packages ({', '.join(allowed)}); "
                f"if you trust it, add its package to ${TRUSTED_PACKAGES_VARIABLE}"
            )
        try:
            located = get_class(target)
        except (ImportError, ValueError) as error:
            raise ConfigError(f"{key}={target} is not a class that can be imported: {error}") from None
        if not inspect.isclass(located):
            raise ConfigError(f"{key}={target} is not a class; only classes may be instantiated")


def instantiate_trusted(config: Any, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, after `check_targets` has accepted every `_target_` in `config`."""
    check_targets(config)
    return instantiate(config, **kwargs)
