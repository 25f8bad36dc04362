"""Checks `python train.py`'s command line before Hydra runs anything: one line per mistake, exit 2.

Every job's config (each combination of a sweep) is composed against the schema and its values
checked, so a typo, a wrong type or a value out of range stops the command before any run folder,
log or checkpoint is written, with one line that names the key and what it allows.
"""

from __future__ import annotations

import dataclasses
import re
import sys

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from vae_lightning.errors import ConfigError
from vae_lightning.schema import OWNED_ELSEWHERE, check_ranges

# Flags with which Hydra only prints something: nothing to check.
PRINT_ONLY = ("help", "hydra_help", "info", "cfg", "shell_completion", "experimental_rerun")


def allowed_keys(object_type: type | None) -> str:
    if object_type is None or not dataclasses.is_dataclass(object_type):
        return ""
    names = [field.name for field in dataclasses.fields(object_type) if not field.name.startswith("_")]
    return "; allowed: " + ", ".join(names)


def one_line(error: Exception) -> str:
    """What went wrong and what is allowed, in one line, from Hydra's and OmegaConf's errors."""
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = error.missing_cfg_file.rpartition("/")
        choices = ", ".join(error.options or [])
        return f"{group}={option}: no such option" + (f"; choose one of {choices}" if choices else "")
    cause = error.__cause__ or error.__context__ or error
    # Hydra names the config file whose own content failed: "In 'optim/sgd': ..."
    found = re.match(r"In '([^']+)':", str(error))
    where = f" (in conf/{found.group(1)}.yaml)" if found else ""
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
        owner = OWNED_ELSEWHERE.get(str(cause.full_key).removeprefix("trainer."))
        if owner:
            return f"{cause.full_key}: not set here; it comes from {owner}"
        return f"{cause.full_key}{where}: no such key{allowed_keys(cause.object_type)}"
    if isinstance(cause, ValidationError):
        return f"{cause.full_key}{where}: {str(cause.msg).splitlines()[0]}"
    return str(error).strip().splitlines()[0]


def job_overrides(overrides: list[str], master: DictConfig) -> list[list[str]]:
    """The override list of every job, as the basic sweeper expands them (grid, config params first)."""
    parser = OverridesParser.create()
    params = master.hydra.sweeper.get("params") or {}
    swept = parser.parse_overrides([f"{key}={value}" for key, value in params.items()] + overrides)
    return BasicSweeper.split_arguments(swept, max_batch_size=None)[0]


def compose_checked(config_name: str, overrides: list[str]) -> DictConfig:
    try:
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    except (ConfigCompositionException, OverrideParseException) as error:
        raise ConfigError(one_line(error)) from None
    check_ranges(cfg)
    return cfg


def check_launchable_in_a_sweep(cfg: DictConfig) -> None:
    """Lightning's multi-process strategies start the command line again for each process, which
    would start the whole sweep again: within a sweep, refuse them before anything runs."""
    strategy = str(cfg.trainer.get("strategy", "auto"))
    single = cfg.trainer.get("devices", "auto") == 1 and cfg.trainer.get("num_nodes", 1) == 1
    if strategy.startswith(("ddp", "fsdp", "deepspeed")) and not single:
        raise ConfigError(
            f"trainer.strategy={strategy} cannot run inside a sweep (-m): run each job as a single "
            f"run (python train.py trainer=ddp ...), or sweep with trainer.devices=1"
        )


def check_overrides(config_dir: str, config_name: str, overrides: list[str], multirun: bool) -> int:
    """Compose and check every job the command would run; returns how many there are."""
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as error:
        raise ConfigError(one_line(error)) from None
    task = [override for override in parsed if not override.get_key_element().lstrip("+~").startswith("hydra")]
    fixed = [override.input_line for override in task if not override.is_sweep_override()]
    swept = [override.input_line for override in task if override.is_sweep_override()]
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        master = compose_checked(config_name, fixed)
        multirun = multirun or str(master.hydra.mode) == "RunMode.MULTIRUN" or master.hydra.mode == "MULTIRUN"
        if swept and not multirun:
            raise ConfigError(f"{swept[0]} lists several values: add -m to run them as a sweep")
        jobs = job_overrides(swept, master) if multirun else [[]]
        for job in jobs:
            cfg = compose_checked(config_name, fixed + job)
            if multirun:
                check_launchable_in_a_sweep(cfg)
    return len(jobs)


def check_command_line(arguments: list[str]) -> None:
    """Exit with status 2 and one line on stderr if any job's config is wrong; else return."""
    from vae_lightning.train import CONFIG_DIR

    args, _ = get_args_parser().parse_known_args(arguments)
    if any(getattr(args, flag, None) for flag in PRINT_ONLY):
        return
    try:
        check_overrides(args.config_dir or CONFIG_DIR, args.config_name or "config", args.overrides, args.multirun)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
