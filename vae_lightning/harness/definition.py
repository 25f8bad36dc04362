"""What a run is: the keys whose values decide what it computes and records, apart from where and how it runs.
The resume check, TensorBoard's HPARAMS tab (written here) and the sweep jobs' names derive from it."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
# Below SummaryWriter, whose add_hparams writes an experiment summary too (which `log_hparams` must not), into
# a folder of its own: these write the session alone, into the run's folder.
from torch.utils.tensorboard.summary import hparams
from torch.utils.tensorboard.writer import FileWriter

from vae_lightning.configs import allowed_targets

# Not a config key: the processes that share each epoch (the Trainer's world size). The data module
# gives each its own batches, so each step averages the gradients of this many batches.
PROCESSES = "processes"
# The groups and keys whose values decide what a run computes, and `x_axis`, what its curves are drawn
# against: resumed on the other axis, a run's new points would sit at an x below its old ones, and
# TensorBoard drops a curve's points past an x that goes back. `debug` (debug=fast) sets some of the
# trainer's: it names the run's folder, and its values are compared as the trainer's. Lightning takes
# `overfit_batches`, where set, as the limit of train and val batches (and stops shuffling).
DEFINING = (PROCESSES, "seed", "x_axis", "data", "model", "loss", "optim", "clip", "debug", "trainer.max_epochs",
            "trainer.max_steps", "trainer.precision", "trainer.accumulate_grad_batches", "trainer.limit_train_batches",
            "trainer.limit_val_batches", "trainer.limit_test_batches", "trainer.overfit_batches")
# Within them, the keys that say only where the data is or how much of it is scored at once.
CIRCUMSTANTIAL = ("data.root", "data.download", "data.eval_batch_size")
# The name's end of the event file that holds a run's HPARAMS session (`log_hparams`).
HPARAMS_SUFFIX = ".hparams"
# Defining keys that older checkpoints do not record: such a checkpoint is not held to them.
RECORDED_LATER = (PROCESSES, "x_axis", "trainer.overfit_batches")
# Defining keys a run may be continued with a larger value of: a longer run continues a shorter one.
EXTENDABLE = ("trainer.max_epochs", "trainer.max_steps")
# Lightning's fast_dev_run trains a few batches with checkpoints and loggers off: nothing to resume or to
# compare, so it defines no run, but a single run's folder it scored must not read as a full run's.
NAMING_ONLY = ("trainer.fast_dev_run",)


def within(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == prefix or key.startswith(f"{prefix}.") for prefix in prefixes)


def defines_the_run(key: str) -> bool:
    """True for a dotted key (or an override's key, `+`/`~` and all) that changes what the run computes;
    `_partial_` says only how its node is built."""
    key = key.lstrip("+~")
    return within(key, DEFINING) and not within(key, CIRCUMSTANTIAL) and not key.endswith("._partial_")


def names_the_run(key: str) -> bool:
    """True for an override's key that a single run's folder name carries: what defines the run, and
    NAMING_ONLY's."""
    return defines_the_run(key) or within(key.lstrip("+~"), NAMING_ONLY)


def flatten(config: Any, prefix: str) -> dict[str, Any]:
    if isinstance(config, Mapping) and config:
        return {k: v for key, value in config.items() for k, v in flatten(value, f"{prefix}.{key}").items()}
    return {prefix: config}


def run_definition(cfg: DictConfig, processes: int | None = None) -> dict[str, Any]:
    """Every defining key of the run with its resolved value, flat: {"clip.value": 1.0, ...}, and the
    processes it trains in where they are known (from the Trainer, or the command line's check)."""
    found: dict[str, Any] = {} if processes is None else {PROCESSES: processes}
    for prefix in DEFINING:
        node = OmegaConf.select(cfg, prefix, default=None)
        value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        if value is not None:
            found |= flatten(value, prefix)
    return {key: value for key, value in found.items() if defines_the_run(key)}


def changed_keys(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """One line per key whose value differs between a saved run's definition and `now`'s, except a
    larger value of an extendable key (more epochs continue the run). Only defining keys count: a
    checkpoint written before a key stopped defining runs (`_partial_`) still resumes. A key an
    option's file leaves out counts as its constructor default (`with_defaults`): setting a key to
    its default changes nothing the run computes."""
    changed = []
    saved, now = with_defaults(saved), with_defaults(now)
    # Top-level keys first: a changed `seed` is named as itself, not as the data.shuffle_seed it sets.
    keys = sorted((key for key in saved.keys() | now.keys() if defines_the_run(key)),
                  key=lambda key: (key.count("."), key))
    for key in keys:
        then, value = saved.get(key), now.get(key)
        if then == value:
            continue
        # -1 is no limit: a run trained without one continues only without one (every run's definition holds
        # trainer.max_steps=-1, and a limit of 100 steps is fewer, not more).
        if key in EXTENDABLE and isinstance(then, int) and (
                value is None or value == -1 or then != -1 and value > then):
            continue
        if key in RECORDED_LATER and None in (then, value):  # a checkpoint older than the key, or a check without it
            continue
        if key == PROCESSES:
            changed.append(f"trainer.devices x trainer.num_nodes gives {value} training process(es), but the run was "
                           f"trained in {then}, and each step averages one batch per process")
            continue
        # A key of DEFINING's own (trainer.max_epochs) is left out of a definition where it is null.
        now_said = f"{key}={as_written(value)}" if key in now or key in DEFINING else f"{key} is not set"
        then_said = f"with {as_written(then)}" if key in saved or key in DEFINING else f"without {key}"
        changed.append(f"{now_said}, but the run was trained {then_said}")
    return changed


def as_written(value: Any) -> str:
    """A value as the command line writes it (true, null, [400, 200]), not as Python prints it (True, None)."""
    return value if isinstance(value, str) else json.dumps(value)


def constructor_defaults(target: Any) -> dict[str, Any]:
    """The default of each argument of the class `target` names that has one, a tuple as a list (as a
    config holds it); none for a class no config names (a definition read from disk imports nothing)."""
    if target not in allowed_targets():
        return {}
    parameters = inspect.signature(get_class(str(target))).parameters.values()
    return {parameter.name: list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
            for parameter in parameters if parameter.default is not parameter.empty}


def with_defaults(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with each option's constructor defaults for the arguments its file leaves out, as
    the run was built: kept in its checkpoints, they name a default that the class's code changed since
    (a layer's width) when the run is resumed, where the weights' shapes would fail the run."""
    full = dict(definition)
    checkpoint_types = (int, float, str, bool, list, type(None))  # what a weights-only checkpoint can hold
    for key, target in definition.items():
        if not key.endswith("._target_"):
            continue
        for argument, default in constructor_defaults(target).items():
            name = f"{key.removesuffix('._target_')}.{argument}"
            if name not in full and defines_the_run(name) and isinstance(default, checkpoint_types):
                full[name] = default
    return full


def hyperparameters(cfg: DictConfig, processes: int) -> dict[str, Any]:
    """The run's definition as TensorBoard shows it: `optim/lr`, a class by its name (`optim/_target_`:
    SGD), lists, null and booleans as text (torch's writer would make a boolean 0.0 or 1.0). A null
    stays text: left out, its cell blank, TensorBoard would no longer see `clip/value` of a sweep over
    clip=none and a threshold as one that differs between the runs, and list it first."""
    shown: dict[str, Any] = {}
    definition = run_definition(cfg, processes)
    for key, value in definition.items():
        if copies_another(cfg, key, definition):
            continue
        if key.endswith("._target_"):
            value = str(value).rpartition(".")[2]
        kept_as_is = isinstance(value, (int, float, str)) and not isinstance(value, bool)
        shown[key.replace(".", "/")] = value if kept_as_is else str(value).lower()
    return shown


def copies_another(cfg: DictConfig, key: str, definition: dict[str, Any]) -> bool:
    """True for a key whose value is another defining key's, by interpolation (`data.shuffle_seed:
    ${seed}`): its column would repeat that key's."""
    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig) or name not in node or not OmegaConf.is_interpolation(node, name):
        return False
    raw = OmegaConf.to_container(node, resolve=False)[name]
    return raw.startswith("${") and raw.endswith("}") and raw[2:-1] in definition


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
            # the logger's own writer is closed once testing ends. It replaces a resumed run's earlier
            # one, whose session TensorBoard would show instead (the first it reads), with the old
            # trainer.max_epochs beside the new losses.
            for earlier in Path(logger.log_dir).glob(f"events.out.tfevents.*{HPARAMS_SUFFIX}"):
                earlier.unlink()
            writer = FileWriter(logger.log_dir, filename_suffix=HPARAMS_SUFFIX)
            _, session_start, session_end = hparams(hyperparameters(cfg, trainer.world_size), metrics)
            writer.add_summary(session_start)
            writer.add_summary(session_end)
            writer.close()
