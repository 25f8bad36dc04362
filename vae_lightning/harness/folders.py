"""Run and sweep folders: a fresh one claimed before Hydra starts, job folders named by what varies.

Resolving the config creates nothing: the resolvers below are pure functions of their arguments,
so every process of a job (a resumed run, each DDP or Slurm task) computes the same folder.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from vae_lightning.harness.sweeps import GRID_SWEEPER, expands_a_grid

MAX_NAME_LENGTH = 200


def claim_fresh_dir(path: str | Path) -> Path:
    """Create `path`, or `path-2`, `path-3`... if taken, and return the one created.

    `os.mkdir` fails when the folder exists, so of two commands racing for one name only one wins.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, suffix = path, 1
    while True:
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            suffix += 1
            candidate = path.with_name(f"{path.name}-{suffix}")


def job_dir(override_dirname: str, job_num: int, sweeper: str = GRID_SWEEPER) -> str:
    """A sweep job's sub-folder: the overrides the sweep varies (`clip.value=0.5,seed=1`), safe as a
    file name; `job<N>` when it varies nothing. Under a sweeper that chooses its own values (Optuna),
    which may choose the same ones twice, the job's number comes first."""
    name = override_dirname.replace(os.sep, "_") or f"job{job_num}"
    if not expands_a_grid(sweeper) and override_dirname:
        name = f"{job_num}_{name}"
    if len(name) > MAX_NAME_LENGTH:
        name = f"{name[:MAX_NAME_LENGTH]}...job{job_num}"
    return name


def run_name(timestamp: str, defining_overrides: list[str]) -> str:
    """A single run's folder: its time, then what its command line changed of what defines a run
    (`2026-12-02_10-00-00_clip.value=0.5`), so that TensorBoard's run list tells runs apart."""
    label = ",".join(sorted(defining_overrides)).replace(os.sep, "_")[:MAX_NAME_LENGTH]
    return f"{timestamp}_{label}" if label else timestamp


def config_subdir(resume: bool, run_dir: str) -> str:
    """Where Hydra saves the run's config: a resumed run keeps the original and adds its own beside
    it; a run that starts under resume=true (a sweep's job that never ran) writes the original."""
    if resume and (Path(run_dir) / ".hydra" / "config.yaml").exists():
        return f".hydra/resumed-{datetime.now():%Y-%m-%d_%H-%M-%S}"
    return ".hydra"


def register_resolvers() -> None:
    """Make `${job_dir:...}` and `${config_subdir:...}` available to the config."""
    OmegaConf.register_new_resolver("job_dir", job_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("config_subdir", config_subdir, use_cache=True, replace=True)
