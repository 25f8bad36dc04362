"""Names of run and sweep folders: unique, created atomically, named after the overrides of each job."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

MAX_NAME_LENGTH = 200


def create_fresh_dir(path: str) -> str:
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


def job_dir(sweep_dir: str, override_dirname: str, job_num: int) -> str:
    """A sweep job's sub-folder: its overrides (`clip.value=0.5,seed=1`), made safe as a file name.

    A sweep that repeats a value, or overrides nothing, still gives every job its own folder.
    """
    name = override_dirname.replace(os.sep, "_") or f"job{job_num}"
    if len(name) > MAX_NAME_LENGTH:
        name = f"{name[:MAX_NAME_LENGTH]}...job{job_num}"
    return Path(create_fresh_dir(os.path.join(sweep_dir, name))).name


def register_resolvers() -> None:
    """Make `${fresh_dir:...}` and `${job_dir:...}` available to the Hydra config.

    Both are cached per config, and Hydra copies that cache to every sweep job, so a folder is
    created once even though Hydra resolves its path more than once.
    """
    OmegaConf.register_new_resolver("fresh_dir", create_fresh_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("job_dir", job_dir, use_cache=True, replace=True)
