"""`python -m vae_lightning.plot SWEEP_DIR`: a sweep's loss curves (figure.png, figure.pdf), table
(summary.md) and statistics (summary.json), and its gradient statistics (gradients.png/.pdf/.md).

Jobs are grouped into points by the values they sweep (every override that varies across the jobs,
except the seed). A point is drawn and tabled from its completed jobs: the mean over their seeds,
with the 95% interval of the mean (docs/statistics.md). A job that failed, is still running, never
started or ended on a non-finite val loss is named in the table, never silently dropped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import multiprocessing
import os
import re
import statistics
import sys
import textwrap
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

import matplotlib
import torch
import yaml
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatter, MaxNLocator, NullLocator
from omegaconf import OmegaConf

from vae_lightning.analysis.statistics import ALPHA, POWER, Sample, against_best, describe
from vae_lightning.errors import UserInputError, say_error
from vae_lightning.harness import sweeps
from vae_lightning.harness.checkpoints import RunDefinition
from vae_lightning.harness.definition import PROCESSES, as_written, defines_the_run
from vae_lightning.files import atomic_file, check_writable, full_disk, read_json, refuse_links_out
from vae_lightning.harness.runs import STATUS_FILE, job_overrides, lock_holder
from vae_lightning.paper.gradients import STATISTICS

log = logging.getLogger(__name__)

STAGES = ("train", "val")
# Each curve's column in csv/metrics.csv: the losses by stage, then the gradient statistics.
COLUMNS = {**{stage: f"{stage}/loss" for stage in STAGES}, **{name: name for name in STATISTICS}}
# The epoch under which a gradient statistic's first step (the initialisation) is kept; drawn at 0.
INITIALISATION = -1
SEED = "seed"
# A swept number longer than this (an Optuna sweep's 17-digit floats) is rounded in labels.
LONG_NUMBER = 8
# Legend entries per column: an Optuna sweep's dozens of points fill several columns beside the plot.
LEGEND_ROWS = 20
LEGEND_COLUMN_INCHES = 2.5
# matplotlib's sizes of a screen figure's text: its title ("large") and its legend's title (the default size).
TITLE_POINTS, LEGEND_TITLE_POINTS = 12.0, 10.0
# A legend entry's line and the space around it, beside its label; a point without a curve, as its label ends.
LEGEND_HANDLE_INCHES = 0.45
UNDRAWN = ": no job completed"
# A figure for a paper (`--width`): its text in points as printed at that width, where journals ask for 7 pt
# or more (the screen figure, 11 in wide, printed 7 in wide had 5.3 pt legends), its PNG at print resolution.
PAPER_TEXT_POINTS = 8.0
PAPER_SMALL_POINTS = 7.0
SCREEN_DPI, PAPER_DPI = 110, 300
# The narrowest journal column (Springer's 84 mm is 3.3 in): narrower, the panels' text does not fit.
MIN_PAPER_INCHES = 3.0
# A poster's column at the most: 1,000 in was a PNG of 300,000 pixels' width, written over the sweep's figures.
MAX_PAPER_INCHES = 20.0
# Narrower than this the loss figure's two panels are stacked (side by side, each would be under 2 in wide): a row
# holds as many panels as get half of it each (the gradients' three from 7.5 in). The legend's columns below them
# are PAPER_LEGEND_COLUMN_INCHES wide.
SIDE_BY_SIDE_INCHES = 5.0
PAPER_LEGEND_COLUMN_INCHES = 1.1
# A character's width in DejaVu Sans, as a share of the font size, taken generously to wrap lines in time.
CHARACTER_EMS = 0.6


class SweepError(UserInputError):
    """A folder that holds no sweep, or a sweep whose multirun.yaml or a job's status.json or metrics cannot be read."""


class NoSpaceLeft(Exception):
    """A sweep's figure or table did not fit on the disk; the message is the one line to show."""


@contextmanager
def errors_said_in_one_line() -> Iterator[None]:
    """Within the block, bad input ends the command with its one line and exit 2, Ctrl-C with its one line
    and exit 130 (as train.py's), a full disk with its one line and exit 1 (also where a write other than
    `write_all`'s found it full). A reader that stops reading (`plot ... | head`) ends the command quietly,
    with exit 1, as Python's own advice does: what is printed is flushed within the block, so that it is
    not the interpreter's last flush that fails."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # Ctrl-C on a long `evaluate --nll` printed a traceback through torch
        print("error: interrupted; the files written before it are kept: run the command again for the rest",
              file=sys.stderr)
        raise SystemExit(130) from None
    except (UserInputError, NoSpaceLeft) as error:
        say_error(str(error))
        raise SystemExit(2 if isinstance(error, UserInputError) else 1) from None
    except OSError as error:
        if full_disk(error) is None:
            raise
        say_error(f"{full_disk(error)} writing {error.filename or 'a file'}: free some space, then run this command "
                  f"again")
        raise SystemExit(1) from None


class CommandParser(argparse.ArgumentParser):
    """The analysis commands' argparse: a mistake is one line, exit 2 (`--help` shows the usage), and a
    flag is never guessed from its first letters (`--nl` would have started --nll's long estimate)."""

    def __init__(self, prog: str, description: str) -> None:
        super().__init__(prog=prog, description=description, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        say_error(f"{message}; {self.prog} --help lists what it takes")
        raise SystemExit(2)


def user_path(text: str) -> Path:
    """A path argument with its `~` as the home folder: no shell expands the one of `--out=~/results`. An
    empty one is refused: as Path("") it was the working folder, into which `--out "$OUT"`, with OUT unset,
    wrote the results."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (an unset shell variable?); give the folder or file")
    path = Path(text).expanduser()
    try:
        path.exists()
    except OSError as error:  # a name past the system's limit: each command's first look at it was a traceback
        raise argparse.ArgumentTypeError(f"{text}: {error.strerror or type(error).__name__}; give a shorter "
                                         f"path") from None
    return path


@dataclass
class Group:
    """One point of the sweep: its completed jobs' per-epoch curves, final val losses (by seed) and
    folders, and the jobs left out, each with why."""

    label: str
    curves: dict[str, list[dict[int, float]]] = field(default_factory=lambda: {key: [] for key in COLUMNS})
    finals: list[tuple[str, float]] = field(default_factory=list)
    jobs: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def losses(self) -> list[float]:
        return [loss for _, loss in self.finals]


# The paper's loss, and how the figures and tables name it.
PAPER_LOSS, PAPER_LOSS_NAME = "vae_lightning.paper.loss.VAELoss", "eq. 20"


def loss_named(sweep_dir: Path) -> str:
    """How the figures and tables name the jobs' loss: eq. 20 unless a job trained with a loss of one's
    own (its saved config's loss._target_, read as plain data), whose values are that class's."""
    targets = set()
    for saved in sweep_dir.glob("*/.hydra/config.yaml"):
        try:
            targets.add(str(yaml.safe_load(saved.read_text())["loss"]["_target_"]))
        except (OSError, yaml.YAMLError, KeyError, TypeError):  # a job's config that says nothing of it
            continue
    own = sorted(targets - {PAPER_LOSS})
    return f"the loss of {', '.join(own)}" if own else PAPER_LOSS_NAME


def resumption_order(path: Path) -> tuple[bool, int]:
    """A resumed run's metrics files in the order they were written: metrics.0.csv, ..., metrics.10.csv
    (each moved aside by a resumption, `harness.run.keep_previous_metrics`), then metrics.csv."""
    index = path.name.removeprefix("metrics.").removesuffix(".csv")
    return path.name == "metrics.csv", int(index) if index.isdigit() else -1


def epoch_curves(job: Path) -> dict[str, dict[int, float]]:
    """Per-epoch values of every COLUMNS curve from the job's csv/metrics*.csv (on a resumed run,
    later files win), and each gradient statistic's value at step 0 under INITIALISATION."""
    curves: dict[str, dict[int, float]] = {key: {} for key in COLUMNS}
    paths = sorted(job.glob("csv/metrics*.csv"), key=resumption_order)
    for path in paths:
        try:
            file = open(path, newline="")
        except OSError as error:  # a folder of that name, or a file of another user's without read permission
            raise SweepError(f"{path} cannot be read ({error.strerror}); restore it, or delete it to leave the job "
                             f"out") from None
        with file:
            rows = csv.DictReader(file)
            try:
                for row in rows:
                    # A line cut short (a copy or a disk that stopped mid-write) still parses: its last
                    # field, `66.17` cut to `6`, would be taken as the job's final val loss.
                    cut = None in row.values() or None in row
                    if cut and path != paths[-1]:
                        continue  # an interrupted run's last write: its resumption logged that epoch again
                    if cut:
                        raise SweepError(f"{path}, line {rows.line_num}: not as many fields as its header, as in "
                                         "a file cut short; restore it, or delete it to leave the job out")
                    for key, column in COLUMNS.items():
                        if row.get(column):
                            curves[key][int(float(row["epoch"]))] = float(row[column])
                        if key in STATISTICS and row.get(f"{column}_step") and row["step"] == "0":
                            curves[key][INITIALISATION] = float(row[f"{column}_step"])
            except (ValueError, OverflowError, KeyError, csv.Error) as error:  # `epoch` x or inf, a loss abc
                raise SweepError(f"{path}, line {rows.line_num}: not a CSVLogger's numbers ({type(error).__name__}: "
                                 f"{error}); restore it, or delete it to leave the job out") from None
    return curves


def as_applied(overrides: list[str]) -> list[str]:
    """A job's overrides less `resume=...`, which says how a job was run again, not which job it is, and less
    each override of a key that a later one sets again: Hydra applies the last (`data.root=/a data.root=/b`)."""
    last = {override.partition("=")[0]: index for index, override in enumerate(overrides)}
    return [override for index, override in enumerate(overrides)
            if last[override.partition("=")[0]] == index and override.partition("=")[0] != "resume"]


def expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """Every job a grid sweep was asked for, from multirun.yaml: the config's sweep params and the
    command line's overrides, expanded; None when there is no grid (another sweeper chose the jobs)."""
    path = sweep_dir / "multirun.yaml"
    if not path.exists():
        return None
    try:
        # Plain data, never resolved: an override may hold an interpolation, such as
        # `run_dir='${hydra:runtime.output_dir}'`, and a file from disk decides no code.
        hydra = OmegaConf.to_container(OmegaConf.load(path), resolve=False)["hydra"]
        sweeper, task = str(hydra["sweeper"]["_target_"]), hydra["overrides"]["task"]
        if not isinstance(task, list):
            raise TypeError(f"hydra.overrides.task is no list but {type(task).__name__}")
        params = hydra["sweeper"].get("params") or {}
        arguments = [f"{key}={value}" for key, value in params.items()] + [str(override) for override in task]
    except Exception as error:  # whatever YAML, OmegaConf or a missing key raise, the file is the cause
        raise SweepError(f"{path} cannot be read ({type(error).__name__}): it is written by Hydra when a sweep "
                         "starts; restore it, or remove it to plot the job folders found") from None
    if not sweeps.expands_a_grid(sweeper):
        return None
    return [as_applied(job) for job in sweeps.grid(arguments)]


def unnamed_keys(job: Path) -> set[str]:
    """The keys the job's folder name leaves out, as its .hydra/hydra.yaml says (Hydra's
    `override_dirname.exclude_keys`): what its sweep does not vary, such as the callback a search
    gives every trial, which names the study's storage (moved with the sweep's folder, trials run
    before and after the move differed in it). Nothing where its file says nothing readable."""
    try:
        return set(saved_hydra(job)["job"]["config"]["override_dirname"]["exclude_keys"])
    except Exception:  # a file of another shape names nothing to leave out
        return set()


def saved_hydra(job: Path) -> Any:
    """The `hydra` section of the job's .hydra/hydra.yaml, unresolved: plain data."""
    return OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "hydra.yaml"), resolve=False)["hydra"]


def defaults_named(jobs: dict[Path, list[str]]) -> dict[Path, list[str]]:
    """Runs put in one folder by hand (no multirun.yaml: no command lists their keys): each job's overrides with
    a key that defines a run, which other jobs give and it leaves at its config's default, added at the value it
    ran with (`ran_with`), spelt as another job gives that value; `key=default` where that cannot be read.
    Unnamed, a run of another model or learning rate was counted as a seed of the point it otherwise matched."""
    def keys(overrides: list[str]) -> set[str]:
        return {key for key, _, _ in (o.partition("=") for o in overrides) if defines_the_run(key)}

    given: dict[str, dict[str, Any]] = defaultdict(dict)  # each key's overrides, with the value each gives
    for overrides in jobs.values():
        for override in overrides:
            key = override.partition("=")[0]
            if defines_the_run(key):
                given[key][override] = parsed_value(override)

    def added(job: Path, key: str) -> str:
        value = ran_with(job, key) if not key.startswith(("+", "~")) else UNKNOWN
        spelt = next((o for o, gives in given[key].items() if value is not UNKNOWN and gives == value), None)
        return spelt or f"{key}={'default' if value is UNKNOWN else as_written(value)}"

    named = {job: overrides + [added(job, key) for key in sorted(given.keys() - keys(overrides))]
             for job, overrides in jobs.items()}
    # The processes that shared each epoch, which no override names (trainer.devices=2 gives 2 on CPU, 1 on a GPU
    # machine with one): as the checkpoints' run definitions record them, where runs differ in it.
    processes = {job: used_value(job, PROCESSES) for job in jobs}
    if len({value for value in processes.values() if value is not UNKNOWN}) > 1:
        return {job: overrides + [f"{PROCESSES}={'unknown' if processes[job] is UNKNOWN else processes[job]}"]
                for job, overrides in named.items()}
    return named


def parsed_value(override: str) -> Any:
    """The value of `override` as Hydra reads it (`1` and `1.0` are one number), UNKNOWN outside its grammar."""
    try:
        return sweeps.parse([override])[0].value()
    except UserInputError:
        return UNKNOWN


def ran_with(job: Path, key: str) -> Any:
    """The option of the config group `key` the job ran with (its .hydra/hydra.yaml's choices), or the value of
    the key (`used_value`); UNKNOWN where its files do not say."""
    try:
        return saved_hydra(job)["runtime"]["choices"][key]
    except Exception:  # not a group, or no readable hydra.yaml
        return used_value(job, key)


def swept_keys(jobs: list[list[str]]) -> list[str]:
    """The override keys whose value differs between jobs."""
    values: dict[str, set[str]] = defaultdict(set)
    for overrides in jobs:
        for override in overrides:
            key, _, value = override.partition("=")
            values[key].add(value)
    return [key for key, found in values.items() if len(found) > 1]


def varied(overrides: list[str], keys: list[str]) -> frozenset[str]:
    """A job's overrides of the swept `keys`: what tells it apart from the sweep's other jobs."""
    return frozenset(override for override in overrides if override.partition("=")[0] in keys)


def shown_values(jobs: list[list[str]], keys: list[str]) -> dict[str, str]:
    """Each swept override as labels show it: a number longer than LONG_NUMBER characters rounded to
    the fewest significant digits, from 3, that keep that key's values apart; the rest as written."""
    shown = {}
    for key in keys:
        values = sorted({value for job in jobs for k, _, value in (o.partition("=") for o in job) if k == key})
        long = [value for value in values if len(value) > LONG_NUMBER and is_number(value)]
        for digits in range(3, 18):  # 17 significant digits tell any two doubles apart
            rounded = {value: f"{float(value):.{digits}g}" for value in long}
            if len({rounded.get(value, value) for value in values}) == len(values):
                break
        shown |= {f"{key}={value}": f"{key}={rounded.get(value, value)}" for value in values}
    return shown


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def readable(override: str) -> str:
    """`clip.value=null` -> `clip.value=none`; `clip={algorithm:norm,value:0.5}` -> `clip=norm 0.5`."""
    key, _, value = override.partition("=")
    if value.startswith("{") and value.endswith("}"):
        values = [item.partition(":")[2] for item in value[1:-1].split(",")]
    else:
        values = [value]
    # Only a whole value that is null: a folder such as /data/nullable keeps its name.
    return f"{key}={' '.join('none' if item == 'null' else item for item in values)}"


def point_label(point: tuple[str, ...], shown: dict[str, str]) -> str:
    """The label of a point: its values, `0.5` or `0.01, 0.9`, in the order of the swept keys, which
    head the legend and the table's first column; `all jobs` when only the seed is swept."""
    return ", ".join(readable(shown[override]).partition("=")[2] for override in point) or "all jobs"


def check_sweep(folder: Path) -> None:
    """Refuse, in one line, a folder that holds no sweep: a missing one, a single run's, an empty one."""
    advice = "pass the folder of a sweep (its hydra.sweep.dir), which holds multirun.yaml and a folder per job"
    if not folder.is_dir():
        raise SweepError(f"{folder} is not a folder; {advice}")
    if (folder / "multirun.yaml").exists() or any((job / ".hydra").is_dir() for job in folder.glob("*/")):
        return
    if (folder / ".hydra").is_dir():
        raise SweepError(f"{folder} is a single run's folder, not a sweep's; {advice}")
    raise SweepError(f"{folder} holds no sweep; {advice}")


def job_status(job: Path) -> dict[str, Any] | None:
    """The job's status.json, an object whose `status` is a string, as train.py writes it; None when
    there is none (missing, or not JSON: a job that never wrote it); SweepError naming the file when it
    holds JSON of another shape, which no job writes (read_status would say None)."""
    status = read_json(job / STATUS_FILE)
    if status is None or isinstance(status, dict) and isinstance(status.get("status"), str):
        return status
    content = json.dumps(status)
    content = content if len(content) <= 40 else f"{content[:37]}..."
    raise SweepError(f'{job / STATUS_FILE} holds {content}, not a job\'s status (an object such as {{"status": '
                     '"completed"}): restore it, or delete it to leave the job out as one without an outcome')


def collect(sweep_dir: Path) -> tuple[list[str], dict[tuple[str, ...], Group]]:
    """(swept keys, the points) for the jobs asked for and the job folders found; a point is keyed by
    its swept overrides (key=value, as Hydra wrote them). Only a completed job with a finite final
    val loss counts; every other one is a problem of its point."""
    jobs = {job: as_applied(job_overrides(job)) for job in sorted(sweep_dir.glob("*/"))
            if (job / ".hydra").is_dir()}
    # Without a grid, the jobs found are the points, their keys in the order of the first job's overrides.
    grid = expected_jobs(sweep_dir)
    if not (sweep_dir / "multirun.yaml").exists():
        jobs = defaults_named(jobs)
    expected = grid or list(jobs.values())
    swept = swept_keys(expected)
    if grid is None:  # a key that varies between the jobs, but names none of them, tells no point apart
        unnamed = set.intersection(*map(unnamed_keys, jobs)) if jobs else set()
        swept = [key for key in swept if key.lstrip("+~") not in unnamed]
    # A job is known by what the sweep varies: a sweep continued with a setting that does not vary
    # (a larger trainer.max_epochs, another data.root) keeps its jobs' first overrides.
    found = {varied(overrides, swept): job for job, overrides in jobs.items()}
    keys = [key for key in swept if key != SEED]
    shown = shown_values(expected, keys)
    # A job folder whose overrides the grid does not list (.hydra/overrides.yaml edited by hand) is no job of
    # the sweep: the job missing for it is said to be there, under other overrides, not "never started".
    listed = {varied(overrides, swept) for overrides in grid or []}
    # A folder without its overrides.yaml is a job whose start stopped before Hydra wrote that file (its last):
    # a full disk, or a kill. It was said to list "" (`overrides.yaml lists , ...: restore that file`).
    unstarted = [job.name for job in jobs if not (job / ".hydra" / "overrides.yaml").is_file()]
    strays = [f"{job.name}/.hydra/overrides.yaml lists {' '.join(sorted(varied(overrides, swept)))}"
              for job, overrides in jobs.items()
              if grid and job.name not in unstarted and varied(overrides, swept) not in listed]
    never_started = ("missing (no job folder: never started, or deleted)" if not strays else
                     f"missing (no job folder holds its overrides; {'; '.join(strays)}, which the sweep did not run: "
                     f"restore that file)")
    if grid and unstarted:
        stopped = (f"{', '.join(unstarted)} stopped as it started, before Hydra wrote its .hydra/overrides.yaml, as a "
                   f"full disk does: resume=true runs it")
        never_started = f"{never_started[:-1]}; {stopped})" if strays else f"missing ({stopped})"
    if grid:
        entries = [(overrides, found.get(varied(overrides, swept))) for overrides in grid]
    else:  # each job folder as itself: two trials of a search at one point share their overrides, by which
        # one job was counted twice and the other not at all (a completed trial hidden by a pruned one)
        entries = [(overrides, job) for job, overrides in jobs.items()]
    groups: dict[tuple[str, ...], Group] = {}
    for overrides, job in entries:
        by_key = {override.partition("=")[0]: override for override in overrides}
        point = tuple(by_key[key] for key in keys if key in by_key)  # in one key order for every job
        group = groups.setdefault(point, Group(point_label(point, shown)))
        seed = next((o.partition("=")[2] for o in overrides if o.startswith(f"{SEED}=")), "default")
        who = f"seed {seed}" if SEED in swept else "its job"  # a sweep of one seed per point names none
        if job is None:
            group.problems.append(f"{who}: {never_started}")
            continue
        status = job_status(job)
        if status is None or status["status"] != "completed":
            # An empty or cut status.json reads as none; named "no status.json", it sent the user looking for a file
            # that is there.
            state = status["status"] if status else (
                f"its {STATUS_FILE} is not JSON" if (job / STATUS_FILE).exists() else f"no {STATUS_FILE}")
            if state == "running" and lock_holder(job) is None:
                state = "running when its process was killed; resume=true continues it"
            group.problems.append(f"{who}: {state}"
                                  + (f" ({status['error']})" if status and "error" in status else ""))
            continue
        curves = epoch_curves(job)
        if not curves["val"]:
            group.problems.append(f"{who}: completed, but its csv/metrics.csv holds no val loss")
            continue
        final = curves["val"][max(curves["val"])]
        if not math.isfinite(final):
            group.problems.append(f"{who}: final val loss is {final}")
            continue
        ran = [seed for seed, _ in group.finals]
        if seed in ran:  # runs gathered by hand, or a search's trial asked again: one seed is one sample
            at = "the default seed" if seed == "default" else f"seed {seed}"
            group.problems.append(f"{job.name}: {at} again, as {group.jobs[ran.index(seed)].name}; counted once")
            continue
        group.finals.append((seed, final))
        group.jobs.append(job)
        for key, curve in curves.items():
            if curve:
                group.curves[key].append(curve)
    return keys, groups


def same_point(point: tuple[str, ...]) -> tuple[str, ...]:
    """A point as points are matched, within a sweep and between two: `clip.value=1` and `clip.value=1.0` are one
    value, as Hydra composes both."""
    overrides = (override.partition("=") for override in point)
    return tuple(f"{key}={float(value)!r}" if is_number(value) else f"{key}={value}" for key, _, value in overrides)


# An interpolation of other keys of the job's config (`${optim.lr}`, `${seed}`), not a resolver's (`${oc.env:LR}`).
KEY_REFERENCE = re.compile(r"\$\{[^${}:]+\}")
UNKNOWN = object()


def used_value(job: Path, key: str) -> Any:
    """The value of the override `key` the job ran with, resolved: as its checkpoint's run definition records it
    (which holds every key that defines a run, as the run resolved it, `${oc.env:...}` in the run's environment);
    else from its saved .hydra/config.yaml, where the key's interpolation names other keys of it alone (resolved
    there as in the run, whatever the environment now); else UNKNOWN."""
    key = key.lstrip("+~")
    for checkpoint in sorted((job / "checkpoints").glob("*.ckpt"),
                             key=lambda path: (path.name != "last.ckpt", path.name != "best.ckpt", path.name)):
        try:
            loaded = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # a checkpoint cut short: the next one
            continue
        definition = RunDefinition.recorded(loaded)
        if definition is not None and key in definition:  # else of another project, or older than definitions
            return definition[key]
    try:
        config = OmegaConf.load(job / ".hydra" / "config.yaml")
        raw = OmegaConf.to_container(config, resolve=False)
        for part in key.split("."):
            raw = raw[part]
        if "${" in KEY_REFERENCE.sub("", json.dumps(raw)):
            return UNKNOWN
        value = OmegaConf.select(config, key, throw_on_missing=True)
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    except Exception:  # no config, no such key in it, or an interpolation it cannot resolve
        return UNKNOWN


@dataclass
class Interpolations:
    """What `as_used` made of a sweep's overrides written as interpolations."""

    # Each such override shown as the value its jobs ran with, as `key=value` (a seed whose jobs ran with
    # several: `seed=1 or 2`).
    resolved: dict[str, str] = field(default_factory=dict)
    # Each point left as written though its jobs ran with the values of another point of the sweep, by its label:
    # the label of those values (`ran_with`) and of the other points (`as`).
    apart: dict[str, dict[str, Any]] = field(default_factory=dict)


def used_point(point: tuple[str, ...], group: Group) -> tuple[str, ...]:
    """The point with each override written as an interpolation as the value it resolved to, where every
    completed job of the point gives the same one (`used_value`); the others, and those, as written."""
    used = []
    for override in point:
        key, _, value = override.partition("=")
        if "${" in value and group.jobs:
            values = {repr(given): given for given in (used_value(job, key) for job in group.jobs)}
            if len(values) == 1 and (given := next(iter(values.values()))) is not UNKNOWN:
                override = f"{key}={as_written(given)}"
        used.append(override)
    return tuple(used)


def with_used_seeds(group: Group, seeds: dict[str, list[str]]) -> Group:
    """The group with each seed written as an interpolation as the seed its job ran with (`used_value`), where
    that can be told, so that it pairs with that seed's run in another sweep; into `seeds`, each such seed's
    override and the seeds it was."""
    finals = []
    for (seed, loss), job in zip(group.finals, group.jobs):
        given = used_value(job, SEED) if "${" in seed else UNKNOWN
        if given is not UNKNOWN:
            ran = seeds.setdefault(f"{SEED}={seed}", [])
            seed = as_written(given)
            if seed not in ran:
                ran.append(seed)
        finals.append((seed, loss))
    return replace(group, finals=finals)


def as_used(groups: dict[tuple[str, ...], Group]) -> tuple[dict[tuple[str, ...], Group], Interpolations]:
    """The points keyed by the values their jobs ran with: a swept override written as an interpolation
    (`optim.lr='${oc.decode:${oc.env:LR}}'`) as the value it resolved to (`optim.lr=0.002`, `used_point`), and
    the label so; each seed so written as the one its job ran with (`with_used_seeds`). A point whose jobs ran
    with another point's values (0.002 beside an interpolation that was 0.002) stays as written, apart: as one
    point, each seed run at both would be counted twice, as if it were two. Other points, and those that one
    value cannot stand for, as written. With what was made of each interpolation."""
    used = {point: used_point(point, group) for point, group in groups.items()}
    alike: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for point, values in used.items():
        alike[same_point(values)].append(point)
    found: dict[tuple[str, ...], Group] = {}
    interpolations = Interpolations()
    seeds: dict[str, list[str]] = {}
    for point, group in groups.items():
        group = with_used_seeds(group, seeds)
        others = [groups[other].label for other in alike[same_point(used[point])] if other != point]
        if used[point] == point or others:
            found[point] = group
            if used[point] != point:
                interpolations.apart[group.label] = {"ran_with": point_label(used[point], identity(used[point])),
                                                     "as": others}
            continue
        interpolations.resolved |= {written: value for written, value in zip(point, used[point]) if written != value}
        found[used[point]] = replace(group, label=point_label(used[point], identity(used[point])))
    interpolations.resolved |= {written: f"{SEED}={' or '.join(ran)}" for written, ran in seeds.items()}
    return found, interpolations


def identity(point: tuple[str, ...]) -> dict[str, str]:
    """`point_label`'s `shown` for a point whose values are shown as they are."""
    return {override: override for override in point}


def interpolation_lines(resolved: dict[str, str], apart: dict[str, dict[str, Any]], done: str,
                        whose: str = "") -> list[str]:
    """The lines under a table that say which override written as an interpolation is `done` (shown, compared) as
    which value its jobs ran with, and which point is kept as written, apart from the point whose values it ran
    with; `whose`: the sweep's (`B's `), in a table of two."""
    lines = [f"{whose}{written} is {done} as the {value.partition('=')[2]} its jobs ran with."
             for written, value in resolved.items()]
    for label, found in apart.items():
        points = "points" if len(found["as"]) > 1 else "point"
        lines.append(f"{whose}{label} ran with {found['ran_with']}, as {whose or 'the '}{points} "
                     f"{' and '.join(found['as'])} did: kept apart, as written (as one point, each seed run at both "
                     f"would be counted twice).")
    return lines


def by_epoch(curves: list[dict[int, float]]) -> list[tuple[int, Sample]]:
    """Per epoch, the statistics of the finite values the seeds logged at it."""
    epochs = sorted({epoch for curve in curves for epoch in curve})
    values = [[curve[epoch] for curve in curves if epoch in curve and math.isfinite(curve[epoch])] for epoch in epochs]
    return [(epoch, describe(found)) for epoch, found in zip(epochs, values) if found]


def curve_label(group: Group, key: str) -> str:
    """The legend's label of the point's curve of `key`: where its seeds stopped at different epochs, with the
    epoch the curve ends at (`shortest_end`)."""
    end = shortest_end(group.curves[key])
    if end is None:
        return group.label
    return f"{group.label} (to epoch {end + 1}, where the first of its {len(group.curves[key])} seeds stopped)"


def shortest_end(curves: list[dict[int, float]]) -> int | None:
    """The last epoch every seed's curve reached, where they end at different ones (EarlyStopping, a pruner);
    None where they end together. Past it the mean and its band would be over the seeds still running: the
    curve jumped as each seed stopped, and its band narrowed or vanished, with nothing to say so."""
    ends = {max(curve) for curve in curves if curve}
    return min(ends) if len(ends) > 1 else None


# Each point's look, so that a figure printed in grey, or seen with a colour-vision deficiency, still tells
# the points apart: Petroff's 10 colours (matplotlib's "petroff10" style, chosen to stay distinct under the
# common colour-vision deficiencies), and dashes and markers of their own that repeat together only after
# 28 points (4 dashes x 7 markers). With matplotlib's tab10 and one solid line for the first 10 points, a
# figure printed in grey showed Figure 3's seven momenta as seven alike lines.
COLOURS = ("#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581",
           "#92dadd")
DASHES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def point_style(index: int) -> dict[str, str]:
    """The colour, dashes and marker of the sweep's point `index`: the three repeat together only after
    140 points (an Optuna sweep's dozens stay apart)."""
    return {"color": COLOURS[index % len(COLOURS)], "linestyle": DASHES[index % len(DASHES)],
            "marker": MARKERS[index % len(MARKERS)]}


def draw_curves(axis, groups: dict[tuple[str, ...], Group], key: str, scale: float = 1.0, geometric: bool = False,
                within: tuple[float, float] = (-math.inf, math.inf)) -> None:
    """Each point's mean curve of `key` over its seeds, with the band of the mean's 95% interval
    where two seeds or more reached the epoch, up to the last epoch all its seeds reached (`shortest_end`,
    which its legend entry names), cut to the values `key` can take (`within`, after
    `scale`); markers, so that a curve of one epoch shows. `geometric`: the geometric mean, and the
    interval of the logarithms' mean mapped back, which stays above zero on a log axis (the
    arithmetic interval of two seeds can reach below it)."""
    back = math.exp if geometric else float
    for index, group in enumerate(groups.values()):
        curves = group.curves[key]
        end = shortest_end(curves)
        if end is not None:
            curves = [{epoch: value for epoch, value in curve.items() if epoch <= end} for curve in curves]
        if geometric:  # a norm of exactly 0 has no logarithm, and no place on a log axis
            curves = [{epoch: math.log(value) for epoch, value in curve.items() if value > 0} for curve in curves]
        samples = by_epoch(curves)
        if not samples:
            continue
        epochs = [epoch + 1 for epoch, _ in samples]  # epoch 1 is the first one trained
        means = [scale * back(sample.mean) for _, sample in samples]
        line = axis.plot(epochs, means, label=curve_label(group, key), linewidth=1.5, markersize=4,
                         **point_style(index))[0]
        low = [max(within[0], scale * back(sample.ci95[0])) if sample.ci95 else mean
               for (_, sample), mean in zip(samples, means)]
        high = [min(within[1], scale * back(sample.ci95[1])) if sample.ci95 else mean
                for (_, sample), mean in zip(samples, means)]
        axis.fill_between(epochs, low, high, where=[sample.ci95 is not None for _, sample in samples],
                          color=line.get_color(), alpha=0.2, linewidth=0)
        if len(samples) == 1 and samples[0][1].ci95:  # a band over one epoch has no width: a bar shows it
            axis.vlines(epochs, low, high, color=line.get_color(), alpha=0.4, linewidth=4, zorder=1)
    # One tick is enough: the default of two puts fractional epochs around a sweep of one epoch.
    axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axis.grid(True, which="both", alpha=0.3)


# Matplotlib's round tick steps, within each power of ten.
ROUND_STEPS = [1, 2, 2.5, 5, 10]


def log_scale(axis) -> None:
    """A log y axis labelled at round values. Within less than a decade, matplotlib's log ticks may
    label only the part below the one power of ten (60-90 of 60-165): there, ticks are spaced as
    on a linear axis, with one near the bottom."""
    axis.set_yscale("log")
    low, high = axis.get_ylim()
    if high < 10 * low:
        ticks = MaxNLocator(nbins=6, steps=ROUND_STEPS).tick_values(low, high)
        step = ticks[1] - ticks[0]
        inside = ticks[(ticks >= low) & (ticks <= high)]
        finer = MaxNLocator(nbins=24, steps=ROUND_STEPS).tick_values(low, high)
        # The final losses lie at the bottom of falling curves: a bottom more than half a step below the first
        # labelled tick (30.2-47 was labelled from 35 up) gets a tick of its own, at the round value nearest it
        # within the axis. Moving the bottom down to the next tick instead left a quarter of Figure 2's panels
        # empty; at the top, where the log scale packs the labels, one more crowded them.
        bottom = [finer[finer >= low].min()] if inside.min() - low > step / 2 else []
        axis.yaxis.set_major_locator(FixedLocator(sorted([*ticks, *bottom])))
        axis.yaxis.set_minor_locator(NullLocator())
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        return
    axis.yaxis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    axis.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


class PlainLogFormatter(LogFormatter):
    """Matplotlib's choice of which log ticks to label (of the minor ones: all within half a decade,
    some within two, none beyond), each as a plain number: 0.5, not 5e-01."""

    def __call__(self, value: float, position: int | None = None) -> str:
        return f"{value:g}" if super().__call__(value, position) else ""


EPOCH_LABEL = "epoch (1 = the first trained; TensorBoard counts from 0)"
PAPER_EPOCH_LABEL = "epoch (1 = the first trained)"


def epoch_label(figure: Figure) -> None:
    """One x label under all panels: under each, it would run into the next one's."""
    figure.supxlabel(EPOCH_LABEL, fontsize="medium")


# What the loss figure's curves and bands are; the gradient figure's norms are drawn otherwise.
BAND = "mean over {seeds} seeds, band: 95% confidence interval of the mean (Student's t)"
GRADIENT_BANDS = ("over {seeds} seeds: norms' geometric mean, band its 95% interval (Student's t on their logarithms); "
                  "clipped %: mean, band its 95% interval within 0-100")


def seeds_title(groups: dict[tuple[str, ...], Group], title: str, band: str = BAND) -> str:
    """The title, with the seeds each point's mean is over and what its band is (or that it has none)."""
    counts = sorted({len(group.finals) for group in groups.values() if group.finals})
    if not counts:
        return f"{title}: no job completed"
    if counts[-1] == 1:
        return f"{title}: one seed per point, so no band"
    seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    # On a line of its own: one line would run under the legend, which sits beside the panels at the top.
    return f"{title}\n" + band.format(seeds=seeds) + ("; none for one seed" if counts[0] == 1 else "")


def legend(figure: Figure, axis, keys: list[str], groups: dict[tuple[str, ...], Group]) -> None:
    """The points' legend beside the panels, never over the curves, in columns of LEGEND_ROWS; the
    figure widens by a column's width for each column after the first, or by as much as the legend is
    wider. A point none of whose jobs completed, which has no curve, is listed as such: left out, a sweep
    of 0.01 and 1e6 whose 1e6 diverged read as a sweep of 0.01 alone."""
    handles, labels = legend_entries(axis, groups)
    if labels:
        columns = math.ceil(len(labels) / LEGEND_ROWS)
        # Wrapped to a column's width: the swept keys on one line, where many, set the legend over the panels.
        title = wrapped(", ".join(keys), LEGEND_COLUMN_INCHES * columns, LEGEND_TITLE_POINTS) or None
        drawn = figure.legend(handles, labels, loc="outside right", fontsize="small", ncols=columns, title=title)
        # Wider still where its labels are (a point of many keys' values): the panels keep their width.
        legend_inches = drawn.get_window_extent().width / figure.dpi
        width, height = figure.get_size_inches()
        figure.set_size_inches(width + max(LEGEND_COLUMN_INCHES * (columns - 1), legend_inches - LEGEND_COLUMN_INCHES),
                               height)


def screen_title(figure: Figure, title: str) -> None:
    """`title` over a screen figure, each line wrapped to its width: the keys of a sweep of many ran past both
    edges."""
    figure.suptitle(wrapped(title, figure.get_size_inches()[0], TITLE_POINTS))


def legend_entries(axis, groups: dict[tuple[str, ...], Group]) -> tuple[list[Any], list[str]]:
    """The legend's (handles, labels): the axis's curves, then each point without a curve, said to be so."""
    handles, labels = axis.get_legend_handles_labels()
    undrawn = [group.label for group in groups.values() if not group.finals]
    handles += [Line2D([], [], linestyle="none") for _ in undrawn]
    labels += [f"{label}{UNDRAWN}" for label in undrawn]
    return handles, labels


def legend_labels(groups: dict[tuple[str, ...], Group], key: str) -> list[str]:
    """The labels of the legend of the panel of `key`, before its curves are drawn."""
    return [curve_label(group, key) if group.finals else f"{group.label}{UNDRAWN}" for group in groups.values()]


def font_fallback(texts: Iterable[str]) -> dict[str, Any]:
    """matplotlib's settings under which every character of `texts` (a title, keys, labels) is drawn: its own
    font, then the first installed font that has the characters it lacks (a Chinese or Japanese --title).
    Where no installed font has some, one line says which and how to get them, in place of matplotlib's
    warning per character per figure; those are drawn as boxes."""
    family = list(matplotlib.rcParams["font.family"])
    default = font_manager.get_font(font_manager.findfont(font_manager.FontProperties(family=family)))
    lacking = {character for text in texts for character in text
               if not character.isspace() and not default.get_char_index(ord(character))}
    if not lacking:
        return {}
    # matplotlib's Last Resort font has a glyph for every character: the box it draws.
    fonts = sorted((entry for entry in font_manager.fontManager.ttflist if not entry.name.startswith("Last Resort")),
                   key=lambda entry: entry.name)
    fallback = next((entry.name for entry in fonts
                     if all(font_manager.get_font(entry.fname).get_char_index(ord(c)) for c in lacking)), None)
    if fallback is not None:
        return {"font.family": [*family, fallback]}
    log.warning("no font installed here has %s (in the title or the labels): the figures show a box for each; "
                "install a font that has them (Debian: apt-get install fonts-noto-cjk for Chinese, Japanese or "
                "Korean), then python -m vae_lightning.plot again", ", ".join(sorted(lacking)))
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
    return {}


def rendered(figure: Figure, path: Path, dpi: int = SCREEN_DPI) -> dict[Path, bytes]:
    """The figure as `path` (.png, for screens and web pages, at `dpi`) and beside it as .pdf, in
    vector form for a paper; the PDF without its creation date, so that a sweep plotted again gives
    the same bytes, and with TrueType fonts: journals' checks (IEEE's, ACM's) refuse matplotlib's
    default Type 3."""
    formats = {"png": {"dpi": dpi}, "pdf": {"metadata": {"CreationDate": None}}}
    # fontTools, which cuts the fonts down to the glyphs used, reports each table it prunes at INFO:
    # some 70 lines per PDF in a sweep's log.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    files = {}
    for suffix, options in formats.items():
        buffer = io.BytesIO()
        with matplotlib.rc_context({"pdf.fonttype": 42}):
            figure.savefig(buffer, format=suffix, **options)
        files[path.with_suffix(f".{suffix}")] = buffer.getvalue()
    return files


def draw(groups: dict[tuple[str, ...], Group], keys: list[str], title: str, loss: str = PAPER_LOSS_NAME,
         width: float | None = None) -> Figure:
    """The loss curves' figure: for a screen, or with `width` (inches) for a paper at that width."""
    if width is not None:
        return draw_for_paper(groups, keys, title, loss, width)
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for axis, stage in zip(axes, STAGES):
        draw_curves(axis, groups, stage)
        axis.set_title(f"{stage} loss")
    for axis in axes:  # once both are drawn: they share the y axis, and its ticks depend on its range
        log_scale(axis)
    axes[0].set_ylabel(f"loss ({loss}), per image; log scale")
    epoch_label(figure)
    legend(figure, axes[1], keys, groups)
    screen_title(figure, seeds_title(groups, title))
    return figure


def wrapped(text: str, width: float, points: float) -> str:
    """Each line of `text` broken into lines that fit `width` inches at `points`: a figure for a column is
    narrower than its title's line on the seeds and the band, and than the epoch axis's label."""
    characters = max(20, int(width * 72 / (CHARACTER_EMS * points)))
    return "\n".join(textwrap.fill(line, characters) for line in text.splitlines())


def panels_per_row(width: float, count: int) -> int:
    """How many of `count` panels a figure for a paper `width` inches wide sets in a row: as many as leave each
    SIDE_BY_SIDE_INCHES / 2; one a row, stacked, in a narrower figure."""
    return max(1, min(count, int(width // (SIDE_BY_SIDE_INCHES / 2))))


def paper_legend(labels: list[str], width: float) -> tuple[list[str], int]:
    """A paper figure's legend labels, each wrapped to its column, and its columns: as many
    PAPER_LEGEND_COLUMN_INCHES wide as `width` inches hold, fewer where a label is wider (a point of many keys'
    values, which ran off the page)."""
    widest = max(map(len, labels), default=0) * CHARACTER_EMS * PAPER_SMALL_POINTS / 72 + LEGEND_HANDLE_INCHES
    columns = max(1, min(len(labels), int(width // max(PAPER_LEGEND_COLUMN_INCHES, widest))))
    return [wrapped(label, width / columns - LEGEND_HANDLE_INCHES, PAPER_SMALL_POINTS) for label in labels], columns


def legend_lines(labels: list[str], width: float) -> int:
    """The lines of text a paper figure `width` inches wide has under its panels for a legend of `labels`."""
    wrapped_labels, columns = paper_legend(labels, width)
    rows = [wrapped_labels[start:start + columns] for start in range(0, len(wrapped_labels), columns)]
    return sum(max(label.count("\n") + 1 for label in row) for row in rows)


def paper_figure(width: float, count: int, labels: list[str], sharey: bool = False) -> tuple[Figure, list[Any]]:
    """A figure for a paper `width` inches wide and its `count` panels, `panels_per_row` of them a row (a last
    row of fewer centred under the others), each 1.6 in high when stacked one a row (then sharing their x axis),
    1.9 in in rows of several; then room for the title, the panels' titles and x labels, and the legend of
    `labels` under them (`paper_legend`)."""
    per_row = panels_per_row(width, count)
    rows = math.ceil(count / per_row)
    height = rows * (1.6 if per_row == 1 else 1.9) + 1.2 + 0.16 * (legend_lines(labels, width) + 1)
    figure = Figure(figsize=(width, height), layout="constrained")
    if count % per_row == 0:
        return figure, list(figure.subplots(rows, per_row, squeeze=False, sharex=per_row == 1, sharey=sharey).flat)
    # Each panel two columns of a grid twice as fine, so that the last row's fewer panels sit in its middle.
    grid = figure.add_gridspec(rows, 2 * per_row)
    last = count - (rows - 1) * per_row
    places = [grid[row, 2 * column:2 * column + 2] for row in range(rows - 1) for column in range(per_row)]
    places += [grid[rows - 1, per_row - last + 2 * column:per_row - last + 2 * column + 2] for column in range(last)]
    axes = [figure.add_subplot(place) for place in places]
    for axis in axes[1:] if sharey else []:
        axis.sharey(axes[0])
    return figure, axes


def for_paper(figure: Figure, axes: list[Any], keys: list[str], groups: dict[tuple[str, ...], Group], title: str,
              width: float, band: str = BAND, epochs: str = PAPER_EPOCH_LABEL) -> None:
    """The text of a figure from `paper_figure` at PAPER_TEXT_POINTS and PAPER_SMALL_POINTS as printed `width`
    inches wide: the panels' titles and ticks; the x label `epochs` under each panel, or under the lowest of
    stacked ones (on the panels, not the figure: constrained layout put the figure's x label and the legend below
    it in one place); the legend under the panels (beside, it took a column's width from panels already narrow);
    the title, saying what `band` is. Titles and labels are wrapped to fit: three panels in a row ran their x
    labels into each other."""
    per_row = panels_per_row(width, len(axes))
    for axis in axes:
        axis.set_title(wrapped(axis.get_title(), width / per_row, PAPER_TEXT_POINTS), fontsize=PAPER_TEXT_POINTS)
        axis.tick_params(which="both", labelsize=PAPER_SMALL_POINTS)
    for axis in axes[-1:] if per_row == 1 else axes:
        axis.set_xlabel(wrapped(epochs, width / per_row, PAPER_TEXT_POINTS), fontsize=PAPER_TEXT_POINTS)
    handles, labels = legend_entries(axes[-1], groups)
    if labels:
        labels, columns = paper_legend(labels, width)
        figure.legend(handles, labels, loc="outside lower center",
                      title=wrapped(", ".join(keys), width, PAPER_SMALL_POINTS) or None,
                      fontsize=PAPER_SMALL_POINTS, title_fontsize=PAPER_SMALL_POINTS, ncols=columns)
    figure.suptitle(wrapped(seeds_title(groups, title, band), width, PAPER_TEXT_POINTS), fontsize=PAPER_TEXT_POINTS)


def draw_for_paper(groups: dict[tuple[str, ...], Group], keys: list[str], title: str, loss: str,
                   width: float) -> Figure:
    """The loss curves `width` inches wide with their text at PAPER_TEXT_POINTS and PAPER_SMALL_POINTS as
    printed at that width: the two panels side by side, or stacked below SIDE_BY_SIDE_INCHES (`paper_figure`);
    the legend under them, the title and labels wrapped to fit (`for_paper`)."""
    figure, axes = paper_figure(width, len(STAGES), legend_labels(groups, STAGES[-1]), sharey=True)
    for axis, stage in zip(axes, STAGES):
        draw_curves(axis, groups, stage)
        axis.set_title(f"{stage} loss")
    for axis in axes:  # once both are drawn: they share the y axis, and its ticks depend on its range
        log_scale(axis)
    # The figure's own y label: on the upper of two stacked panels it ran past that panel's height.
    figure.supylabel(wrapped(f"loss ({loss}), per image; log scale", figure.get_size_inches()[1], PAPER_TEXT_POINTS),
                     fontsize=PAPER_TEXT_POINTS)
    for_paper(figure, axes, keys, groups, title, width)
    return figure


# The gradient figure's panels: the statistic, the panel's title, its y label on a screen (the first panel's
# also says what epoch 0 is, which the x label of a paper's figure says), in a paper.
GRADIENT_PANELS = (
    (STATISTICS[0], "gradient norm before clipping", "global L2 norm, log scale\n(epoch mean; epoch 0: initialisation)",
     "global L2 norm, log scale"),
    (STATISTICS[1], "gradient norm after clipping", "", "global L2 norm, log scale"),
    (STATISTICS[2], "clipped: % of entries (by value) or of steps (by norm)",
     "% (epoch mean) = 100 × train/clip_fraction", "% (epoch mean)"),
)
PAPER_GRADIENT_EPOCH_LABEL = "epoch (0 = initialisation, 1 = the first trained)"


def draw_gradients(groups: dict[tuple[str, ...], Group], keys: list[str], title: str,
                   width: float | None = None) -> Figure:
    """Epoch means of the gradient's norm before and after clipping and of the share the clip
    changed; epoch 0 is the first step's gradient, at initialisation. For a screen, or with `width` (inches)
    for a paper at that width, laid out and lettered as the loss curves are (`paper_figure`, `for_paper`)."""
    if width is None:
        figure = Figure(figsize=(15, 4.2), layout="constrained")
        axes = list(figure.subplots(1, 3))
    else:
        figure, axes = paper_figure(width, len(GRADIENT_PANELS), legend_labels(groups, GRADIENT_PANELS[-1][0]))
    for axis, (name, panel_title, screen_label, paper_label) in zip(axes, GRADIENT_PANELS):
        if name.endswith("fraction"):
            draw_curves(axis, groups, name, scale=100.0, within=(0.0, 100.0))
        else:
            draw_curves(axis, groups, name, geometric=True)
            log_scale(axis)
        axis.set_title(panel_title)
        if width is None:
            axis.set_ylabel(screen_label)
        else:
            axis.set_ylabel(paper_label, fontsize=PAPER_TEXT_POINTS)
    if width is not None:
        for_paper(figure, axes, keys, groups, title, width, GRADIENT_BANDS, PAPER_GRADIENT_EPOCH_LABEL)
        return figure
    epoch_label(figure)
    legend(figure, axes[2], keys, groups)
    screen_title(figure, seeds_title(groups, title, GRADIENT_BANDS))
    return figure


def mean_at(curves: list[dict[int, float]], epoch: int, geometric: bool = False) -> str:
    """The seeds' mean at `epoch` (`geometric`: their geometric mean, as the figure draws the norms)."""
    values = [curve[epoch] for curve in curves if epoch in curve]
    if geometric:
        values = [value for value in values if value > 0]
        return f"{statistics.geometric_mean(values):.4g}" if values else "n/a"
    return f"{statistics.fmean(values):.4g}" if values else "n/a"


def table(heading: str, explanation: list[str], columns: list[str], rows: list[list[str]],
          after: list[str] = ()) -> str:
    """A markdown page: a heading, lines of explanation, a table of `rows` (each a list of cells), and lines
    after it. The heading is one line, whatever lines a figure's title (`--title`) has: a second would be a
    paragraph of its own. A `|` within a cell (a label's `data.root=/a|b`) is escaped: it would end the cell."""
    lines = ["| " + " | ".join(str(cell).replace("|", r"\|") for cell in row) + " |" for row in [columns, *rows]]
    return "\n".join([f"# {' '.join(heading.splitlines())}", "", *explanation, "", lines[0],
                      "|" + "---|" * len(columns), *lines[1:], *([""] + list(after) if after else []), ""])


def summarise_gradients(groups: dict[tuple[str, ...], Group], keys: list[str], title: str,
                        loss: str = PAPER_LOSS_NAME, interpolations: Interpolations | None = None) -> str:
    """gradients.md: per point, the gradient statistics at initialisation and at the last epoch; under them, what
    `as_used` made of the overrides written as interpolations."""
    rows = []
    for group in groups.values():
        norms = group.curves[STATISTICS[0]]
        # Where its seeds stopped at different epochs, the last all reached, as the figure's curves end there.
        last = shortest_end(norms)
        if last is None:
            last = max((epoch for curve in norms for epoch in curve), default=INITIALISATION)
        fractions = [{epoch: 100 * value for epoch, value in curve.items()} for curve in group.curves[STATISTICS[2]]]
        rows.append([group.label, mean_at(norms, INITIALISATION, True), mean_at(norms, last, True),
                     mean_at(group.curves[STATISTICS[1]], last, True), mean_at(fractions, 0), mean_at(fractions, last)])
    explanation = [
        "Over seeds: norms' geometric means, clipped %'s means, as gradients.png draws them.",
        f"Norms: global L2 norm of the gradient of {loss} before and after clipping;",
        "clipped: % of gradient entries the clip changed (by value) or % of steps it rescaled (by norm): 100 × "
        "TensorBoard's train/clip_fraction. Epochs count from 1, the first trained (TensorBoard counts from 0).",
        "Initialisation: the first step; last epoch: the mean over its steps, of the last epoch all the point's "
        "seeds reached.",
    ]
    columns = [", ".join(keys) or "value", "norm at initialisation", "norm, last epoch", "after clipping, last epoch",
               "clipped %, first epoch", "clipped %, last epoch"]
    interpolations = interpolations or Interpolations()
    return table(f"{title}: gradients", explanation, columns, rows,
                 interpolation_lines(interpolations.resolved, interpolations.apart, "shown"))


def loss_description(loss: str) -> str:
    return f"val/loss after each completed job's last epoch (csv/metrics.csv): {loss}, per image"
INTERVAL = "mean ± t(0.975, n-1)·sd/√n, sd the sample standard deviation (ddof=1)"
TEST = ("Games and Howell's test of each point against the best (lowest mean): Welch's t and degrees of freedom "
        "(scipy.stats.ttest_ind, equal_var=False) read against the studentized range of the points tested and "
        f"the best (scipy.stats.studentized_range), which holds the chance of any false 'worse' at {ALPHA} though the "
        "data picked the best")


def summarise(groups: dict[tuple[str, ...], Group], keys: list[str], title: str,
              loss: str = PAPER_LOSS_NAME, interpolations: Interpolations | None = None) -> dict[str, Any]:
    """What summary.json holds: each point's statistics over its seeds, best first, then the points
    without a completed job; and what `as_used` made of the overrides written as interpolations."""
    verdicts = against_best({point: group.losses for point, group in groups.items()})
    points = []
    for point, group in groups.items():
        sample = describe(group.losses) if group.finals else None
        verdict = verdicts.get(point)
        val = by_epoch(group.curves["val"])
        points.append({
            "label": group.label,
            "overrides": list(point),
            "n": len(group.finals),
            "mean": sample.mean if sample else None,
            "sd": sample.sd if sample else None,
            "ci95": list(sample.ci95) if sample and sample.ci95 else None,
            "p_vs_best": verdict.p_vs_best if verdict else None,
            "verdict": verdict.verdict if verdict else None,
            "seeds_for_80pct_power": verdict.seeds_needed if verdict else None,
            "best_epoch": min(val, key=lambda found: found[1].mean)[0] + 1 if val else None,
            "values": [{"seed": seed, "val_loss": loss} for seed, loss in group.finals],
            "excluded": group.problems,
        })
    # Python's sort is stable: of equal means, the best (the first given) stays first.
    points.sort(key=lambda found: math.inf if found["mean"] is None else found["mean"])
    tested = sum(found["p_vs_best"] is not None for found in points)
    return {"title": title, "swept": keys, "loss": loss_description(loss), "interval": INTERVAL, "test": TEST,
            "alpha": ALPHA, "power": POWER, "points_tested": tested, "points": points,
            **asdict(interpolations or Interpolations())}


# A spread below this is the arithmetic's, not the seeds': three equal 0.1s have an sd of 1.7e-17.
FLOAT_NOISE = 1e-9


def decimals(spreads: list[float | None]) -> int:
    """Decimals for a table's losses: 3, or as many more as show each nonzero spread to two significant
    digits. At 3 a loss of one's own of 0.012 ± 0.00007 read as sd 0.000, and two means that differ
    significantly printed as one."""
    return max([3, *(1 - math.floor(math.log10(spread)) for spread in spreads if spread and spread > FLOAT_NOISE)])


def untested(n: int) -> str:
    """Why a point that is not the best has no p-value: no seed, one seed, or one at the best."""
    return {0: "n/a", 1: "no test: 1 seed"}.get(n, "no test: the best has 1 seed")


def summary_markdown(summary: dict[str, Any], loss: str = PAPER_LOSS_NAME) -> str:
    """summary.md: the table of summary.json, and the seeds that would separate indistinguishable points."""
    best = next((found for found in summary["points"] if found["verdict"] == "best"), None)
    rows, seeds_needed = [], []
    digits = decimals([found["sd"] for found in summary["points"]])
    for found in summary["points"]:
        n = found["n"]
        mean = f"{found['mean']:.{digits}f}" if n else "n/a"
        sd = f"{found['sd']:.{digits}f}" if n > 1 else ("none: 1 seed" if n else "n/a")
        interval = "[{:.{digits}f}, {:.{digits}f}]".format(*found["ci95"], digits=digits) if found["ci95"] else sd
        p = f"{found['p_vs_best']:.3g}" if found["p_vs_best"] is not None else (
            "" if found["verdict"] == "best" else untested(n))
        verdict = found["verdict"] or "untested"
        best_epoch = found["best_epoch"] or "n/a"
        rows.append([found["label"], mean, sd, interval, p, verdict, best_epoch, n, "; ".join(found["excluded"])])
        if found["verdict"] == "indistinguishable":
            difference = found["mean"] - best["mean"]
            needed = found["seeds_for_80pct_power"]
            seeds_needed.append(
                f"- {found['label']}: {difference:.{digits}f} above {best['label']}; "
                + (f"about {needed} seeds per point would find a difference of that size" if needed else
                   "equal means: no number of seeds separates them"))
    explanation = [
        f"Final val loss ({loss}, per image): each completed job's val loss after its last epoch. Per point, over",
        "its seeds: the mean, the sample sd and the 95% confidence interval of the mean, mean ± t(0.975, n-1)·sd/√n.",
        f"p vs best: {TEST}; worse: p < {ALPHA}, else indistinguishable.",
        "One seed: no sd, no interval, no test. Best epoch: the epoch (from 1) with the lowest mean val loss.",
        "Sorted best first; summary.json holds these numbers.",
    ]
    tested = summary["points_tested"]
    after = ["Seeds for 80% power, where a point is indistinguishable from the best: the same test at",
             f"α = {ALPHA} over the {tested + 1} points it compared, the two points' pooled sd as the spread:",
             *seeds_needed] if seeds_needed else []
    interpolated = interpolation_lines(summary["resolved"], summary["apart"], "shown")
    after += ([""] if after and interpolated else []) + interpolated
    columns = [", ".join(summary["swept"]) or "value", "final val loss", "sd", "95% interval",
               "p vs best (Games-Howell)", "verdict", "best epoch", "seeds", "problems"]
    return table(summary["title"], explanation, columns, rows, after)


def json_bytes(content: Any) -> bytes:
    """Indented, strict JSON: a NaN would be refused rather than written as JSON's non-standard NaN."""
    return (json.dumps(content, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def write_all(files: dict[Path, bytes], again: str) -> None:
    """Each file through the project's atomic writer (a reader never sees half of one); a full disk
    is NoSpaceLeft, naming the file and `again`, the command that writes them once space is freed."""
    for path, content in files.items():
        try:
            with atomic_file(path) as file:
                file.write(content)
        except OSError as error:
            if full_disk(error) is None:
                raise
            raise NoSpaceLeft(f"{full_disk(error)} writing {path}: free some space, then {again}") from None


def side_by_side(first: Callable[[], dict[Path, bytes]], second: Callable[[], dict[Path, bytes]]) -> dict[Path, bytes]:
    """What `first` and `second` render, `second` in a forked process while this one runs `first`: the
    two figures' PNGs and PDFs took 0.7 s of a sweep's end one after the other, while its jobs' cores
    stood idle (benchmarks/sweep_speed.py). One after the other where there is one core, or no fork."""
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return first() | second()
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=send_outcome, args=(second, sender), daemon=True)
    child.start()
    sender.close()
    try:
        files = first()
        outcome = receiver.recv()
    except EOFError:  # the process died before it answered (killed, out of memory)
        child.join()
        raise RuntimeError(f"the process drawing a figure ended with exit code {child.exitcode}") from None
    except BaseException:
        # Ctrl-C sent to this process alone (or an error drawing `first`): nothing will read the child's
        # figures, whose bytes fill the pipe, so it would wait in `send` and the join below for ever.
        child.kill()
        raise
    finally:
        child.join()
        receiver.close()
    if isinstance(outcome, BaseException):
        raise outcome
    return files | outcome


def send_outcome(render: Callable[[], dict[Path, bytes]], sender: Connection) -> None:
    """Run `render` and send what it returns, or the exception it raised, to the process that forked this one."""
    try:
        outcome: Any = render()
    except BaseException as error:  # the parent raises it, as if it had rendered the figure itself
        outcome = error
    sender.send(outcome)
    sender.close()


def plot_sweep(sweep_dir: Path, title: str | None = None, width: float | None = None) -> list[Path]:
    """Write figure.png and .pdf (once a job completed: no empty axes), summary.md and summary.json into
    the sweep folder, and gradients.png, .pdf and .md when its runs logged gradient statistics; returns
    the paths written. `width`: the figures (figure.png and .pdf, gradients.png and .pdf) for a paper, that many
    inches wide (`draw_for_paper`, `draw_gradients`), the PNGs at PAPER_DPI.
    Everything is drawn before the first file is written: a bad sweep folder leaves nothing behind."""
    check_sweep(sweep_dir)
    check_writable(sweep_dir, f"the sweep folder {sweep_dir}", "plot writes its figures and tables into it; copy the "
                   "sweep to a folder you can write to, and plot the copy")
    refuse_links_out(sweep_dir, "plot", "plot a copy of the sweep")
    keys, groups = collect(sweep_dir)
    groups, interpolations = as_used(groups)
    # The folder's own name: `.` and `jobs/..` have none of their own, and a link's is not the sweep's.
    # A blank --title (" ") as none, as "" is: it drew no title and headed summary.md with an empty `# `.
    title = (title or "").strip() or f"{sweep_dir.resolve().name}: {', '.join(keys) or 'one setting'}"
    loss = loss_named(sweep_dir)
    summary = summarise(groups, keys, title, loss, interpolations)
    figures = [sweep_dir / f"figure.{suffix}" for suffix in ("png", "pdf")]
    gradients = [sweep_dir / f"gradients.{suffix}" for suffix in ("png", "pdf", "md")]
    completed = any(group.finals for group in groups.values())
    logged_gradients = any(group.curves[STATISTICS[0]] for group in groups.values())
    # Labels are drawn as written: matplotlib would read one between two `$` (a swept `${oc.env:...}`) as math.
    dpi = SCREEN_DPI if width is None else PAPER_DPI
    with warnings.catch_warnings():  # what font_fallback silences, for this plot alone
        fonts = font_fallback([title, *keys, *(group.label for group in groups.values())])
        with matplotlib.rc_context({"text.parse_math": False, **fonts}):
            files = side_by_side(lambda: rendered(draw(groups, keys, title, loss, width), figures[0], dpi)
                                 if completed else {},
                                 lambda: (rendered(draw_gradients(groups, keys, title, width), gradients[0], dpi)
                                          if logged_gradients else {}))
    files |= {sweep_dir / "summary.md": summary_markdown(summary, loss).encode(),
              sweep_dir / "summary.json": json_bytes(summary)}
    if logged_gradients:
        files[gradients[2]] = summarise_gradients(groups, keys, title, loss, interpolations).encode()
    write_all(files, f"python -m vae_lightning.plot {sweep_dir}")
    for stale in set(figures + gradients) - set(files):  # an earlier plot's, of jobs no longer there to draw
        stale.unlink(missing_ok=True)
    return list(files)


def paper_width(text: str) -> float:
    """--width: inches, from MIN_PAPER_INCHES (a journal's narrowest column) to MAX_PAPER_INCHES."""
    try:
        inches = float(text)
    except ValueError:
        inches = math.nan
    if math.isnan(inches):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of inches (3.4 for a column, 7 for a page)")
    if inches < MIN_PAPER_INCHES:
        raise argparse.ArgumentTypeError(f"{text} in is narrower than {MIN_PAPER_INCHES:g} in, where the panels' "
                                         f"{PAPER_SMALL_POINTS:g} pt text no longer fits")
    if inches > MAX_PAPER_INCHES:
        raise argparse.ArgumentTypeError(f"{text} in is wider than a page (7 in) or a poster's column "
                                         f"({MAX_PAPER_INCHES:g} in at the most); give the width it is printed at")
    return inches


def main() -> None:
    parser = CommandParser("python -m vae_lightning.plot", __doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=user_path, help="a folder made by `python train.py -m ...`")
    parser.add_argument("--title", help="the figure's title (default: the folder and the swept keys)")
    parser.add_argument("--width", type=paper_width, metavar="INCHES",
                        help=f"draw figure.pdf/.png and gradients.pdf/.png for a paper, this wide (3.4 for a column, "
                             f"7 for a page) with text of {PAPER_SMALL_POINTS:g}-{PAPER_TEXT_POINTS:g} pt and the PNGs "
                             f"at {PAPER_DPI} dpi; without them, 11 and 15 in for a screen")
    args = parser.parse_args()
    with errors_said_in_one_line():
        written = plot_sweep(args.sweep_dir, args.title, args.width)
        print(f"wrote {', '.join(path.name for path in written)} in {args.sweep_dir}")
        for table in (args.sweep_dir / "summary.md", args.sweep_dir / "gradients.md"):
            if table in written:
                print(table.read_text())


if __name__ == "__main__":
    main()
