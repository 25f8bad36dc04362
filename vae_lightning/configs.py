"""Building objects from configs: plain data only, and only the classes the project's configs name."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from vae_lightning.errors import ConfigError

# conf/ at the project's top: the user's interface, beside train.py.
CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
ALLOWED_TARGETS_VARIABLE = "VAE_LIGHTNING_ALLOWED_TARGETS"
# What the project's code adds to a config, not a file: the checkpoint `callbacks.checkpoint.every_n_train_steps` adds.
GENERATED_TARGETS = frozenset({"vae_lightning.harness.checkpoints.MidEpochCheckpoint"})
# What OmegaConf reads as an interpolation (or a resolver call) inside any string.
INTERPOLATION = "${"
PLAIN_SCALARS = (str, int, float, bool, type(None))


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


@functools.cache
def configured_targets(config_dir: Path = CONFIG_DIR) -> frozenset[str]:
    """Every `_target_` that a YAML file under `config_dir` names, at any depth."""
    found = set()
    for path in config_dir.rglob("*.yaml"):
        found |= {target for _, target in targets(read_config_file(path, config_dir))}
    return frozenset(found)


def read_config_file(path: Path, config_dir: Path) -> Any:
    """A YAML file of a config folder, as plain data; ConfigError naming it and the line where it is not
    YAML: every command reads every file of conf/ and of a --config-dir folder."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise not_yaml(error, config_dir, path=path) from None
    except UnicodeDecodeError as error:  # a file saved in another encoding (latin-1)
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8, or move "
                          f"it out of {config_dir}") from None


def not_yaml(error: yaml.YAMLError, *config_dirs: Path, path: Path | None = None) -> ConfigError:
    """The ConfigError for a file, of one of `config_dirs`, that is not YAML, in one line naming it and the line:
    ours reading it (`read_config_file`), or Hydra's as it composes (a duplicate key, which ours lets pass)."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    path = path or Path(mark.name if mark else getattr(error, "name", ""))
    folder = next((folder for folder in config_dirs if path.is_relative_to(folder)), path.parent)
    problem = getattr(error, "problem", None) or str(error).strip().splitlines()[0]  # a ReaderError's: a NUL byte
    return ConfigError(f"{path}: not valid YAML{where} ({problem}); fix the file, or move it out of {folder}")


def command_line_config_dirs() -> list[Path]:
    """The config folders of the Hydra run under way (conf/ and --config-dir), none outside a run."""
    if not HydraConfig.initialized():
        return []
    sources = HydraConfig.get().runtime.config_sources
    return [Path(source.path) for source in sources if source.schema == "file"]


def allowed_targets() -> frozenset[str]:
    """Every `_target_` in conf/ (a new option is one YAML file there) and, within a run, in the folders
    its command line adds (--config-dir), and the comma-separated full names in $VAE_LIGHTNING_ALLOWED_TARGETS."""
    extra = {name.strip() for name in os.environ.get(ALLOWED_TARGETS_VARIABLE, "").split(",") if name.strip()}
    for folder in command_line_config_dirs():
        extra |= configured_targets(folder)
    return configured_targets() | GENERATED_TARGETS | extra


def allow_config_dir(folder: Path) -> None:
    """Let a command outside a Hydra run (evaluate) build what a --config-dir folder's files name, as
    train.py's --config-dir lets its run: by adding them to this process's $VAE_LIGHTNING_ALLOWED_TARGETS."""
    if not folder.is_dir():
        raise ConfigError(f"--config-dir {folder}: no such folder; give the folder of config groups the run was "
                          f"trained with (train.py's --config-dir)")
    named = set(filter(None, os.environ.get(ALLOWED_TARGETS_VARIABLE, "").split(",")))
    os.environ[ALLOWED_TARGETS_VARIABLE] = ",".join(sorted(named | configured_targets(folder.resolve())))


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
    """Raise ConfigError unless `config` is plain data and every `_target_` in it is allowed."""
    check_plain_data(config, path)
    check_allowed(config, path)


def check_allowed(config: Any, path: str = "") -> None:
    """Raise ConfigError unless every `_target_` in `config` is allowed, by exact name."""
    allowed = allowed_targets()
    for key, target in targets(config, path):
        if target not in allowed:
            raise ConfigError(
                f"{key}={target} is not a class this project's configs name: add a YAML file naming it under "
                f"conf/ (or a --config-dir folder), or, if you trust it, its full name to ${ALLOWED_TARGETS_VARIABLE} "
                f"(comma-separated)"
            )


def instantiate_trusted(config: Any, config_key: str = "", **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, after `check_targets` has accepted `config` (plain data, found at
    `config_key`, which the error names) and every `_target_` in it. Whoever wrote it: a checkpoint or
    a saved config is data from disk, whose every `_target_` would be imported and called, and every
    `${...}` resolved (`${oc.create:{_target_: ...}}` makes a node nothing checked)."""
    check_targets(config, config_key)
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, (ValueError, OverflowError)):  # a constructor's own range check, named by its key unless
            # it says it; or a number past what torch or Lightning store it in (trainer.devices=2**63)
            message = str(cause).strip().splitlines()[0] if str(cause).strip() else repr(cause)
            raise ConfigError(message if message.startswith(config_key) else f"{config_key}: {message}") from None
        if isinstance(cause, MemoryError) and isinstance(config, Mapping):  # a count it makes a list of: the Trainer's
            # list of devices (trainer.devices=2**32); named by the largest whole number the config gives
            numbers = {key: value for key, value in config.items() if type(value) is int}
            largest = max(numbers, key=lambda key: abs(numbers[key]), default=None)
            named = f"{config_key}.{largest}={numbers[largest]}" if largest is not None else config_key or "config"
            raise ConfigError(f"{named}: {config.get('_target_')} ran out of memory building it; give a smaller "
                              f"number") from None
        # An argument the constructor does not take, or of a wrong kind: a config built in its place too
        # (trainer.max_time=${data}: "'MNISTDataModule' object has no attribute 'total_seconds'").
        if isinstance(cause, (TypeError, AttributeError)):
            # torch's own (a size past 64 bits, model.latent_dim=2**63) adds its C++ stack, over many lines.
            raise ConfigError(f"{config_key or 'config'}: {str(cause).strip().splitlines()[0]}") from None
        if isinstance(cause, ImportError) and not str(error).startswith("Error locating target"):
            # The class imported, but its constructor needs a package this machine lacks (precision=transformer-engine).
            raise ConfigError(f"{config_key or 'config'}: {str(cause).splitlines()[0]}; or change the setting of "
                              f"{config_key or 'it'} that needs it") from None
        if isinstance(cause, ImportError):  # an allowed class whose module is not on this machine's path
            missing = str(cause.__cause__ or cause).splitlines()[0]
            raise ConfigError(f"{config_key or 'config'}: _target_ {config.get('_target_')} cannot be imported "
                              f"({missing}); put its module on the PYTHONPATH") from None
        raise
