"""Checks `python train.py`'s command line before Hydra runs anything: every job's config composed
and checked, one line per mistake and exit 2 before any folder, log or checkpoint is written."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import locale
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NamedTuple, NoReturn

import yaml

from hydra import compose, initialize_config_dir, initialize_config_module
# hydra.core: the compose API gives no way to list a group's options (the config loader of GlobalHydra does,
# as Hydra's --help and glob() do), nor to resolve ${hydra:...} outside a run but by setting HydraConfig's
# config, as Hydra itself does before a job runs; Override is what the override parser (`sweeps`) returns.
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from hydra.utils import get_class
from lightning.pytorch.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from omegaconf import DictConfig, ListConfig, OmegaConf, flag_override
from omegaconf.errors import (ConfigAttributeError, ConfigKeyError, InterpolationResolutionError,
                              InterpolationToMissingValueError, MissingMandatoryValue, ValidationError)

from hydra_plugins.vae_lightning_launcher import ParallelLauncher, SlurmLauncher
from vae_lightning.harness import sweeps
from vae_lightning.harness.checkpoints import RandomState, checkpoint_to_resume
from vae_lightning.harness.definition import names_the_run, run_definition
from vae_lightning.harness.runs import (LOCK_FILE, claim_fresh_dir, holds_checkpoints, holds_run, job_overrides,
                                       lock_run_dir, refuse_if_taken, refuse_unfit_folder, run_name)
from vae_lightning.harness.runs import job_dir as job_folder_name
from vae_lightning.harness.schema import (OWNED_ELSEWHERE, REQUIRED_GROUPS, check_accelerator, check_by_building,
                                         check_ranges, check_structure, constructor_keys, drop_local_keys_not_taken,
                                         in_a_job_folder, option_file, owned_elsewhere, register_schemas)
from vae_lightning import files
from vae_lightning.configs import (CONFIG_DIR, allowed_targets, check_allowed, configured_targets, instantiate_trusted,
                                   not_yaml)
from vae_lightning.errors import ConfigError, UserInputError, say_error

# Flags with which Hydra only prints something or completes the shell: no job runs.
PRINT_ONLY = ("help", "hydra_help", "version", "info", "cfg", "shell_completion")
# What Hydra's --shell-completion does, given as `install=bash`.
SHELL_COMPLETION = ("install", "uninstall", "query")
# Hydra's submitit launchers start every job as a Slurm job (or a local process) of its own.
SUBMITIT_PLUGIN = "hydra_plugins.hydra_submitit_launcher"
PARALLEL_LAUNCHER = f"{ParallelLauncher.__module__}.{ParallelLauncher.__qualname__}"
SLURM_LAUNCHER = f"{SlurmLauncher.__module__}.{SlurmLauncher.__qualname__}"


class Job(NamedTuple):
    """A job the command would run: its overrides within the sweep (none for a single run), what it is,
    its data's download when its files are still to fetch (`check_data`), and whether a callback of it
    restores the random generators a checkpoint holds (`restores_random_state`)."""

    overrides: list[str]
    definition: dict[str, Any]
    download: Callable[[], Any] | None
    restores_random: bool


def command_line_parser() -> argparse.ArgumentParser:
    """Every flag of Hydra 1.3, as its documentation lists them
    (https://hydra.cc/docs/advanced/hydra-command-line-flags/): Hydra has no public way to read its
    command line before it runs, and tests/harness/test_command_line.py fails if its parser differs.
    add_help=False: --help is Hydra's to answer once the check has let the command through; --version
    likewise (Hydra's parser prints and exits as it parses). exit_on_error=False: a flag's bad value is the
    check's one line (`parse_command_line`), not argparse's usage and exit."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--help", "-h", action="store_true")
    parser.add_argument("--hydra-help", action="store_true")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--cfg", "-c", choices=["job", "hydra", "all"])
    parser.add_argument("--resolve", action="store_true")
    parser.add_argument("--package", "-p")
    parser.add_argument("--run", "-r", action="store_true")
    parser.add_argument("--multirun", "-m", action="store_true")
    parser.add_argument("--shell-completion", "-sc", action="store_true")
    parser.add_argument("--config-path", "-cp")
    parser.add_argument("--config-name", "-cn")
    parser.add_argument("--config-dir", "-cd")
    parser.add_argument("--experimental-rerun")
    parser.add_argument("--info", "-i", nargs="?", const="all",
                        choices=["all", "config", "defaults", "defaults-tree", "plugins", "searchpath"])
    return parser


def parse_command_line(arguments: list[str]) -> argparse.Namespace:
    """Hydra's reading of the command line: .overrides, .multirun, .config_dir, .config_name, ...; ConfigError
    naming a flag whose value Hydra's parser refuses (`--cfg bogus`, `--package` without one)."""
    try:
        return command_line_parser().parse_known_args(arguments)[0]
    except argparse.ArgumentError as error:
        flag = (error.argument_name or "").partition("/")[0]
        raise ConfigError(f"{flag}: {error.message} (python train.py --hydra-help lists Hydra's flags)") from None


def refuse_misused_flags(arguments: list[str], args: argparse.Namespace) -> None:
    """Raise ConfigError for flags Hydra fails on (printing its usage, or a traceback) only once the check has
    claimed the run's folder: an argument its parser cannot read, two flags that each say what the command
    does (Hydra takes one), or --resolve without the --cfg or --help whose config it resolves."""
    unread = command_line_parser().parse_known_args(arguments)[1]
    if unread and unread[0].startswith("-"):
        raise ConfigError(f"{unread[0]}: no such flag (python train.py --hydra-help lists Hydra's); give settings "
                          f"as key=value overrides")
    if unread:  # an override apart from the first group of them (`a=1 -m b=2`)
        raise ConfigError(f"{unread[0]}: Hydra reads the overrides as one group of words, and this one stands apart "
                          f"from it; put the flags first: python train.py [flags] key=value ...")
    given = [flag for flag, on in (("--run", args.run), ("--multirun", args.multirun), ("--cfg", args.cfg),
                                   ("--info", args.info), ("--shell-completion", args.shell_completion)) if on]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)}: Hydra takes one of --run, --multirun, --cfg, --info and "
                          f"--shell-completion; drop all but one")
    if args.resolve and args.cfg is None and not args.help:
        raise ConfigError("--resolve resolves the config that --cfg or --help prints, and this command prints none; "
                          "add --cfg job, or drop --resolve")


def check_printed(cfg: DictConfig, args: argparse.Namespace) -> None:
    """Select and resolve the part of `cfg` that --cfg (job, hydra or all; --help: the job's) prints, as
    Hydra will: a --package it lacks was Hydra's exit 1, and an interpolation that --resolve cannot resolve
    (`optim.lr=${nope}`) Hydra's traceback; InterpolationResolutionError names the key."""
    HydraConfig.instance().set_config(cfg)  # for ${hydra:...}
    kept = {"hydra": ["hydra"], "all": list(cfg)}.get(args.cfg, [key for key in cfg if key != "hydra"])
    printed = copy.deepcopy(cfg)
    OmegaConf.set_readonly(printed.hydra, None)  # as Hydra's show_cfg
    with flag_override(printed, ["struct", "readonly"], [False, False]):
        for key in [key for key in printed if key not in kept]:
            del printed[key]
    node = printed
    if args.cfg and args.package not in (None, "_global_"):
        node = OmegaConf.select(printed, args.package)
        if node is None:
            raise ConfigError(f"--package {args.package}: no such key in the config --cfg {args.cfg} prints; give "
                              f"one of its keys (-p optim), or drop the flag")
    if args.resolve and OmegaConf.is_config(node):
        resolve_each(node)


def resolve_each(node: DictConfig | ListConfig) -> None:
    """Resolve every value within `node` as OmegaConf.resolve does, which leaves ??? a value that
    interpolates one still ??? (hydra.job.num, before a job runs), but raise the error with its key."""
    # The job's keys before hydra's, whose hydra.overrides repeat the command line's values as text.
    keys = sorted(node.keys(), key=lambda key: key == "hydra") if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        try:
            value = node[key]
        except (InterpolationToMissingValueError, MissingMandatoryValue):
            continue
        if OmegaConf.is_config(value):
            resolve_each(value)


def runs_nothing(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag) for flag in PRINT_ONLY)


def refuse_pickled_config(args: argparse.Namespace) -> None:
    """Hydra's --experimental-rerun unpickles the file it names, and unpickling runs whatever code it holds."""
    if args.experimental_rerun is not None:
        raise ConfigError(f"--experimental-rerun {args.experimental_rerun}: a pickled config can run any code, and "
                          f"this project loads none; run the job again with its overrides (<run>/.hydra/overrides.yaml)"
                          f", or continue it with hydra.run.dir=<run> resume=true")


def config_folders(overrides: list[str]) -> list[Path]:
    """conf/, then the --config-dir folder (`primary_configs`' override), in the order Hydra reads them."""
    searched = sweeps.parse([override for override in overrides if override.startswith("hydra.searchpath=")])
    return [CONFIG_DIR, *(Path(source.removeprefix("file://")) for override in searched for source in override.value())]


def one_line(error: Exception, config_name: str, overrides: list[str]) -> str:
    """What went wrong and what is allowed, in one line, from Hydra's and OmegaConf's errors."""
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = error.missing_cfg_file.rpartition("/")
        choices = ", ".join(error.options or [])
        if not group:  # the primary config
            return f"--config-name {option}: no such config in the config folder; drop the flag to use config.yaml"
        return f"{group}={option}: no such option" + (f"; choose one of {choices}" if choices else "")
    cause = error.__cause__ or error.__context__ or error
    if isinstance(cause, InterpolationResolutionError):  # `hydra.overrides.task=${now:}`: Hydra's own says nothing
        return unresolved(cause)
    # Hydra names the config file whose own content failed: "In 'optim/sgd': ..."
    found = re.match(r"In '([^']+)':", str(error))
    file = option_file(found.group(1), config_folders(overrides)) if found else None
    shown = f"conf/{found.group(1)}.yaml" if found and (file is None or file.is_relative_to(CONFIG_DIR)) else file
    where = f" (in {shown})" if found else ""
    group = found.group(1).partition("/")[0] if found else None
    full_key = str(getattr(cause, "full_key", None))
    if group and (full_key == group or f"@{group}." in str(error)):  # its keys landed under `experiment.`
        return (f"conf/{found.group(1)}.yaml sets keys of the whole config, but without `# @package _global_` as "
                f"its first line they land under `{group}.`: add that line, as conf/{group}/'s own files have")
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
        owner = OWNED_ELSEWHERE.get(str(cause.full_key).removeprefix("trainer."))
        if owner:
            return f"{cause.full_key}: not set here; it comes from {owner}"
        return f"{cause.full_key}{where}: no such key{allowed_keys(cause, config_name, overrides)}"
    if isinstance(cause, ValidationError):
        return f"{cause.full_key}{where}: {str(cause.msg).splitlines()[0]}"
    return str(error).strip().splitlines()[0]


def composed(config_name: str, overrides: list[str]) -> DictConfig:
    """The job's config as Hydra composes it; ConfigError, in one line, where it cannot."""
    try:
        return compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    except ConfigCompositionException as error:
        raise ConfigError(one_line(error, config_name, overrides)) from None
    except ValueError as error:  # Hydra's own for `group=null`, and OmegaConf's, which name no override
        raise ConfigError(unappliable(config_name, overrides, error)) from None
    except yaml.YAMLError as error:  # Hydra's reading of an option's file (a --config-dir's, or the optional local/)
        raise not_yaml(error, *config_folders(overrides)) from None
    except KeyError as error:  # Hydra copies each of hydra.job.env_copy from the environment as it composes
        raise ConfigError(f"hydra.job.env_copy: this environment has no variable {error.args[0]} to copy into the "
                          f"jobs; set it, or leave it out of the list") from None


def compose_checked(config_name: str, overrides: list[str], multirun: bool) -> tuple[DictConfig, int]:
    """The job's config, checked, and the processes it would train in (`check_by_building`)."""
    cfg = composed(config_name, overrides)
    try:  # `optim.lr=???`, which the run would have left to the constructor's default
        for key in cfg:
            if key != "hydra" and OmegaConf.is_config(cfg[key]):
                OmegaConf.to_container(cfg[key], throw_on_missing=True)
    except MissingMandatoryValue as error:
        raise ConfigError(f"{error.full_key}: has no value (???); give it one: {error.full_key}=<value>") from None
    for plugin in ("launcher", "sweeper"):  # Hydra runs every command with both (hydra.launcher=null: a traceback)
        if not OmegaConf.is_missing(cfg.hydra, plugin) and cfg.hydra[plugin] is None:  # `~hydra/launcher` is ???
            raise ConfigError(f"hydra.{plugin}=null: Hydra runs every command with one; choose an option of "
                              f"hydra/{plugin}, or drop the override")
    # A Slurm sweep's jobs run on the cluster's nodes: a login node without their GPUs submits them.
    runs_here = not (runs_on_slurm(cfg.hydra.launcher) and (multirun or str(cfg.hydra.mode) == "RunMode.MULTIRUN"))
    # As within the run: the classes its config folders name are the ones it may build.
    HydraConfig.instance().set_config(cfg)
    check_allowed({key: value for key, value in OmegaConf.to_container(cfg).items() if key != "hydra"})
    try:
        with in_a_job_folder(cfg):
            drop_local_keys_not_taken(cfg, cfg.hydra)
            check_structure(cfg)
            check_ranges(cfg)
            check_accelerator(cfg, runs_here)
            return cfg, check_by_building(cfg, runs_here)
    except InterpolationResolutionError as error:  # `optim.lr=${nope}`, `${oc.env:UNSET}`
        raise ConfigError(unresolved(error)) from None


def unresolved(error: InterpolationResolutionError) -> str:
    """One line for a value whose interpolation cannot be resolved, or resolves to a value of a wrong type."""
    return f"{error.full_key}: {str(error.msg).splitlines()[0]}; fix the interpolation, or give a value"


def allowed_keys(cause: ConfigKeyError | ConfigAttributeError, config_name: str, overrides: list[str]) -> str:
    """What the node of the key `cause` names takes: its schema's fields; for an option without a schema
    (a new file, such as conf/optim/adamw.yaml), the keys its class takes, where Hydra knows only that
    the key is not there; else how to add it."""
    key = str(cause.full_key)
    if dataclasses.is_dataclass(cause.object_type):
        names = [field.name for field in dataclasses.fields(cause.object_type) if not field.name.startswith("_")]
        return "; allowed: " + ", ".join(names) if names else f"; {key.rpartition('.')[0] or 'it'} takes none"
    # A node without a schema (hydra.sweeper.pruner) takes a key its class takes once `+` adds it.
    added = f"; to add it: +{key}=<value>"
    others = [override.input_line for override in sweeps.parse(overrides) if override.key_or_group != key]
    try:
        cfg = compose(config_name=config_name, overrides=others, return_hydra_config=True)
    except (ConfigCompositionException, OverrideParseException, ValueError):
        return added
    HydraConfig.instance().set_config(cfg)  # whose --config-dir folder's classes are allowed too
    node_key = key.rpartition(".")[0]
    node = OmegaConf.select(cfg, node_key)
    target = str(node.get("_target_")) if isinstance(node, DictConfig) else None
    keys = constructor_keys(target) if target in allowed_targets() else None
    keys = keys and [name for name in keys if name not in owned_elsewhere(node_key, node)]
    # A key its class takes, which the option's file leaves out, is added with `+`.
    return f"; allowed: {', '.join(keys)}" if keys and key.rpartition(".")[2] not in keys else added


def unappliable(config_name: str, overrides: list[str], error: ValueError) -> str:
    """One line naming the first override Hydra cannot apply, for a ValueError of Hydra's or OmegaConf's that
    names none: one that sets a config group to null, which Hydra cannot compose, else one that fails even
    alone (`trainer.plugins.x=1`: a key into a list)."""
    loader = GlobalHydra.instance().config_loader()
    for override in sweeps.parse(overrides):
        group = override.key_or_group
        options = loader.get_group_options(group) if override.value() is None else []
        if options and group in REQUIRED_GROUPS:
            return f"{override.input_line}: a run needs one {group}; choose one of {', '.join(options)}"
        if options:
            return (f"{override.input_line}: a config group takes one of its options, not null; to run without "
                    f"it, remove it: ~{group}")
    for override in overrides:
        try:
            compose(config_name=config_name, overrides=[override], return_hydra_config=True)
        except ValueError:
            listed = "; a list's entries are set by number (key.0), or whole" if "int()" in str(error) else ""
            return f"{override}: cannot be set ({error}){listed}"
        except (ConfigCompositionException, OverrideParseException):  # its own error, said once the other is mended
            continue
    return str(error)


def check_data(cfg: DictConfig, world: int, checked: dict[str, dict[str, int] | None]) -> Callable[[], Any] | None:
    """Let the data module check its files (both splits) and data.val_size, once per data config, and
    check the trainer's batch limits against the batches it serves each of the run's `world` processes.
    Returns its download, then its check, where the files are still to fetch (data.download=true)."""
    data_config = OmegaConf.to_container(cfg.data, resolve=True)
    if cfg.hydra.job.chdir and "root" in data_config and not os.path.isabs(data_config["root"]):
        # The check reads the data from here, the job from its output folder.
        raise ConfigError(f"data.root={data_config['root']} is relative, but hydra.job.chdir=true runs each job in its "
                          f"own folder: give an absolute data.root, e.g. data.root=$PWD/{data_config['root']}")
    checked_as = repr((data_config, world))
    if checked_as not in checked:
        datamodule = instantiate_trusted(data_config, "data")
        check_files = getattr(datamodule, "check_files", None)
        checked[checked_as] = check_files(world) if check_files is not None else None
        if check_files is not None and checked[checked_as] is None:

            def download() -> None:
                datamodule.prepare_data()
                check_files(world)

            return download
    if checked[checked_as]:
        check_batch_limits(cfg.trainer, checked[checked_as], world, cfg.get("x_axis", "step"))
    return None


def check_batch_limits(trainer: DictConfig, batches: dict[str, int], world: int, x_axis: str) -> None:
    """What Lightning refuses only once fit starts, after the run folder is made: a fraction of a split
    too small to keep one of its batches, and a val_check_interval of more batches than an epoch
    has, counted as each of the `world` processes' epoch (of val and test, the smallest share's); and,
    with `x_axis` epoch, one that validates more than once an epoch."""
    kept, each = dict(batches), f" in each of its {world} processes" if world > 1 else ""
    smallest = f" in the smallest share of its {world} processes" if world > 1 else ""
    # Lightning takes trainer.overfit_batches, where it is set, as the limit of both train and val.
    overfit = trainer.get("overfit_batches") or 0
    for split, count in batches.items():
        key = "overfit_batches" if overfit and split in ("train", "val") else f"limit_{split}_batches"
        limit = trainer.get(key)
        if isinstance(limit, float) and limit > 1:  # Lightning takes a whole float past 1 as a count (1e308 too)
            limit = int(limit)
        if isinstance(limit, int):
            kept[split] = min(count, limit)
        elif isinstance(limit, float):
            kept[split] = int(count * limit)
            if count and limit > 0 and not kept[split]:
                least = math.ceil(10_000 / count) / 10_000
                raise ConfigError(f"trainer.{key}={limit} keeps none of the {count} {split} batches{smallest}: give "
                                  f"at least {least}, or a number of batches (trainer.{key}=1)")
    interval = trainer.get("val_check_interval")
    per_epoch = trainer.get("check_val_every_n_epoch", 1) is not None
    if type(interval) is int and per_epoch and interval > kept["train"]:
        raise ConfigError(f"trainer.val_check_interval={interval} is more than an epoch's {kept['train']} training "
                          f"batches{each}: give at most {kept['train']}, a fraction of an epoch (0.5), or "
                          f"trainer.check_val_every_n_epoch=null to count batches across epochs")
    trained = run_batches(trainer, kept["train"])
    if type(interval) is int and not per_epoch and trained is not None and interval > trained:
        # No validation in training: no val curve, and no checkpoint (each is saved as a validation ends).
        raise ConfigError(f"trainer.val_check_interval={interval} with trainer.check_val_every_n_epoch=null validates "
                          f"every {interval} training batches of the run, which trains {trained}{each}: it would "
                          f"never validate, nor keep a checkpoint; give at most {trained}")
    # Lightning validates every `every` batches (of the epoch, or of the run with check_val_every_n_epoch=null).
    every = (interval if type(interval) is int
             else max(1, int(kept["train"] * interval)) if type(interval) is float else None)
    if x_axis == "epoch" and every and (kept["train"] // every > 1 if per_epoch else every < kept["train"]):
        # Every validation of an epoch would be written at x = that epoch: TensorBoard keeps a curve's last
        # point at an x, so all but the epoch's last validation would vanish from its charts and images.
        raise ConfigError(f"x_axis=epoch puts each validation at its epoch, but trainer.val_check_interval={interval} "
                          f"validates more than once in an epoch of {kept['train']} training batches{each}, and "
                          f"TensorBoard would show only the last of them: use x_axis=step, or validate once an epoch")


def run_batches(trainer: DictConfig, per_epoch: int) -> int | None:
    """The training batches the whole run takes, `per_epoch` an epoch, within trainer.max_epochs and
    max_steps (optimizer steps of accumulate_grad_batches batches); None when neither bounds it."""
    epochs, steps = trainer.get("max_epochs"), trainer.get("max_steps")
    bounds = [epochs * per_epoch] if type(epochs) is int and epochs >= 1 else []
    if type(steps) is int and steps >= 1:
        bounds.append(steps * trainer.get("accumulate_grad_batches", 1))
    return min(bounds, default=None)


def check_a_folder_per_job(command_config: DictConfig) -> None:
    """Raise ConfigError for a sweep whose hydra.sweep.subdir names one folder for all its jobs, where
    each would start over the one before."""
    subdir = OmegaConf.to_container(command_config.hydra.sweep, resolve=False)["subdir"]
    if "${" not in str(subdir):
        raise ConfigError(f"hydra.sweep.subdir={subdir} puts every job of the sweep in one folder; name each "
                          f"job's, e.g. hydra.sweep.subdir='${{hydra.job.num}}', or leave it to conf/config.yaml")


def check_config_subdir(command_config: DictConfig) -> None:
    """Raise ConfigError for a hydra.output_subdir other than conf/config.yaml's: a sweep's report and
    resume=true find each job's config in .hydra/ (with null, or another folder, the sweep said it ran no
    jobs and wrote no figure, exit 0), and a resumed run's goes beside the original, which it overwrote."""
    subdir = OmegaConf.to_container(command_config.hydra, resolve=False)["output_subdir"]
    if "${config_subdir:" not in str(subdir):
        given = "null" if subdir is None else subdir
        raise ConfigError(f"hydra.output_subdir={given}: each run keeps its config in .hydra/ (a resumed run's in "
                          f".hydra/resumed-<time>/ beside it), where resume=true and a sweep's summary find it; drop "
                          f"the override")


def check_writable(value: str, key: str) -> None:
    """Raise ConfigError unless the folder `value` names, or the nearest folder above it that exists, can
    be written: an empty value would be the working folder, and nothing expands `~` but a shell."""
    if not value:
        raise ConfigError(f"{key} is empty, which would write into the working folder; give the folder, "
                          f"e.g. {key}=outputs/my-run")
    if value.startswith("~"):
        # ~user/... is that user's home, which this machine names (or, for a user it lacks, no example).
        written = f"$HOME{value[1:]}" if value[1:2] in ("", "/") else os.path.expanduser(value)
        example = f", e.g. {key}={written}" if written != value else ""
        raise ConfigError(f"{key}={value}: nothing expands '~' here (a folder named '~' would be made); "
                          f"write the path out{example}")
    try:
        value.encode()
    except UnicodeEncodeError:
        # Under an ASCII locale without Python's UTF-8 mode (PYTHONUTF8=0), a letter beyond ASCII reaches Python
        # as undecodable bytes, and TensorBoard, which writes its paths as UTF-8, failed the run with a traceback.
        shown = value.encode(errors="surrogateescape").decode(errors="replace")
        raise ConfigError(f"{key}={shown}: this locale ({locale.setlocale(locale.LC_CTYPE)}) cannot read the "
                          f"folder's name, which TensorBoard cannot then write to; run under a UTF-8 locale "
                          f"(LC_ALL=C.UTF-8), or name the folder in ASCII") from None
    files.check_writable(Path(value), f"{key}={value}", f"choose another {key}, or make it writable")


def check_validated(cfg: DictConfig) -> None:
    """A sweep's jobs are compared by their val loss (summary.md, the figures, a search's objective):
    a job that validates on nothing would end with none, and one without its csv/metrics.csv
    (`analysis.plot` reads each job's) would be left out of the summary and the figures."""
    for key in ("data.val_size", "trainer.limit_val_batches"):
        if OmegaConf.select(cfg, key) == 0:
            raise ConfigError(f"{key}=0 leaves a sweep's jobs no val loss to be compared by (summary, figures, a "
                              f"search's objective); validate on some images, or run single runs")
    every, epochs = cfg.trainer.get("check_val_every_n_epoch", 1), cfg.trainer.get("max_epochs")
    if every is not None and type(epochs) is int and 1 <= epochs < every:
        raise ConfigError(f"trainer.check_val_every_n_epoch={every} is more than trainer.max_epochs={epochs}, which "
                          f"leaves a sweep's jobs no val curve for the summary and figures; give at most {epochs}")
    fast_dev_run = cfg.trainer.get("fast_dev_run")
    if fast_dev_run:  # Lightning's check of a setup: it turns every logger off, csv/metrics.csv too
        raise ConfigError(f"trainer.fast_dev_run={fast_dev_run} runs each job without its loggers, but a sweep's "
                          f"summary and figures read each job's csv/metrics.csv; check a setup with debug=fast, "
                          f"or run single runs")
    loggers = (cfg.get("logger") or {}).values()
    if not any(str(node.get("_target_")).endswith(".CSVLogger") and node.get("name") == "csv"
               and node.get("version") == "" for node in loggers):
        raise ConfigError("logger: a sweep's summary and figures read each job's csv/metrics.csv, which no logger "
                          "here writes; keep logger.csv (logger=default or logger=csv), or run single runs")


def check_launchable_in_a_sweep(cfg: DictConfig, world: int) -> None:
    """Lightning starts the command line again for each process of a run in `world` > 1 (DDP, which
    `trainer.devices=2` alone chooses), which would start the whole sweep again: within a local sweep,
    refuse it before anything runs. On Slurm, Slurm starts the processes."""
    if runs_on_slurm(cfg.hydra.launcher):
        # Lightning runs one process per Slurm task: tasks per node must equal trainer.devices, and
        # nodes trainer.num_nodes, or the job would hang or run the same training twice.
        for task_key, device_key in (("tasks_per_node", "devices"), ("nodes", "num_nodes")):
            tasks, devices = cfg.hydra.launcher.get(task_key, 1), cfg.trainer.get(device_key, 1)
            if tasks != devices:
                raise ConfigError(
                    f"hydra.launcher.{task_key}={tasks} but trainer.{device_key}={devices}: on Slurm each device "
                    f"is one task; set both to the same number"
                )
        # Submitted, such a job is warned as it starts: killed outright, or requeued over and over, never trained.
        warned, limit = cfg.hydra.launcher.get("signal_delay_s"), cfg.hydra.launcher.timeout_min
        if warned is not None and warned >= limit * 60:
            raise ConfigError(f"hydra.launcher.signal_delay_s={warned} is not less than hydra.launcher.timeout_min="
                              f"{limit} ({limit * 60} s): Slurm would send each job its time-limit warning (SIGUSR2) "
                              f"as it starts, before it trains; lower signal_delay_s or raise timeout_min")
        return
    n_jobs = cfg.hydra.launcher.get("n_jobs", 1)
    if runs_in_its_own_process(cfg.hydra.launcher) and (type(n_jobs) is not int or n_jobs < 1):
        shown = "null" if n_jobs is None else n_jobs
        raise ConfigError(f"hydra.launcher.n_jobs={shown} is out of range: allowed a whole number >= 1 (jobs at a "
                          f"time)")
    strategy = str(cfg.trainer.get("strategy", "auto"))
    if world > 1:
        named = f"trainer.strategy={strategy}" if strategy != "auto" else \
            f"trainer.devices={cfg.trainer.get('devices')} (DDP in {world} processes)"
        raise ConfigError(
            f"{named} cannot run inside a sweep (-m): run each job as a single "
            f"run (python train.py trainer=ddp ...), sweep with trainer.devices=1, or sweep on Slurm "
            f"(hydra/launcher=slurm)"
        )


def check_slurm_answers(launcher: Any) -> None:
    """Raise ConfigError where hydra/launcher=slurm cannot submit: submitit would fail at its first
    sbatch, after the sweep folder is written, with a traceback. `scontrol ping` asks the controller."""
    if not str(launcher._target_).endswith(".SlurmLauncher"):  # submitit's local launcher needs no Slurm
        return
    advice = "submit from a machine of the cluster (docs/cluster.md), or sweep here with hydra/launcher=parallel"
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        raise ConfigError(f"hydra/launcher=slurm: this machine has no sbatch and scontrol on its PATH; {advice}")
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"hydra/launcher=slurm: scontrol ping had no answer in 120 s; {advice}") from None
    if ping.returncode != 0:
        # The state it reports (`... is DOWN`), else the fatal error it ends with.
        said = ping.stdout.strip().partition("\n")[0] or ping.stderr.strip().rpartition("\n")[2] or "no output"
        raise ConfigError(f"hydra/launcher=slurm: no Slurm controller answers here (scontrol ping: {said}); {advice}")


def runs_on_slurm(launcher: Any) -> bool:
    """True under one of Hydra's submitit launchers (`hydra/launcher=slurm`), where Slurm starts a job's processes."""
    return str(launcher._target_).startswith(SUBMITIT_PLUGIN) or str(launcher._target_) == SLURM_LAUNCHER


def runs_in_its_own_process(launcher: Any) -> bool:
    """True when the sweep's launcher starts each job in a process of its own: `hydra/launcher=parallel`
    or Slurm; False for Hydra's basic launcher, which runs jobs in the sweep's own process."""
    return runs_on_slurm(launcher) or str(launcher._target_) == PARALLEL_LAUNCHER


def check_nodes(cfg: DictConfig, multirun: bool) -> None:
    """More nodes than one need something that starts the others: Slurm (srun, or hydra/launcher=slurm),
    torchrun, or the same command on each node with its NODE_RANK (Lightning's manual launch).
    Without it the first node would wait for the others forever, deaf to SIGTERM (measured)."""
    nodes = cfg.trainer.get("num_nodes", 1)
    if nodes == 1 or multirun and runs_on_slurm(cfg.hydra.launcher) or "NODE_RANK" in os.environ:
        return
    if not (SLURMEnvironment.detect() or TorchElasticEnvironment.detect()):
        raise ConfigError(f"trainer.num_nodes={nodes}: nothing here starts the other nodes, and the run would wait for "
                          f"them forever; sweep on Slurm (-m hydra/launcher=slurm hydra.launcher.nodes={nodes}), run "
                          f"under srun or torchrun, or set trainer.num_nodes=1")


@contextmanager
def primary_configs(args: argparse.Namespace, default_dir: str) -> Iterator[tuple[str, list[str]]]:
    """Hydra's compose API reading the configs `python train.py` reads: conf/ (`default_dir`), or
    --config-path; yields the config's name and the overrides that add --config-dir's folder."""
    config_path = args.config_path
    if config_path and config_path.startswith("pkg://"):
        module = config_path.removeprefix("pkg://").replace("/", ".")
        initialized = initialize_config_module(config_module=module, version_base="1.3")
    elif config_path and not os.path.isabs(config_path):
        # Hydra reads a relative one as a Python package beside vae_lightning/harness/run.py.
        raise ConfigError(f"--config-path {config_path}: give an absolute path (--config-path $PWD/{config_path}), "
                          f"or add a folder of your own configs to conf/ with --config-dir {config_path}")
    else:
        folder = config_path or default_dir
        if not os.path.isdir(folder):
            raise ConfigError(f"--config-path {folder}: no such folder; give the folder that holds config.yaml")
        if args.config_name is None and not os.path.isfile(os.path.join(folder, "config.yaml")):
            raise ConfigError(f"--config-path {folder}: holds no config.yaml; give the folder that holds it, or name "
                              f"the config it holds with --config-name")
        initialized = initialize_config_dir(config_dir=folder, version_base="1.3")
    with initialized:
        # --config-dir as an override of the compose API: Hydra adds the folder to where it looks for
        # configs, after the primary folder (whose configs win when both have one of a name).
        searched: list[str] = []
        if args.config_dir is not None:
            added = os.path.abspath(args.config_dir)
            refuse_interpolated_folder(added, f"--config-dir {args.config_dir}",
                                       "; rename the folder, or link to it from a path without one")
            if not os.path.isdir(added):
                raise ConfigError(f"--config-dir {args.config_dir}: no such folder; give a folder of config groups "
                                  f"(optim/, ...)")
            configured_targets(Path(added))  # its files read as YAML, naming one that is not, before Hydra reads some
            # Quoted: a folder's name may hold what the override grammar reads (`,`, `]`, `'`).
            searched = [f"hydra.searchpath=[{quoted(f'file://{added}')}]"]
        yield args.config_name or "config", searched


def refuse_interpolated_folder(folder: str, given: str, advice: str) -> None:
    """Raise ConfigError for a folder whose path holds `${`: Hydra reads it as an interpolation, quoted or
    not, wherever it keeps the path in its config. `given`: the flag as typed; `advice`: what to do."""
    if "${" in folder:
        raise ConfigError(f"{given}: Hydra reads '${{' in a folder's path as an interpolation{advice}")


def check_jobs(args: argparse.Namespace, config_dir: str,
               typed: dict[str, str] | None = None) -> tuple[DictConfig, list[Job]]:
    """Compose and check every job the command would run; returns the command's config and the jobs.
    `typed` maps an override the command line's glob was expanded to back to the glob, for its errors."""
    with primary_configs(args, config_dir) as (config_name, searched):
        return check_each_job(config_name, searched + args.overrides, args.multirun, typed or {})


def listed_globs(args: argparse.Namespace, config_dir: str, overrides: list[str] | None = None) -> dict[str, str]:
    """The `group=glob(...)` overrides of the command line, or of `overrides` (a config's sweep params), as the
    lists of the group's options they match."""
    with primary_configs(args, config_dir) as (config_name, searched):
        return options_listed(config_name, searched, args.overrides if overrides is None else overrides)


def options_listed(config_name: str, searched: list[str], overrides: list[str]) -> dict[str, str]:
    """`sweeps.listed_globs` of `overrides`, among the options of the folders the config and `searched` search."""
    loader = GlobalHydra.instance().config_loader()
    return sweeps.listed_globs(overrides, lambda group: loader.get_group_options(
        group, config_name=config_name, overrides=searched))


def configured_params(command_config: DictConfig, overrides: list[str]) -> list[str]:
    """The config's sweep params (an experiment's) as overrides, less each key `overrides` gives: sweepers read
    the config's params, then the command line, whose value of a key wins."""
    params = command_config.hydra.sweeper.get("params") or {}
    given = {o.get_key_element() for o in sweeps.parse(overrides)}
    return [f"{key}={value}" for key, value in params.items() if key not in given]


def refuse_misplaced_keys(parsed: list[Override]) -> None:
    """Raise ConfigError for an override no run or sweep takes as written: a searched key under
    hydra.sweeper.params, a schema/ group, a list of options of a group a run takes one of, or a swept
    setting of Hydra's own."""
    for override in parsed:
        key = override.key_or_group
        if key.startswith("hydra.sweeper.params."):  # each dot would nest the key: {optim: {lr: ...}}
            # A quoted value is the text the sweeper reads: optim='glob(*)' would choose an option named so.
            value = override.value() if isinstance(override.value(), str) else override.input_line.partition("=")[2]
            raise ConfigError(f"{override.input_line}: give the searched key as itself, "
                              f"{key.removeprefix('hydra.sweeper.params.')}={value} "
                              f"(the command line's wins over hydra.sweeper.params)")
        if key.startswith("schema/"):  # listed by --help beside the groups a user chooses
            raise ConfigError(f"{override.input_line}: the schema/ groups are the options' typed schemas, which "
                              f"their files name; choose the option itself, e.g. {key.removeprefix('schema/')}="
                              f"{override.input_line.partition('=')[2]}")
        if key in REQUIRED_GROUPS and isinstance(override.value(), list):
            raise ConfigError(f"{override.input_line}: a run takes one {key}; to run each, sweep them: "
                              f"-m {key}={','.join(map(str, override.value()))}")
        if override.is_sweep_override() and override.is_hydra_override():
            # Most often a folder's name with a comma in it (hydra.run.dir=runs/a,b), which Hydra reads as a list.
            key, _, value = override.input_line.partition("=")
            raise ConfigError(f"{override.input_line}: hydra's own settings cannot be swept; a value that holds a "
                              f"comma is quoted: \"{key}='{value}'\"")


def check_each_job(config_name: str, overrides: list[str], multirun: bool,
                   typed: dict[str, str]) -> tuple[DictConfig, list[Job]]:
    """`check_jobs` within the configs it reads: the command's config, then each job's, composed and checked."""
    parsed = sweeps.parse(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    swept = [o.input_line for o in parsed if o.is_sweep_override()]
    refuse_misplaced_keys(parsed)
    command_config, world = compose_checked(config_name, fixed, multirun)
    # An experiment that sets hydra.mode to MULTIRUN is a sweep without -m, as Hydra runs it.
    multirun = multirun or str(command_config.hydra.mode) == "RunMode.MULTIRUN"
    if swept and not multirun:
        raise ConfigError(f"{typed.get(swept[0], swept[0])} lists several values: add -m to run them as a sweep")
    sweeper_target = str(command_config.hydra.sweeper._target_)
    if not multirun and not sweeps.expands_a_grid(sweeper_target):  # `search=sgd` would train one plain run
        chosen = next((o.input_line for o in parsed if o.key_or_group in ("search", "hydra/sweeper")),
                      f"hydra.sweeper._target_={sweeper_target}")
        raise ConfigError(f"{chosen} sets up a search, which runs its trials as a sweep: add -m")
    checked_data: dict[str, dict[str, int] | None] = {}
    if not multirun:
        check_nodes(command_config, multirun)
        download = check_data(command_config, world, checked_data)
        return command_config, [Job([], run_definition(command_config, world), download,
                                    restores_random_state(command_config))]
    # A glob there is a group's options, as on the command line (and as Hydra's basic sweeper reads it).
    configured = configured_params(command_config, overrides)
    listed = options_listed(config_name, fixed, configured)
    configured = [listed.get(param, param) for param in configured]
    check_settings = getattr(get_class(sweeper_target), "check_settings", None)
    if check_settings is not None:  # a sweeper that checks its own settings (hydra/sweeper=optuna)
        arguments = [o.input_line for o in parsed if not o.is_hydra_override()]

        def job_definition() -> dict[str, Any]:
            """What a job is, asked once the settings are sound: a study's trials are held against it."""
            first = sweeps.jobs(configured + swept, sweeper_target)[0]
            return run_definition(compose_checked(config_name, fixed + first, multirun)[0])

        check_settings(command_config.hydra.sweeper, configured + arguments, bool(command_config.resume),
                       Path(command_config.hydra.sweep.dir), job_definition)
    jobs = sweeps.jobs(configured + swept, sweeper_target)
    if sweeps.expands_a_grid(sweeper_target):
        # By value: clip.value=1,1.0 lists one job, whose two folders would be two points of the figure.
        valued = [[(o.get_key_element(), o.value()) for o in sweeps.parse(job)] for job in jobs]
        for index, job in enumerate(jobs):
            if valued[index] in valued[:index]:
                raise ConfigError(f"{as_written(job)}: the sweep lists this job twice, which would run it twice; "
                                  f"give each value once (1 and 1.0 are one value)")
        refuse_shared_folders(command_config, configured + swept, jobs, sweeper_target)
    sweeper, checked = OmegaConf.to_container(command_config.hydra.sweeper), []
    for job in jobs:
        job_config, world = compose_checked(config_name, fixed + job, multirun)
        if OmegaConf.to_container(job_config.hydra.sweeper) != sweeper:  # `-m experiment=clip_value,momentum`
            raise ConfigError(f"{' '.join(job)}: sets up a sweep of its own (hydra.sweeper), which cannot run as one "
                              f"job of this sweep; run a command for each: python train.py {' '.join(job)}")
        check_validated(job_config)
        check_nodes(job_config, multirun)
        check_launchable_in_a_sweep(job_config, world)
        checked.append(Job(job, run_definition(job_config, world), check_data(job_config, world, checked_data),
                           restores_random_state(job_config)))
    return command_config, checked


def refuse_shared_folders(command_config: DictConfig, swept: list[str], jobs: list[list[str]], sweeper: str) -> None:
    """Raise ConfigError for two jobs of a grid whose folders would have one name: a job's folder names
    the values it varies with each '/' written '_' (`job_dir`), so data.root=/a/b and /a_b ran in one
    folder, the second over the first's checkpoints and results, and the sweep counted one job."""
    naming = command_config.hydra.job.config.override_dirname
    # The keys `job_naming` leaves in a job's name: those the sweep varies, less any the config excludes.
    varied = {o.key_or_group for o in sweeps.parse(swept) if o.is_sweep_override()} - set(naming.exclude_keys)
    named: dict[str, list[str]] = {}
    for number, job in enumerate(jobs):
        lines = sorted(o.input_line for o in sweeps.parse(job) if o.key_or_group in varied)
        name = job_folder_name(str(naming.item_sep).join(lines).replace("=", str(naming.kv_sep)), number, sweeper)
        if name in named:
            raise ConfigError(f"{as_written(named[name])} and {as_written(job)}: both jobs would run in the folder "
                              f"{name}, the second over the first (a job's folder names the values the sweep varies, a "
                              f"'/' written '_', less hydra.job.config.override_dirname.exclude_keys); give values "
                              f"whose folders differ, or sweep them in two commands")
        named[name] = job


def as_written(job: list[str]) -> str:
    """A job's overrides as a command line writes them: Hydra writes a job's booleans as Python prints them (False)."""
    return " ".join(f"{o.get_key_element()}={str(o.value()).lower()}" if isinstance(o.value(), bool) else o.input_line
                    for o in sweeps.parse(job))


def restores_random_state(cfg: DictConfig) -> bool:
    """True when a callback of the job's (callbacks.random_state, conf/callbacks/default.yaml's) restores the
    random generators its checkpoints hold: without it a resumed run draws other noise than it stopped with."""
    targets = [node.get("_target_") for node in (cfg.get("callbacks") or {}).values() if isinstance(node, DictConfig)]
    return any(isinstance(target, str) and issubclass(get_class(target), RandomState) for target in targets)


def job_naming(command_config: DictConfig, overrides: list[str], listed: dict[str, str]) -> list[str]:
    """Name each sweep job by what the sweep varies: every key fixed on the command line, or given
    one value by the config's sweep params (an experiment's; a glob there as the options `listed` says
    it matched), is left out of `hydra.job.override_dirname` (and so of the job's folder and TensorBoard run)."""
    params = command_config.hydra.sweeper.get("params") or {}
    configured = [listed.get(f"{key}={value}", f"{key}={value}") for key, value in params.items()]
    command_line = [o for o in sweeps.parse(overrides) if not o.is_hydra_override()]
    swept = {o.key_or_group for o in command_line if o.is_sweep_override()}
    fixed = {o.key_or_group for o in [*command_line, *sweeps.parse(configured)]
             if not o.is_sweep_override()} - swept
    excluded = list(command_config.hydra.job.config.override_dirname.exclude_keys)
    added = sorted(fixed - set(excluded))
    if not added:
        return []
    return [f"hydra.job.config.override_dirname.exclude_keys=[{','.join(excluded + added)}]"]


def quoted(value: str) -> str:
    """`value` as Hydra's override grammar reads it whole (a run's folder name holds its overrides'
    `=`, `,` and brackets): in single quotes, each quote escaped, and the backslashes before a quote
    or at the end doubled (the only ones the grammar reads as escapes)."""
    return "'" + re.sub(r"(\\+)(?='|$)", r"\1\1", value).replace("'", "\\'") + "'"


def check_print_only(args: argparse.Namespace) -> None:
    """Raise ConfigError for a command that only prints (--help, --cfg, --info, --shell-completion) but that
    Hydra would refuse in a traceback: a shell completion that says not what to do, or a config to print
    that is several jobs' or does not compose."""
    if args.shell_completion and not any(o.partition("=")[0] in SHELL_COMPLETION for o in args.overrides):
        raise ConfigError("--shell-completion: say what to do, e.g. python train.py --shell-completion "
                          "install=bash (or uninstall=bash; zsh and fish too)")
    if args.help or args.cfg or args.info and args.overrides:  # Hydra composes the config to print it
        swept = [o.input_line for o in sweeps.parse(args.overrides) if o.is_sweep_override()]
        if swept:  # Hydra's own refusal spans several lines
            raise ConfigError(f"{swept[0]} lists several values, and Hydra prints the config of one job: give "
                              f"one value")
        with primary_configs(args, str(CONFIG_DIR)) as (config_name, searched):
            check_printed(composed(config_name, searched + args.overrides), args)


def prepare(arguments: list[str], first_process: bool = True) -> tuple[list[str], IO[str] | None]:
    """Check the command line; returns it with the claimed folder and the job-naming keys added, and
    for a sweep the lock on its folder, which the sweep's process holds until it ends: a sweep
    folder belongs to one sweep. The processes a distributed launcher starts beside the first get
    their command line from it, checked: they only refuse a pickled config."""
    args = parse_command_line(arguments)
    refuse_pickled_config(args)
    if not first_process:
        return arguments, None
    refuse_misused_flags(arguments, args)
    if runs_nothing(args):
        check_print_only(args)
        return arguments, None
    # Checked, run and written to multirun.yaml as the options a glob matched, as Hydra's sweeper would list them.
    listed = listed_globs(args, str(CONFIG_DIR))
    arguments = [listed.get(argument, argument) for argument in arguments]
    args = parse_command_line(arguments)
    command_config, jobs = check_jobs(args, str(CONFIG_DIR), {expanded: glob for glob, expanded in listed.items()})
    multirun = args.multirun or str(command_config.hydra.mode) == "RunMode.MULTIRUN"
    if multirun:
        check_slurm_answers(command_config.hydra.launcher)
    if multirun and len(jobs) > 1:
        check_a_folder_per_job(command_config)
    check_config_subdir(command_config)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    value = str(command_config.hydra.sweep.dir if multirun else command_config.hydra.run.dir)
    check_writable(value, key)
    folder = Path(value)
    parsed = sweeps.parse(args.overrides)
    folder_given = any(override.key_or_group == key for override in parsed)
    if command_config.resume and not multirun and not folder_given:
        # A fresh folder named by the time holds nothing to continue: the run would start from its beginning.
        raise ConfigError("resume=true continues a run: give its folder, hydra.run.dir=<run> (under outputs/runs/)")
    added = []
    if multirun:
        listed = listed_globs(args, str(CONFIG_DIR), configured_params(command_config, args.overrides))
        # Each glob of the config's sweep params as the options it matched: Hydra runs the jobs that were
        # checked, and writes them to multirun.yaml, whose params plot reads, listed.
        added = [*job_naming(command_config, args.overrides, listed),
                 *(f"hydra.sweeper.params.{glob.partition('=')[0]}={quoted(options.partition('=')[2])}"
                   for glob, options in listed.items())]
    # Once every other check has passed, and before any folder is made: offline, a first run made its
    # folder (and data/), then failed in it under Lightning's banner.
    for download in [job.download for job in jobs if job.download is not None]:
        download()
    if folder_given:
        refuse_unfit_folder(folder, sweep=multirun)
    else:
        if not multirun:
            # An interpolation by its value (`seed=${oc.env:SEED}` as seed=3): Hydra would resolve a `${` in the
            # folder's path again, and run in another folder than the one claimed.
            defining = [f"{o.get_key_element()}={OmegaConf.select(command_config, o.key_or_group)}"
                        if "${" in o.input_line else o.input_line
                        for o in parsed if names_the_run(o.get_key_element())]
            folder = folder.with_name(run_name(folder.name, defining))
        folder = claim_fresh_dir(folder)
        added.append(f"{key}={quoted(str(folder))}")
    # A sweep's lock file as an earlier sweep left it (its pid), or None: a refused command puts it back.
    lock_left = (folder / LOCK_FILE).read_text() if (folder / LOCK_FILE).is_file() else None
    sweep_lock = lock_run_dir(folder) if multirun else None
    try:
        if folder_given:
            refuse_if_taken(folder, bool(command_config.resume), sweep=multirun)
            if command_config.resume:  # refuses another run's config, before Hydra writes anything
                check_resumes(folder, jobs, str(command_config.hydra.sweeper._target_) if multirun else None)
    except ConfigError:
        if sweep_lock is not None:  # refused, the command leaves the folder as it found it
            sweep_lock.truncate(0)
            sweep_lock.write(lock_left or "")
            sweep_lock.close()
            if lock_left is None:
                (folder / LOCK_FILE).unlink(missing_ok=True)
        raise
    return [*arguments, *added], sweep_lock


def check_resumes(folder: Path, jobs: list[Job], sweeper: str | None) -> None:
    """Raise ConfigError when the run, or a job of the grid sweep (`sweeper`; None for a single run),
    that `resume=true` would continue was trained as another: a sweep's job is the folder whose saved
    overrides hold the job's own. Refused so, a sweep's command is not written over its multirun.yaml."""
    if sweeper is None:
        checkpoint_to_resume(folder, jobs[0].definition, jobs[0].restores_random)
        return
    if not sweeps.expands_a_grid(sweeper):  # a search asks for new trials, or repeats cut ones as they were
        return
    job_dirs = sorted(path.parent.parent for path in folder.glob("*/.hydra/overrides.yaml"))
    if len(jobs) == 1 and not jobs[0].overrides and sum(map(holds_run, job_dirs)) > 1:
        # One value of each key: every job folder of the sweep would look like this job's.
        raise ConfigError(f"resume=true continues the sweep in {folder}, whose jobs ran with values of their own, but "
                          f"this command sweeps nothing: list every value the sweep ran (its multirun.yaml holds its "
                          f"command), or give another hydra.sweep.dir")
    unswept = named_but_not_swept(job_dirs, jobs)
    if unswept:  # its jobs would run in new folders beside the sweep's
        raise ConfigError(f"resume=true continues the sweep in {folder}, whose jobs are named by the {unswept} they "
                          f"ran with, but this command does not sweep it: list every value the sweep ran (its "
                          f"multirun.yaml holds its command), or give another hydra.sweep.dir")
    for job_dir in job_dirs:
        saved = set(job_overrides(job_dir))
        resumed = [job for job in jobs if set(job.overrides) <= saved]
        if not resumed and holds_run(job_dir):
            # Hydra would write this command's jobs alone into multirun.yaml, and plot would drop the job.
            raise ConfigError(f"resume=true continues the sweep in {folder}, but {left_out(job_dir, jobs)}, or give "
                              f"another hydra.sweep.dir")
        for job in resumed:
            if holds_checkpoints(job_dir):
                checkpoint_to_resume(job_dir, job.definition, job.restores_random, sweep=True)


def named_but_not_swept(job_dirs: list[Path], jobs: list[Job]) -> str | None:
    """A key that the command's `jobs` do not sweep, though the sweep's job folders are named by several of its
    values (`job_dir`: each varied `key=value`, a '/' written '_'); None if there is none. The command's jobs
    would run in folders named without it."""
    swept = {o.key_or_group for job in jobs for o in sweeps.parse(job.overrides)}
    named: dict[str, set[str]] = {}
    for job_dir in job_dirs:
        for override in sweeps.parse(job_overrides(job_dir)):
            key = override.key_or_group
            if key not in swept and override.input_line.replace(os.sep, "_") in job_dir.name.split(","):
                named.setdefault(key, set()).add(override.input_line)
    return next((key for key, values in sorted(named.items()) if len(values) > 1), None)


def left_out(job_dir: Path, jobs: list[Job]) -> str:
    """Why none of the command's `jobs` is the sweep's job in `job_dir`, and what to do: a key swept that the
    job ran without, or a value of it written otherwise (1.0 for 1), which the line had told to list."""
    ran = {o.key_or_group: o for o in sweeps.parse(job_overrides(job_dir))}
    added = sorted({o.key_or_group for job in jobs for o in sweeps.parse(job.overrides)} - ran.keys())
    if added:  # each job's folder would be named by them too: none would be the job's
        return (f"sweeps {', '.join(added)}, which its job {job_dir.name} ran without: sweep the keys the sweep "
                f"swept (its multirun.yaml holds its command)")
    for job in jobs:
        given = sweeps.parse(job.overrides)
        if all(o.value() == ran[o.key_or_group].value() for o in given):
            written = next(o for o in given if o.input_line != ran[o.key_or_group].input_line)
            return (f"its job {job_dir.name} ran with {ran[written.key_or_group].input_line}, which this command "
                    f"gives as {written.input_line} (another folder): give each value as the sweep ran it")
    return f"leaves out its job {job_dir.name}: list every value the sweep ran (adding new ones is fine)"


def refuse(message: str) -> NoReturn:
    """Exit with status 2 and `message` in one line on stderr: a newline a value was given with shows as \\n."""
    say_error(message)
    raise SystemExit(2) from None


def check_command_line(arguments: list[str], first_process: bool = True) -> tuple[list[str], IO[str] | None]:
    """Register the config tree's schemas and `prepare`, or exit with status 2 and one line on stderr
    if the command cannot run as given."""
    try:
        register_schemas()
        return prepare(arguments, first_process)
    except UserInputError as error:
        refuse(str(error))
    except InterpolationResolutionError as error:  # read outside compose_checked: data.root=${oc.env:UNSET}, resume
        refuse(unresolved(error))
    except MissingMandatoryValue as error:  # `~hydra/sweeper`, `optim.lr=???`
        refuse(f"{error.full_key}: has no value (???); give it one, or keep the option that sets it")
    except OSError as error:  # a path given on the command line that the system refuses, or a full disk
        reason = files.full_disk(error)
        if reason is None:
            refuse(f"{error.filename}: {error.strerror}; choose another path")
        # Not the command's mistake: exit 1, as a run that fills the disk.
        say_error(f"{reason}{f' writing {error.filename}' if error.filename else ''} as the command started: free "
                  f"some space, then run it again")
        raise SystemExit(1) from None
