"""The jobs a command line asks for, read with Hydra's override parser, in its sweep syntax: every
job of a grid; for a sweeper that chooses its own (Optuna), jobs taking each value once."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable

# hydra.core.override_parser: Hydra exports its override grammar nowhere else; its own sweeper plugins (and
# the example plugin its documentation builds on) read the command line through these same classes.
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, RangeSweep, ValueType
from hydra.errors import OverrideParseException

from vae_lightning.errors import ConfigError

# The class name of Hydra's default sweeper (a config's hydra.sweeper._target_ ends in it), which
# runs the grid of every swept value.
GRID_SWEEPER = "BasicSweeper"
# The most jobs a sweep may list: each is composed and checked before any runs (0.3 s each), and a
# slip such as `seed=range(0,100000000)` would fill the memory before a job ran.
MAX_JOBS = 10_000


def expands_a_grid(sweeper_target: str) -> bool:
    """True for Hydra's basic sweeper; False for one that chooses its own jobs (Optuna)."""
    return sweeper_target.rpartition(".")[2] == GRID_SWEEPER


def unreadable(error: OverrideParseException) -> str:
    """One line for an override outside Hydra's grammar, whose own message names neither it nor the fix."""
    return (f"{error.override}: Hydra cannot read this override; quote a value that holds ~, =, spaces, brackets "
            f"or letters beyond ASCII (key='value', given to a shell as \"key='value'\"), and close what it opens")


def parse(overrides: Iterable[str]) -> list[Override]:
    """The overrides as Hydra's parser reads them; ConfigError for one outside its grammar or without a key."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as error:
        raise ConfigError(unreadable(error)) from None
    for override in parsed:
        if not override.key_or_group:
            raise ConfigError(f"{override.input_line}: an override needs a key, as in key=value")
    return parsed


def values(override: Override) -> list[str]:
    """`key=value` for each value a sweep override can take (an interval: its two ends), written as
    Hydra writes each job's overrides (`data.download=False`)."""
    key = override.get_key_element()
    if not override.is_sweep_override():
        return [f"{key}={override.get_value_element_as_str()}"]
    if override.is_discrete_sweep():
        sweep = override.value()
        unshuffled = sweep.range() if isinstance(sweep, RangeSweep) else override.sweep_string_iterator()
        if len(list(itertools.islice(unshuffled, MAX_JOBS + 1))) > MAX_JOBS:
            raise ConfigError(f"{override.input_line}: more than {MAX_JOBS:,} values, each a job of the sweep; "
                              f"narrow it, or search the range with hydra/sweeper=optuna")
        return [f"{key}={value}" for value in override.sweep_string_iterator()]
    interval = override.value()
    if "int" in interval.tags:  # Optuna's whole numbers (hydra/sweeper=optuna); Hydra reads the ends as floats
        return [f"{key}={math.ceil(interval.start)}", f"{key}={math.floor(interval.end)}"]
    return [f"{key}={interval.start}", f"{key}={interval.end}"]


def listed_globs(overrides: Iterable[str], options_of: Callable[[str], list[str]]) -> dict[str, str]:
    """Each `group=glob(...)` override, as the list of the group's options it matches (`group=a,b`), which
    `options_of(group)` names: as Hydra's basic sweeper expands it, but before the jobs are checked, so
    that they, the sweep's multirun.yaml and its figures all name the options."""
    listed = {}
    for override in parse(overrides):
        if override.value_type != ValueType.GLOB_CHOICE_SWEEP or override.is_hydra_override():  # refused as given
            continue
        options = options_of(override.key_or_group)
        if not options:
            raise ConfigError(f"{override.input_line}: {override.key_or_group} is not a config group, and glob(...) "
                              f"chooses among a group's options (optim=glob(*) runs each optim); list the values")
        matched = override.value().filter(options)
        if not matched:
            raise ConfigError(f"{override.input_line}: matches none of the options {', '.join(options)}")
        listed[override.input_line] = f"{override.get_key_element()}={','.join(matched)}"
    return listed


def by_key(overrides: Iterable[str]) -> dict[str, list[str]]:
    """Each key's values, in order; a key given twice keeps its last value, as Hydra does. ConfigError
    for a sweep that gives a key no value (`range(3, 0)`) or that Hydra cannot expand."""
    found: dict[str, list[str]] = {}
    for override in parse(overrides):
        if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
            raise ConfigError(f"{override.input_line}: glob(...) here is not listed as the group's options; list "
                              f"them, e.g. {override.get_key_element()}=a,b")
        try:
            found[override.get_key_element()] = values(override)
        except ValueError as error:  # range(0, 3, 0)
            raise ConfigError(f"{override.input_line}: {error}") from None
        if not found[override.get_key_element()]:
            raise ConfigError(f"{override.input_line}: gives no value, so the sweep would run nothing; "
                              f"check its bounds")
    return found


def grid(overrides: Iterable[str]) -> list[list[str]]:
    """Every job of a grid sweep, in the basic sweeper's order: the product of every key's values.
    ConfigError for an interval, which only a sampling sweeper (Optuna) can draw from."""
    for override in parse(overrides):
        if override.is_interval_sweep():
            raise ConfigError(f"{override.input_line}: an interval is sampled by hydra/sweeper=optuna only; add "
                              f"it (or search=sgd), or list the values: {override.get_key_element()}=a,b,c")
    keys = by_key(overrides)
    count = math.prod(len(options) for options in keys.values())
    if count > MAX_JOBS:
        raise ConfigError(f"{' '.join(overrides)}: a grid of {count:,} jobs, more than {MAX_JOBS:,}; sweep fewer "
                          f"values at once, or search them with hydra/sweeper=optuna")
    return [list(job) for job in itertools.product(*keys.values())]


def jobs(overrides: Iterable[str], sweeper: str) -> list[list[str]]:
    """The jobs to check for this sweeper: all of a grid's; for a sweeper that chooses its own (Optuna's
    `interval(...)`, at both ends), jobs that together take every value of every key once, the other keys
    at their first value."""
    if expands_a_grid(sweeper):
        return grid(overrides)
    keys = by_key(overrides)
    first = [options[0] for options in keys.values()]
    checked = [first]
    for index, options in enumerate(keys.values()):
        checked += [first[:index] + [option] + first[index + 1 :] for option in options[1:]]
    return checked

