"""Names of run and sweep folders: unique, created atomically, named after the overrides of each job."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

MAX_NAME_LENGTH = 200


# Hydra resolves a folder's path more than once per process: each folder must be created once.
_created: dict[tuple, str] = {}


def make_unique_dir(path: str) -> str:
    """Create `path`, or `path-2`, `path-3`... if taken, and return the one created.

    `os.mkdir` fails when the folder exists, so of two processes racing for one name only one wins.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    candidate, suffix = path, 1
    while True:
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            suffix += 1
            candidate = f"{path}-{suffix}"


def create_fresh_dir(path: str) -> str:
    """A new folder for this process's run or sweep: `path`, or `path-N` when another run has it."""
    if ("run", path) not in _created:
        _created[("run", path)] = make_unique_dir(path)
    return _created[("run", path)]


def job_dir(sweep_dir: str, override_dirname: str, job_num: int, resume: bool = False) -> str:
    """A sweep job's sub-folder: its overrides (`clip.value=0.5,seed=1`), made safe as a file name.

    A sweep that repeats a value, or overrides nothing, still gives every job its own folder;
    with `resume=true` each job goes back to the folder of the same name.
    """
    name = override_dirname.replace(os.sep, "_") or f"job{job_num}"
    if len(name) > MAX_NAME_LENGTH:
        name = f"{name[:MAX_NAME_LENGTH]}...job{job_num}"
    if resume and Path(sweep_dir, name).is_dir():
        return name
    key = ("job", sweep_dir, name, job_num)
    if key not in _created:
        _created[key] = Path(make_unique_dir(os.path.join(sweep_dir, name))).name
    return _created[key]


def config_subdir(resume: bool) -> str:
    """Where Hydra saves the run's config: a resumed run keeps the original and adds its own beside it."""
    return f".hydra/resumed-{datetime.now():%Y-%m-%d_%H-%M-%S}" if resume else ".hydra"


def register_resolvers() -> None:
    """Make `${fresh_dir:...}`, `${job_dir:...}` and `${config_subdir:...}` available to the config."""
    OmegaConf.register_new_resolver("fresh_dir", create_fresh_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("job_dir", job_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("config_subdir", config_subdir, use_cache=True, replace=True)
