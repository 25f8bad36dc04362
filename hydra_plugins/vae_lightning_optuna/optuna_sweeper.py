"""`hydra/sweeper=optuna` (conf/hydra/sweeper/optuna.yaml): Hydra's Sweeper interface to the study in `_study.py`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class OptunaSweeper(Sweeper):
    """Asks the study for `n_jobs` trials at a time, runs them with the sweep's launcher, and tells the
    study each one's val loss, or that it was pruned or failed, until `n_trials` trials have finished."""

    def __init__(self, *, direction: str, study_name: str, storage: str | None, n_trials: int, n_jobs: int,
                 max_failure_rate: float, params: Any, sampler: Any, pruner: Any, trial_callback: Any) -> None:
        """conf/hydra/sweeper/optuna.yaml's settings, each named: the command-line check refuses a key
        the signature lacks (`+hydra.sweeper.n_trial=3` would otherwise run the default 20 trials)."""
        # Hydra imports every module of a plugin package at start-up, whatever the command: Optuna is
        # imported by `_study.py` (which Hydra's scan skips, by its leading underscore) only when needed.
        from hydra_plugins.vae_lightning_optuna._study import Search

        self.search = Search(OmegaConf.create({
            "direction": direction, "study_name": study_name, "storage": storage, "n_trials": n_trials,
            "n_jobs": n_jobs, "max_failure_rate": max_failure_rate, "params": params, "sampler": sampler,
            "pruner": pruner, "trial_callback": trial_callback,
        }))

    @staticmethod
    def check_settings(settings: DictConfig, params: list[str], resume: bool, sweep_dir: Path,
                       definition: Callable[[], dict[str, Any]]) -> None:
        """Raise ConfigError, in one line, for a search that cannot run as configured, or that would add
        to a study trials defined otherwise than a job of this command (`definition()`; called by the
        command-line check before anything is written)."""
        from hydra_plugins.vae_lightning_optuna._study import check_settings

        check_settings(settings, params, resume, sweep_dir, definition)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        self.search.run(arguments)
