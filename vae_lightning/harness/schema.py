"""The config schema, derived from the config tree: each option's keys are its class's signature;
and the checks of what no type expresses (ranges, hardware, what the constructors themselves refuse)."""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import importlib.util
import inspect
import logging
import math
import os
import re
import tempfile
import typing
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from numbers import Real
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import get_class
from hydra_zen import builds
from lightning.fabric.loggers import Logger as FabricLogger, TensorBoardLogger
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.accelerators import AcceleratorRegistry, CPUAccelerator, CUDAAccelerator, MPSAccelerator
from lightning.pytorch import loggers as lightning_loggers
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.strategies import StrategyRegistry
from lightning_utilities.core.imports import RequirementCache
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import ConfigTypeError, ValidationError
from torch.utils.tensorboard import SummaryWriter

from vae_lightning.configs import (CONFIG_DIR, allowed_targets, command_line_config_dirs, instantiate_trusted,
                                  read_config_file)
from vae_lightning.files import check_writable
from vae_lightning.harness.checkpoints import with_mid_epoch_checkpoints
from vae_lightning.errors import ConfigError
from vae_lightning.paper.gradients import STATISTICS
from vae_lightning.paper.loss import LossTerms
from vae_lightning.paper.model import VAEOutput
from vae_lightning.paper.module import X_AXES, VAEModule, metric_names

# Trainer arguments that other groups own: setting them under trainer would be silently overridden.
OWNED_ELSEWHERE = {
    "gradient_clip_val": "clip.value",
    "gradient_clip_algorithm": "clip.algorithm",
    "logger": "the logger group",
    "callbacks": "the callbacks group",
    "use_distributed_sampler": "the data module, which shards each epoch itself",
}
# The argument of an optimizer built partially (`_partial_: true`) that the module fills in.
OWNED_BY_THE_MODULE = {"params": "the module, which gives the optimizer the model's parameters"}


def group_options() -> dict[str, dict[str, tuple[type, bool]]]:
    """Each group's options that build one class (conf/<group>/<option>.yaml with a top-level
    `_target_`), that class, and whether the option builds it partially (`_partial_: true`, an
    optimizer given its params later): the option's schema is the class's signature. An option whose
    class cannot be imported (its module installed on another machine) has none: only a command that
    chooses it is refused, naming it (`check_node_keys`)."""
    options: dict[str, dict[str, tuple[type, bool]]] = {}
    for path in sorted(CONFIG_DIR.glob("*/*.yaml")):
        content = read_config_file(path, CONFIG_DIR)
        if isinstance(content, dict) and "_target_" in content:
            try:
                built = (class_named(content["_target_"], str(path), ""), content.get("_partial_") is True)
            except ConfigError:
                continue
            options.setdefault(path.parent.name, {})[path.stem] = built
    return options


def class_named(target: Any, where: str, advice: str) -> type:
    """The class `target` names; ConfigError naming `where` (a file, a key) and `advice` when it names none."""
    hydra_log = logging.getLogger("hydra.utils")  # which logs the error it raises, over several lines
    hydra_log.disabled = True
    try:
        return get_class(str(target))
    except (ImportError, ValueError) as error:
        cause = str(error.__cause__ or error).splitlines()[0]
        raise ConfigError(f"{where}: _target_ {target} is not a class that can be imported ({cause}); "
                          f"{advice}") from None
    finally:
        hydra_log.disabled = False


@dataclasses.dataclass
class ClipSchema:
    """Gradient clipping: `algorithm` value | norm | null, and its threshold `value`."""

    algorithm: Optional[str] = "value"
    value: Optional[float] = 1.0


@dataclasses.dataclass
class RunSchema:
    """Top-level keys; the groups are typed by their own options' schemas."""

    seed: int = 0
    torch_threads: Optional[int] = None
    resume: bool = False
    x_axis: str = "step"
    data: Any = None
    model: Any = None
    loss: Any = None
    optim: Any = None
    clip: Any = None
    trainer: Any = None
    logger: Any = None
    callbacks: Any = None


@functools.cache
def signature_schema(cls: type, partial: bool = False) -> type:
    """hydra-zen's dataclass of `cls`'s signature: a typed key per constructor argument with a default,
    plus `_target_`, and `_partial_` for an option built partially. The others (an optimizer's params)
    are filled in by the code, and the Trainer's OWNED_ELSEWHERE by other groups."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    excluded = [parameter.name for parameter in parameters if parameter.default is parameter.empty]
    if cls is L.Trainer:
        excluded += list(OWNED_ELSEWHERE)
    return builds(cls, populate_full_signature=True, zen_exclude=excluded, zen_partial=partial or None)


@functools.cache
def structured_schema(schema: type) -> DictConfig:
    """`schema` as a config, made once for every job of a sweep: merging into it copies it."""
    return OmegaConf.structured(schema)


def register_schemas() -> None:
    """Store `/schema/<group>/<option>` in Hydra's ConfigStore for each YAML file of conf/ that builds
    one class. A file naming it first in its defaults list has every constructor argument as a typed
    key, so a wrong type fails as Hydra composes. The schema is open (not struct): a file that extends
    the option and names a subclass (`defaults: [vae, _self_]`, `_target_: mine.BetaVAE`) adds that
    class's own arguments. Every option's keys are checked against its final class's signature after
    composing (`check_structure`), which also refuses a misspelled key."""
    store = ConfigStore.instance()
    store.store(name="run_schema", node=RunSchema)
    for option in ("value", "norm", "none"):
        store.store(group="schema/clip", name=option, node=ClipSchema)
    for group, options in group_options().items():
        for option, (cls, partial) in options.items():
            schema = OmegaConf.structured(signature_schema(cls, partial))
            OmegaConf.set_struct(schema, False)
            store.store(group=f"schema/{group}", name=option, node=schema)


def is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def literal_values(annotation: Any) -> list[Any]:
    """The values a `Literal[...]` annotation, or a Union of them, allows (None if Optional)."""
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    if annotation is type(None):
        return [None]
    return [value for argument in typing.get_args(annotation) for value in literal_values(argument)]


def fraction_or_count(value: Any) -> bool:
    """A number of batches, or null: Lightning reads a float as a fraction of them, and an int as a count."""
    return value is None or is_number(value) and (0 < value <= 1 if isinstance(value, float) else value >= 1)


def one_of(*choices: Any) -> tuple[Callable[[Any], bool], str]:
    names = dict.fromkeys("null" if choice is None else str(choice) for choice in choices)  # 16 and "16" once
    return (lambda value: value in choices), "one of " + ", ".join(names)


# Lightning seeds numpy, whose seeds are 32-bit.
MAX_SEED = 2**32 - 1
MAX_THREADS = 2**31 - 1
MAX_GRID_IMAGES = 10_000
# Training processes a run may start on each of this machine's cores (trainer.devices on the CPU).
PROCESSES_PER_CORE = 4
SEED_RANGE = (lambda value: is_number(value) and 0 <= value <= MAX_SEED, f"a number in [0, {MAX_SEED}]")
AT_LEAST_ONE = (lambda value: is_number(value) and value >= 1, "a number >= 1")
# MNIST's and Fashion-MNIST's images, flattened: the model's input (a data module of one's own may
# serve other sizes).
IMAGE_PIXELS = 28 * 28
PROJECT_DATA = "vae_lightning.paper.data."
# Ranges of the keys no constructor checks itself: whether a value is allowed, and what is. The
# others are checked by building (`check_by_building`); data.val_size against the files, by the data module.
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": SEED_RANGE,
    # The data module seeds torch generators with these (the train order with shuffle_seed + epoch): past 64 bits
    # the run failed at its first batch ("Overflow when unpacking long long"). 32 bits, as the `seed` that sets them.
    "data.split_seed": SEED_RANGE,
    "data.shuffle_seed": SEED_RANGE,
    # torch.set_num_threads takes a C int: 2**31 failed the run ("Overflow when unpacking long").
    "torch_threads": (lambda value: value is None or is_number(value) and 1 <= value <= MAX_THREADS,
                      f"a number >= 1 or null (at most {MAX_THREADS}, torch's limit)"),
    "x_axis": one_of(*X_AXES),
    "clip.algorithm": one_of("value", "norm", None),
    # Lightning skips a threshold of 0 without a word: no clipping is said with clip=none.
    "clip.value": (lambda value: value is None or is_number(value) and 0 < value < math.inf,
                   "a finite number > 0 (clip=none turns clipping off)"),
    "optim.lr": (lambda value: is_number(value) and 0 < value < math.inf, "a finite number > 0"),
    "optim.momentum": (lambda value: is_number(value) and 0 <= value < 1, "[0, 1)"),
    "data.batch_size": AT_LEAST_ONE,
    "data.eval_batch_size": AT_LEAST_ONE,
    "data.noise_std": (lambda value: is_number(value) and 0 <= value < math.inf, "a finite number >= 0"),
    "trainer.max_epochs": (lambda value: value is None or is_number(value) and (value >= 1 or value == -1),
                           "a number >= 1, -1 (no limit) or null"),
    # 0 steps would train nothing, and report the untrained model's losses as the run's.
    "trainer.max_steps": (lambda value: value is None or value == -1 or is_number(value) and value >= 1,
                          "a number >= 1, -1 (no limit) or null"),
    "trainer.val_check_interval": (fraction_or_count,
                                   "a fraction of an epoch in (0, 1], a number of batches >= 1, or null"),
    "trainer.devices": (lambda value: value == "auto" or value == -1 or is_number(value) and value >= 1
                        or isinstance(value, (str, ListConfig)) and len(value) > 0 and value != "0",
                        "a number >= 1, -1 (all), a list of device indices, or auto"),
    "trainer.accumulate_grad_batches": AT_LEAST_ONE,
    "trainer.check_val_every_n_epoch": (lambda value: value is None or is_number(value) and value >= 1,
                                        "a number >= 1 or null"),
    # 0 trains nothing.
    "trainer.limit_train_batches": (fraction_or_count, "a fraction in (0, 1], a number >= 1, or null"),
    # Lightning gives this float as it is to the train and val limits, as a fraction: past 1 it counts no batches
    # (1e308 overflowed the run's count of them as fit started), though its own parse of it took a whole float.
    "trainer.overfit_batches": (lambda value: is_number(value) and (
        0 <= value <= 1 if isinstance(value, float) else value >= 0), "a fraction in [0, 1], or a number >= 0"),
    # 0 would score no test image: the run would end without its test loss.
    "trainer.limit_test_batches": (fraction_or_count, "a fraction in (0, 1], a number >= 1, or null"),
    "trainer.max_time": (lambda value: value is None or isinstance(value, DictConfig)
                         or isinstance(value, str) and re.fullmatch(r"\d+:\d\d:\d\d:\d\d", value) is not None,
                         "DD:HH:MM:SS (00:12:00:00 is 12 hours), {hours: 12}, or null"),
    # Drawn and laid out as one grid each validation: 2**31 exhausted memory, 2**63 failed the run in torch.
    "callbacks.images.count": (lambda value: is_number(value) and 1 <= value <= MAX_GRID_IMAGES,
                               f"a number in [1, {MAX_GRID_IMAGES}] (a grid of 100 x 100 images)"),
    # Lightning divides by it at the first logged step (ZeroDivisionError, measured).
    "logger.csv.flush_logs_every_n_steps": AT_LEAST_ONE,
    "callbacks.gradients.every_n_steps": AT_LEAST_ONE,
    # Lightning's Optional[Union[Profiler, str]]: its constructor keeps any other value ([1,2], 5), and the run
    # failed at fit's first hook ("'list' object has no attribute 'profile'").
    "trainer.profiler": (lambda value: value is None or isinstance(value, (str, DictConfig)),
                         "a name (simple, advanced, pytorch), a profiler's {_target_: ...}, or null"),
    "trainer.precision": one_of(*literal_values(typing.get_type_hints(L.Trainer.__init__)["precision"])),
}
# The epoch-level metrics a callback may monitor: the module's loss terms and the gradients' statistics.
LOSSES = (*metric_names("val").values(), *metric_names("train").values())
MONITORABLE = (*LOSSES, *STATISTICS)
# Groups a run cannot do without (`~model` would remove one); logger and callbacks may be empty.
REQUIRED_GROUPS = ("data", "model", "loss", "optim", "clip", "trainer")
# Keys Hydra's instantiate reads in any node, beside the constructor's arguments.
INSTANTIATE_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
# Lightning's loggers that need a package Lightning does not install: (the module they import, its pip name, the
# versions Lightning requires, as Lightning 2.6.6's lightning/pytorch/loggers/*.py give them to RequirementCache;
# NeptuneLogger's, as a Lightning's from before Neptune's sunset, which no longer exports it). Without it, or older,
# the logger failed as the run built it, its folder made. The check does not build them to find out, as it does the
# callbacks: CometLogger's constructor starts an experiment online, MLFlowLogger's makes its client.
LOGGER_PACKAGES = {
    "WandbLogger": ("wandb", "wandb", ">=0.12.10"),
    "MLFlowLogger": ("mlflow", "mlflow", ">=1.0.0"),
    "CometLogger": ("comet_ml", "comet-ml", ">=3.44.4"),
    "LitLogger": ("litlogger", "litlogger", ">=0.1.0"),
    "NeptuneLogger": ("neptune", "neptune", ">=1.0"),
}


def check_ranges(cfg: DictConfig) -> None:
    """Raise ConfigError, naming the key and what it allows, for the first value out of range."""
    for key, (accepts, allowed) in RANGES.items():
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>" and not accepts(value):
            shown = "null" if value is None else value
            raise ConfigError(f"{key}={shown} is out of range: allowed {allowed}{said_as_text(value, cfg, key)}")
    for key in cfg:
        if key != "hydra":
            check_numbers(OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key])
                          else cfg[key], str(key))
    input_dim = cfg.model.get("input_dim", IMAGE_PIXELS)
    if str(cfg.data.get("_target_")).startswith(PROJECT_DATA) and input_dim != IMAGE_PIXELS:
        raise ConfigError(f"model.input_dim={input_dim} is out of range: allowed {IMAGE_PIXELS}, the pixels of the "
                          f"data's 28x28 images")
    check_last_epoch_validated(cfg.trainer)
    precision = str(cfg.trainer.get("precision"))
    if cfg.optim.get("fused") and cfg.clip.algorithm and precision.endswith("-mixed"):
        # The fused kernel unscales the gradients inside its own step, after the clip (Lightning refuses).
        raise ConfigError(f"optim.fused=true cannot be clipped under trainer.precision={precision}: set "
                          f"optim.fused=false, or clip=none")
    if cfg.clip.algorithm is None and cfg.clip.value is not None:
        raise ConfigError(
            f"clip.value={cfg.clip.value} has no effect with clip=none; choose clip=value or clip=norm, "
            f"or drop clip.value"
        )


def said_as_text(value: Any, cfg: DictConfig, key: str) -> str:
    """Why a number written as text is out of a number's range: given in quotes (`optim.lr='0.02'`), or by an
    interpolation (`${oc.env:LR}` gives the text '0.02')."""
    if not isinstance(value, str):
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    written = OmegaConf.to_container(cfg, resolve=False)
    for part in key.split("."):
        written = written.get(part) if isinstance(written, dict) else None
    if "${" not in str(written):
        return f"; '{value}' is text, in quotes: write it without them, {key}={value}"
    return f"; '{value}' is text, as ${{oc.env:...}} gives it: read it as a number with ${{oc.decode:${{oc.env:...}}}}"


def check_numbers(node: Any, key: str) -> None:
    """Raise ConfigError for a NaN anywhere in the run's config: no constructor means anything by it, and
    some take it (`optim.weight_decay=nan` trained, to fail the run at its first non-finite loss)."""
    if isinstance(node, dict):
        for name, value in node.items():
            check_numbers(value, f"{key}.{name}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            check_numbers(value, f"{key}.{index}")
    elif isinstance(node, float) and math.isnan(node):
        raise ConfigError(f"{key}=nan is not a number; give one")


def check_last_epoch_validated(trainer: DictConfig) -> None:
    """Raise ConfigError where validation every n epochs would skip the last ones: they would train for
    nothing, since the run is scored on its best validated checkpoint."""
    every, epochs = trainer.get("check_val_every_n_epoch", 1), trainer.get("max_epochs")
    if type(every) is int and type(epochs) is int and 1 < every <= epochs and epochs % every and \
            trainer.get("max_steps", -1) in (-1, None):
        fewer = epochs - epochs % every
        raise ConfigError(f"trainer.max_epochs={epochs} is not a multiple of trainer.check_val_every_n_epoch={every}: "
                          f"its last {epochs % every} epoch(s) would train unvalidated, for nothing (the run is scored "
                          f"on its best validated checkpoint); give trainer.max_epochs={fewer} or {fewer + every}")


def constructor_keys(target: str) -> list[str] | None:
    """The keys a node that builds `target` may hold; None when it takes any (**kwargs)."""
    cls = get_class(target)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    variable = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    named = [parameter.name for parameter in parameters if parameter.kind not in variable]
    if all(parameter.kind is not parameter.VAR_KEYWORD for parameter in parameters):
        return named
    if issubclass(cls, TensorBoardLogger):
        # Its **kwargs build torch's SummaryWriter, to which it gives log_dir itself.
        return named + [name for name in inspect.signature(SummaryWriter).parameters if name != "log_dir"]
    return None


def owned_elsewhere(key: str, node: DictConfig) -> dict[str, str]:
    """The arguments of the class the node at `key` builds that no key of it sets, with what sets them."""
    return OWNED_ELSEWHERE if key == "trainer" else OWNED_BY_THE_MODULE if node.get("_partial_") is True else {}


def check_node_keys(node: DictConfig, key: str, file: Path | None = None, experiment: Path | None = None) -> None:
    """Raise ConfigError for a key of the node at `key` that its constructor would not accept (a
    misspelling in its option's `file` or the `experiment` file, `+optim.lrr=0.1`), or a value of a wrong type.
    The node names its class (`check_structure`), which the command line's check has allowed (`check_allowed`)."""
    # A nested option (a callback, a logger) is read only here, once chosen: it names no class of its own.
    cls = class_named(node._target_, key, "fix its file, or put its module on the PYTHONPATH")
    if node.get("_partial_") is True and key != "optim":
        raise ConfigError(f"{key}._partial_=true: only the optimizer is built partially (over the model's "
                          f"parameters); remove _partial_ from its file")
    owned = owned_elsewhere(key, node)
    allowed = constructor_keys(str(node._target_))
    if allowed is not None:
        allowed = [name for name in allowed if name not in owned]
    for name in node:
        if name in owned:
            raise ConfigError(f"{key}.{name}: not set here; it comes from {owned[name]}")
        if allowed is not None and name not in allowed and name not in INSTANTIATE_KEYS:
            where, advice = where_set(file, name, str(node._target_), key.partition(".")[2])
            where = where or set_by_experiment(experiment, f"{key}.{name}")
            raise ConfigError(f"{key}.{name}{where}: no such key; allowed: {', '.join(allowed)}{advice}")
    schema = signature_schema(cls)
    typed = [field.name for field in dataclasses.fields(schema) if field.name in node]
    values = OmegaConf.to_container(node, resolve=True)  # as the run gets them: an interpolation's too
    try:  # and the values' types, also in a file that does not name its schema (a new option)
        OmegaConf.merge(structured_schema(schema), {name: values[name] for name in typed})
    except ValidationError as error:
        raise ConfigError(f"{key}.{error.full_key}: {str(error.msg).splitlines()[0]}") from None
    except ConfigTypeError as error:  # a mapping for a list (model.hidden_dims=${data}), which it names no key of
        for name in typed:
            try:
                OmegaConf.merge(structured_schema(schema), {name: values[name]})
            except ConfigTypeError:
                raise ConfigError(f"{key}.{name}: {str(error).splitlines()[0]}; give a value of its type") from None
        raise


def option_file(name: str, folders: list[Path]) -> Path | None:
    """The file of the config `name` (`model/vae`) in the first of the config `folders` that holds it."""
    return next((folder / f"{name}.yaml" for folder in folders if (folder / f"{name}.yaml").is_file()), None)


def where_set(file: Path | None, key: str, target: str, entry: str) -> tuple[str, str]:
    """Where the option's `file` gets `key` from, and what to do: ` (in conf/optim/sgd.yaml)`; or the option
    its defaults list extends, whose keys its own class `target` need not take; nothing for an override's key.
    `entry`: the named node of a callbacks or logger option that holds `key` (`early`), "" for a group's own."""
    content = read_config_file(file, file.parent.parent) if file else None
    if not isinstance(content, dict):
        return "", ""
    if key in entry_of(content, entry):
        return f" (in {shown(file)})", ""
    extended = [item for item in content.get("defaults") or [] if isinstance(item, str)
                and item != "_self_" and not item.startswith("/")]
    option = f"{file.parent.name}/{extended[0]}" if extended else ""
    extended_file = option_file(option, command_line_config_dirs()) if option else None
    extended_content = read_config_file(extended_file, extended_file.parent.parent) if extended_file else None
    extended_node = entry_of(extended_content, entry)
    if key not in extended_node:
        return "", ""  # added by an override
    extended_target = extended_node.get("_target_")
    if extended_target in allowed_targets() and key not in (constructor_keys(extended_target) or [key]):
        # misspelt in that file: its own class does not take it either
        return where_set(extended_file, key, target, entry)
    if entry:  # the group's other entries are kept by that defaults entry
        return (f" (from {option}, which {file.name} extends)",
                f"; {target} does not take {option}'s keys of {entry}: give it a name of its own in {file.name}")
    return (f" (from {option}, which {file.name} extends)",
            f"; {target} does not take {option}'s keys: give its own in {file.name}, without that defaults entry")


def entry_of(content: Any, entry: str) -> dict[str, Any]:
    """The node named `entry` in a config file's plain data (the whole file for ""); {} where it holds none."""
    node = content
    for part in filter(None, entry.split(".")):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def shown(file: Path) -> str:
    """A config file as the user knows it: `conf/optim/sgd.yaml`, or a --config-dir folder's in full."""
    primary = command_line_config_dirs()[0]
    return f"{primary.name}/{file.relative_to(primary)}" if file.is_relative_to(primary) else str(file)


def set_by_experiment(file: Path | None, key: str) -> str:
    """` (in <file>)` where the experiment `file` sets `key` or sweeps it: a misspelling there was said as if it
    were on the command line, which does not hold it."""
    content = read_config_file(file, file.parent.parent) if file else None
    if not isinstance(content, dict):
        return ""
    # In the plain data: a value may be null, or an interpolation not to resolve here.
    parent, _, name = key.rpartition(".")
    holds = name in entry_of(content, parent) or key in entry_of(content, "hydra.sweeper.params")
    return f" (in {shown(file)})" if holds else ""


def drop_local_keys_not_taken(cfg: DictConfig, hydra: DictConfig) -> None:
    """Remove from `cfg.data` the keys this machine's local file (conf/local/default.yaml, as `hydra`'s choices and
    config folders find it) sets that the chosen data module does not take, unless the command line gives them too.
    The README has that file set data.root and data.download for every run: a data module of one's own without
    them was refused, and each of its commands needed `~data.root ~data.download`."""
    choice = OmegaConf.select(hydra, "runtime.choices.local", default=None)
    folders = [Path(source.path) for source in hydra.runtime.config_sources if source.schema == "file"]
    file = option_file(f"local/{choice}", folders) if choice and isinstance(cfg.get("data"), DictConfig) else None
    content = read_config_file(file, file.parent.parent) if file else None
    local_data = content.get("data") if isinstance(content, dict) else None
    if not isinstance(local_data, dict) or "_target_" not in cfg.data:
        return
    try:
        taken = constructor_keys(str(cfg.data._target_))
    except (ImportError, ValueError):  # refused, naming it, by the check (`check_node_keys`)
        return
    given = {override.lstrip("~+").partition("=")[0] for override in hydra.overrides.task}
    dropped = [key for key in local_data if key in cfg.data and taken is not None and key not in taken
               and key not in INSTANTIATE_KEYS and f"data.{key}" not in given]
    with open_dict(cfg.data):
        for key in dropped:
            cfg.data.pop(key)


def check_structure(cfg: DictConfig) -> None:
    """Raise ConfigError for a key that nothing reads (`+sed=1`), a removed group (`~model`), or a
    group key its constructor does not take."""
    top_level = [field.name for field in dataclasses.fields(RunSchema)]
    for key in cfg:
        if key not in top_level and key != "hydra":
            raise ConfigError(f"{key}: no such key, nothing would read it; allowed: {', '.join(top_level)}")
    for field in dataclasses.fields(RunSchema):  # the run reads each of its own keys: `~resume` failed it
        if field.name not in cfg and field.name not in (*REQUIRED_GROUPS, "logger", "callbacks"):
            default = OmegaConf.to_yaml({field.name: field.default}).strip()
            raise ConfigError(f"{field.name}: a run needs it; give it a value ({default.replace(': ', '=')}) "
                              f"rather than removing it")
    for group in REQUIRED_GROUPS:
        if cfg.get(group) is None:
            options = sorted(path.stem for path in (CONFIG_DIR / group).glob("*.yaml"))
            raise ConfigError(f"{group}: a run needs one; choose one of {', '.join(f'{group}={o}' for o in options)}")
        if group != "clip" and "_target_" not in cfg[group]:  # `~trainer._target_`
            raise ConfigError(f"{group}._target_: missing; it names the class its option builds: keep it, or choose "
                              f"another option ({group}=<option>)")
    unknown = set(cfg.clip) - {field.name for field in dataclasses.fields(ClipSchema)}
    if unknown:
        raise ConfigError(f"clip.{sorted(unknown)[0]}: no such key; allowed: algorithm, value")
    experiment = OmegaConf.select(cfg, "hydra.runtime.choices.experiment", default=None)
    experiment_file = option_file(f"experiment/{experiment}", command_line_config_dirs()) if experiment else None
    for group in ("data", "model", "loss", "optim", "trainer"):
        chosen = OmegaConf.select(cfg, f"hydra.runtime.choices.{group}", default=None)
        check_node_keys(cfg[group], group, option_file(f"{group}/{chosen}", command_line_config_dirs()),
                        experiment_file)
    for group in ("logger", "callbacks"):
        option = OmegaConf.select(cfg, f"hydra.runtime.choices.{group}", default="<option>")
        if "_target_" in (cfg.get(group) or {}):
            raise ConfigError(f"{group}={option}: its file names one class at its top, but the {group} group holds "
                              f"named ones, as conf/{group}/default.yaml does: put its keys under a name (mine: "
                              f"{{_target_: ...}}), with `defaults: [default, _self_]` above to keep the default ones")
        for name, node in (cfg.get(group) or {}).items():
            if not isinstance(node, DictConfig) or "_target_" not in node:  # `+logger.x=1`, `callbacks.images=null`
                value = "null" if node is None else node
                raise ConfigError(f"{group}.{name}={value}: each entry of {group} builds one class, {{_target_: ...}}; "
                                  f"to run without it: ~{group}.{name}")
            check_node_keys(node, f"{group}.{name}", option_file(f"{group}/{option}", command_line_config_dirs()),
                            experiment_file)
            if group == "logger":
                check_logger_class(node, f"{group}.{name}")
    for key in ("hydra.launcher", "hydra.sweeper"):
        check_plugin_keys(cfg.hydra[key.partition(".")[2]], key)


def check_logger_class(node: DictConfig, key: str) -> None:
    """Raise ConfigError where the run could not log through the logger at `key`: a class that is no Lightning
    logger (a callback put in the logger group; Lightning's NeptuneLogger, left only to say Neptune has been
    sunset) failed the run with a traceback, its folder made; one of Lightning's that needs a package
    (LOGGER_PACKAGES), or a subclass of one, failed it as it was built where that package is not installed, or older
    than Lightning requires."""
    cls = get_class(str(node._target_))
    if not issubclass(cls, FabricLogger):  # the base of all of Lightning's (LitLogger's is no other)
        raise ConfigError(f"{key}: {node._target_} is not a Lightning logger (lightning.fabric.loggers.Logger), "
                          f"which the Trainer logs through; give one, or run without it: ~{key}")
    for name, (module, package, versions) in LOGGER_PACKAGES.items():
        needing = getattr(lightning_loggers, name, None)  # a Lightning without it has none to build
        if not (isinstance(needing, type) and issubclass(cls, needing)):
            continue
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"{key}: {node._target_} needs the package {package}, which is not installed; "
                              f"pip install {package}, or run without this logger: ~{key}")
        if not RequirementCache(package + versions):  # what Lightning checks; a copy without metadata fails it too
            installed = next((found.version for found in importlib.metadata.distributions(name=package)),
                             "a copy without a version")
            raise ConfigError(f"{key}: {node._target_} needs {package}{versions}, and {installed} is installed; "
                              f"pip install -U \"{package}{versions}\", or run without this logger: ~{key}")


def check_plugin_keys(node: DictConfig, key: str) -> None:
    """Raise ConfigError for a key that `+` added to Hydra's launcher or sweeper and its class does not
    take: the basic launcher's would fail after the sweep folder is written, Hydra's Slurm launcher's
    only as it submits, and a sweeper's (`+hydra.sweeper.n_trial=3`) could be ignored. The keys are
    its constructor's, or its config's schema where the constructor takes any (submitit's)."""
    class_named(node._target_, key, f"choose one with hydra/{key.partition('.')[2]}=<option>")
    allowed = constructor_keys(str(node._target_))
    schema = OmegaConf.get_type(node)
    if allowed is None and dataclasses.is_dataclass(schema):
        allowed = [field.name for field in dataclasses.fields(schema) if not field.name.startswith("_")]
    for name in node:
        if allowed is not None and name not in allowed and name not in INSTANTIATE_KEYS:
            said = f"allowed: {', '.join(allowed)}" if allowed else f"{key} takes none"
            raise ConfigError(f"{key}.{name}: no such key; {said}")


def check_accelerator(cfg: DictConfig, runs_here: bool = True) -> None:
    """Raise ConfigError when `trainer.accelerator` names hardware this machine does not have, a
    strategy that spawns or forks its processes, or a float16 precision the run cannot have: float16
    alone overflows the loss (a test loss of inf, measured), and on a CPU Lightning runs bf16-mixed in
    place of 16-mixed. A job that runs elsewhere (`runs_here` False: a node of a Slurm cluster, which
    a login node's hardware says nothing of) has its devices checked by Lightning as it starts there."""
    name = str(cfg.trainer.get("accelerator", "auto"))
    precision = str(cfg.trainer.get("precision"))
    if precision in ("16-true", "transformer-engine-float16"):
        raise ConfigError(f"trainer.precision={precision}: the loss overflows float16 weights; use 16-mixed (on a "
                          f"GPU) or bf16-mixed")
    strategy = cfg.trainer.get("strategy", "auto")
    # A strategy's name (ddp_spawn: the registry's `get` would build it), or a node that builds one.
    named = isinstance(strategy, str) and strategy in StrategyRegistry
    arguments = (StrategyRegistry[strategy]["init_params"] if named
                 else strategy if isinstance(strategy, DictConfig) else {})
    start = arguments.get("start_method")
    if start in ("spawn", "fork", "forkserver"):
        # Such processes return the weights but not the loop's progress, and rewrite metrics.csv as they test.
        raise ConfigError(f"trainer.strategy={strategy if isinstance(strategy, str) else strategy._target_}: its "
                          f"processes, {start}ed, keep the epochs trained and the logged curves to themselves "
                          f"(results.json would say 0 epochs); use trainer.strategy=ddp")
    gpu = not runs_here or CUDAAccelerator.is_available() or MPSAccelerator.is_available()
    on_cpu = name == "cpu" or name == "auto" and not gpu
    if precision in ("16", "16-mixed") and on_cpu:
        raise ConfigError(f"trainer.precision={precision}: a CPU has no float16 mixed precision (Lightning would run "
                          f"bf16-mixed instead); use trainer.precision=bf16-mixed, or a GPU")
    if not runs_here:
        return
    devices = cfg.trainer.get("devices", "auto")
    count = int(devices) if isinstance(devices, str) and devices.strip().isdigit() else devices
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Started by srun or torchrun instead, the processes are theirs, each with cores of its own.
    launched_by_lightning = not (SLURMEnvironment.detect() or TorchElasticEnvironment.detect())
    if on_cpu and launched_by_lightning and is_number(count) and count > PROCESSES_PER_CORE * cores:
        # Lightning starts that many processes (2**31 took 90 s to list before the check refused it). A few
        # more than cores still test DDP (tests/harness/test_run.py runs 3 on 2 cores).
        raise ConfigError(f"trainer.devices={devices}: on a CPU each device is a training process, and this machine "
                          f"has {cores} cores; give at most {PROCESSES_PER_CORE * cores} ({PROCESSES_PER_CORE} a "
                          f"core, past which they only wait for one another)")
    if name == "gpu":
        available = gpu
    elif name in AcceleratorRegistry:
        available = AcceleratorRegistry[name]["accelerator"].is_available()
    else:  # auto, or a name the Trainer refuses, listing its own, as it is built (check_by_building)
        return
    if not available:
        raise ConfigError(f"trainer.accelerator={name}: this machine has none; use trainer.accelerator=cpu or auto")


def check_by_building(cfg: DictConfig, runs_here: bool = True) -> int:
    """Raise ConfigError for what the model, the loss, the optimizer, the Trainer or a callback refuses
    as it is built (`model.latent_dim=0`, `optim.eps=-1`, `trainer.limit_val_batches=-1`), before the
    run folder exists rather than as the run starts: each constructor is the one definition of its
    ranges. Returns the processes the run shares each epoch among, as the Trainer counts them (its world
    size: devices, `auto` and `-1` resolved, times nodes). A job that runs elsewhere (`check_accelerator`)
    has its Trainer built on the CPU here."""
    module = check_module(cfg)
    if cfg.optim.get("_partial_") is not True:  # else the optimizer's own "missing argument: 'params'"
        option = OmegaConf.select(cfg, "hydra.runtime.choices.optim", default="<option>")
        raise ConfigError(f"optim: the module builds the optimizer over the model's parameters, so its file "
                          f"(optim={option}) needs `_partial_: true`")
    with said_as_the_optimizers_refusal(cfg, optimizer_of):
        optimizer = optimizer_of(OmegaConf.to_container(cfg.optim, resolve=True))
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    plugins = trainer.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(node, dict) for node in plugins):
        # The run builds each item as a config of its own (`build_trainer`): a number, a name or null fails there.
        raise ConfigError(f"trainer.plugins={plugins}: give a list of plugins, each {{_target_: ...}}, or []")
    # As the run builds it (`build_trainer`), without its loggers and callbacks, nor the torch flags
    # (deterministic, benchmark) it would set for this whole process.
    trainer |= {"deterministic": None, "benchmark": None, "logger": False, "callbacks": [],
                "enable_checkpointing": False, "_convert_": "all"}
    if not runs_here and trainer.get("accelerator", "auto") in {"gpu", *AcceleratorRegistry}:
        trainer["accelerator"] = "cpu"  # a name the Trainer does not know is still refused here
    logging.disable(logging.INFO)  # the Trainer reports the hardware it finds; the run does so again
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            built_trainer = built(trainer, "trainer")
    finally:
        logging.disable(logging.NOTSET)
    if runs_here and isinstance(built_trainer.accelerator, CPUAccelerator):
        # One step, where torch reads some values first (optim.weight_decay=2**64 overflowed there), with a
        # closure, which some optimizers need (LBFGS). On the CPU only: a GPU's options (capturable=true) want
        # its tensors, and CUDA used in the sweep's process would fail its forked jobs.
        with said_as_the_optimizers_refusal(cfg, lambda optim: optimizer_of(optim).step(lambda: torch.zeros(()))):
            optimizer.step(lambda: torch.zeros(()))
        check_memory(module, optimizer, str(cfg.trainer.get("precision")), built_trainer.num_devices)
    check_callbacks(cfg)
    return built_trainer.world_size


def optimizer_of(optim: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimizer the config `optim` builds, over one parameter with a gradient."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    parameter.grad = torch.zeros(1)
    return instantiate_trusted(optim, "optim")([parameter])


@contextmanager
def said_as_the_optimizers_refusal(cfg: DictConfig, attempt: Callable[[dict[str, Any]], Any]) -> Iterator[None]:
    """Within the block, what the optimizer raises is ConfigError, in one line naming it, and the first key of
    `optim` without which `attempt` (the block's work, from the optimizer's config) succeeds: torch's own
    refusal may name none (betas=[0.9] is "list index out of range")."""
    try:
        yield
    # torch indexes some arguments (betas=[0.9] is an IndexError), raises a RuntimeError for fused=true with
    # foreach=true, and asserts that capturable=true has its parameters on a GPU.
    except (ValueError, TypeError, IndexError, RuntimeError, OverflowError, AssertionError) as error:
        refusal = str(error).splitlines()[0]
        optim = OmegaConf.to_container(cfg.optim, resolve=True)
        refused = next((key for key in optim if not key.startswith("_")
                        and succeeds(attempt, {name: value for name, value in optim.items() if name != key})), None)
        value = optim.get(refused)
        to_mend = f"optim.{refused}={str(value).lower() if isinstance(value, bool) else value}" if refused \
            else "that value of optim"
        raise ConfigError(f"optim: {cfg.optim._target_} refuses it: {refusal}; fix {to_mend}") from None


def succeeds(attempt: Callable[[dict[str, Any]], Any], optim: dict[str, Any]) -> bool:
    """Whether `attempt` runs through with the optimizer's config `optim`."""
    try:
        attempt(optim)
    except Exception:  # the same refusal, or another: either way not through
        return False
    return True


# Measured (model.latent_dim=100000, 120 million parameters, debug=fast): training on the CPU took 5 times its
# weights' memory beyond the imports' (weights, gradients, the optimizer step's temporaries) with no optimizer state
# and no checkpoint, and once more for each state of the optimizer's per parameter (momentum; Adam's two).
TRAINING_COPIES = 5
# The bytes of a weight under each trainer.precision that stores weights other than as float32.
WEIGHT_BYTES = {"64": 8, "64-true": 8, "double": 8, "16-true": 2, "bf16-true": 2, "half": 2, "bfloat16": 2}


def machine_memory() -> int:
    """The bytes of memory this process may use: the machine's, or its control group's limit where lower."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        return min(physical, int(Path("/sys/fs/cgroup/memory.max").read_text()))
    except (OSError, ValueError):  # no cgroup v2 limit ("max", or no such file)
        return physical


def check_memory(module: VAEModule, optimizer: torch.optim.Optimizer, precision: str, processes: int) -> None:
    """Raise ConfigError where training `module` in `processes` processes of this machine's CPU needs more memory
    than it has, by TRAINING_COPIES of the weights and one per state the optimizer keeps (counted on the one
    parameter `optimizer` stepped): model.latent_dim=1000000 trained until the kernel killed it, 24 GB on, its
    status.json left `running`."""
    parameter = optimizer.param_groups[0]["params"][0]
    states = sum(isinstance(value, torch.Tensor) and value.shape == parameter.shape
                 for value in optimizer.state[parameter].values())
    weights = sum(weight.numel() for weight in module.parameters()) * WEIGHT_BYTES.get(precision, 4)
    needed, memory = weights * (TRAINING_COPIES + states) * processes, machine_memory()
    if needed > memory:
        where = f" in its {processes} processes" if processes > 1 else ""
        raise ConfigError(f"model: its weights take {weights / 1e9:,.1f} GB, and training them{where} takes at least "
                          f"{needed / 1e9:,.1f} GB, more than this machine's {memory / 1e9:,.1f} GB of memory; "
                          f"give smaller model.hidden_dims or model.latent_dim")


def check_module(cfg: DictConfig) -> VAEModule:
    """Build the LightningModule, its model and loss on the meta device (no memory, no weights); one
    whose constructor reads its tensors' values (`.item()`), which meta tensors have none of, for real.
    Then run a blank batch through the model and the loss (`check_forward`). Returns the module."""
    arguments = {group: OmegaConf.to_container(cfg[group], resolve=True) for group in ("model", "loss", "optim")}
    try:
        with torch.device("meta"):
            module = VAEModule(**arguments)
            check_forward(module)
    except InstantiationException as error:
        if "meta tensor" not in str(error.__cause__):
            raise
        module = VAEModule(**arguments)
        check_forward(module)
    return module


# Blank images the check runs through the model: two, so that a batch axis dropped or mixed up shows.
CHECK_IMAGES = 2


def check_forward(module: VAEModule) -> None:
    """Raise ConfigError where the run could not call the model as it does, `model(x, generator=...)`,
    or the loss could not take what it returns: a model of one's own with another forward signature,
    a plain tuple, or images of another size failed the run at its first step, with a traceback,
    after its folder was made. What cannot be judged on the meta device (a value read) is left to the run."""
    model, loss = module.model, module.loss
    name, pixels = type(model).__name__, model.input_dim
    try:
        inspect.signature(model.forward).bind(torch.zeros(0), generator=None)
    except TypeError as error:
        raise ConfigError(f"model: {name}.forward cannot be called as the run calls it, forward(x, generator=None) "
                          f"({error}); give it that signature (generator: the torch.Generator of the latent noise, "
                          f"None in training)") from None
    device = next(model.parameters(), torch.zeros(0)).device
    images = torch.zeros(CHECK_IMAGES, pixels, device=device)
    output = on_blank_images("model", model, pixels, lambda: model(images, generator=None))
    if output is None:
        return
    if not all(hasattr(output, field) for field in VAEOutput._fields):
        raise ConfigError(f"model: {name}.forward returns a {type(output).__name__}; return a "
                          f"vae_lightning.paper.model.VAEOutput(reconstruction, mean, log_variance)")
    if output.reconstruction.shape[-1] != pixels:
        raise ConfigError(f"model: {name}'s reconstruction has shape {list(output.reconstruction.shape)} for "
                          f"{CHECK_IMAGES} images of model.input_dim={pixels} pixels; decode to images of as "
                          f"many pixels as it takes, (draws, batch, {pixels})")
    terms = on_blank_images("loss", loss, pixels, lambda: loss(images, output))
    if terms is not None and not (isinstance(terms, tuple) and len(terms) == len(LossTerms._fields)):
        raise ConfigError(f"loss: {type(loss).__name__}.forward returns a {type(terms).__name__}; return a "
                          f"vae_lightning.paper.loss.LossTerms(total, reconstruction, kl)")


def on_blank_images(key: str, part: torch.nn.Module, pixels: int, call: Callable[[], Any]) -> Any:
    """What `call` returns on the blank images; None where the meta device cannot judge it (a value
    read), left to the run; ConfigError naming `key` for whatever else a class of one's own raises."""
    try:
        with torch.no_grad():
            return call()
    except ConfigError:  # the project's own refusals (the loss's of a reconstruction without draws) say it
        raise
    except Exception as error:
        if "meta" in str(error).lower():
            return None
        line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{key}: {type(part).__name__} fails on a batch of {CHECK_IMAGES} blank images of "
                          f"model.input_dim={pixels} pixels ({type(error).__name__}: {line}); fix its code, or "
                          f"model.input_dim") from None


@contextmanager
def in_a_job_folder(cfg: DictConfig) -> Iterator[None]:
    """Hydra sets the job's folder, `hydra.runtime.output_dir`, only as it runs the job; until then a key
    that takes it (`${hydra:runtime.output_dir}`) reads null, which passed the ranges and the Trainer
    (trainer.limit_train_batches, trainer.max_time) and failed the run. Within the block it is a
    temporary folder, removed with whatever a constructor wrote in it."""
    if not OmegaConf.is_missing(cfg.hydra.runtime, "output_dir"):  # already within one
        yield
        return
    with tempfile.TemporaryDirectory(prefix="job_folder_") as output_dir:  # named so in an error that shows it
        with read_write(cfg.hydra.runtime):
            cfg.hydra.runtime.output_dir = output_dir
        HydraConfig.instance().set_config(cfg)
        try:
            yield
        finally:
            with read_write(cfg.hydra.runtime):
                cfg.hydra.runtime.output_dir = "???"
            HydraConfig.instance().set_config(cfg)


def check_callbacks(cfg: DictConfig) -> None:
    """Build each callback, as `check_by_building` does the rest (`callbacks.checkpoint.save_top_k=-2`),
    and check the loggers' folders, in a job folder of their own (`in_a_job_folder`)."""
    with in_a_job_folder(cfg):
        callbacks = OmegaConf.to_container(cfg.callbacks, resolve=True) if cfg.get("callbacks") else {}
        # A callback of one's own may log metrics of its own, which another may monitor.
        own = any(not str(node.get("_target_")).startswith(("lightning.", "vae_lightning.")) for node in
                  callbacks.values() if isinstance(node, dict))
        for name, node in with_mid_epoch_checkpoints(callbacks).items():
            callback = built(node, f"callbacks.{name}")
            check_monitor(callback, f"callbacks.{name}", MONITORABLE if not own else None)
            check_folder(getattr(callback, "dirpath", None), f"callbacks.{name}.dirpath")
            if isinstance(callback, ModelCheckpoint):
                check_file_name(callback.filename, f"callbacks.{name}")
        loggers = OmegaConf.to_container(cfg.logger, resolve=True) if cfg.get("logger") else {}
        for name, node in loggers.items():
            check_folder(node.get("save_dir"), f"logger.{name}.save_dir")


def check_monitor(callback: Any, key: str, logged: tuple[str, ...] | None) -> None:
    """A callback that monitors a metric (ModelCheckpoint, EarlyStopping) would find a name nothing logs
    only at the end of the first validation, after an epoch of training; one that maximises a loss
    would keep the worst checkpoint as the best, which the run is then scored on. `logged`: the
    metrics the run logs, None where a callback of one's own may log others."""
    monitor, mode = getattr(callback, "monitor", None), getattr(callback, "mode", None)
    if monitor is not None and logged is not None and monitor not in logged:  # a number too (monitor=true)
        raise ConfigError(f"{key}.monitor={monitor}: no such metric is logged; choose one of {', '.join(logged)}")
    if monitor in LOSSES and mode == "max":
        raise ConfigError(f"{key}.mode=max would keep the highest {monitor} as the best, and the run is scored on "
                          f"the best checkpoint: a loss is minimised, so set {key}.mode=min")


def check_folder(folder: Any, key: str) -> None:
    """A checkpoint folder that cannot be written would fail the run at its first checkpoint, after an
    epoch of training; a logger's, with a traceback as the run starts, its folder already made."""
    if isinstance(folder, (dict, list, DictConfig, ListConfig)):  # the constructors keep it, and the run fails on it
        raise ConfigError(f"{key}={folder}: a folder is named by its path; give one, or leave it to the run's folder")
    if isinstance(folder, str):
        check_writable(Path(folder), f"{key}={folder}", f"choose another {key}, or leave it to the run's folder")


def check_file_name(name: Any, key: str) -> None:
    """A checkpoint's file name that would put it out of its folder, where resume=true never looks: Lightning
    joins the name to the folder, and an absolute one (`${hydra:runtime.output_dir}`) replaces it."""
    if isinstance(name, str) and len(Path(name).parts) > 1:
        raise ConfigError(f"{key}.filename={name}: it would put the checkpoint out of its folder, {key}.dirpath; "
                          f"give a file name (best), and the folder as {key}.dirpath")


def built(config: dict[str, Any], key: str) -> Any:
    """The object `config` builds; ConfigError, naming `key`, for Lightning's refusal of its arguments."""
    try:
        return instantiate_trusted(config, key)
    except InstantiationException as error:
        if not isinstance(error.__cause__, MisconfigurationException):
            raise
        raise ConfigError(f"{key}: {str(error.__cause__).splitlines()[0]}") from None
