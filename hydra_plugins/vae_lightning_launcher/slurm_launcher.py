"""`hydra/launcher=slurm`: Hydra's submitit Slurm launcher, with sbatch's refusal of the sweep's
settings said in one line, exit 2, where Hydra would print submitit's traceback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class SlurmLauncher(Launcher):
    """Submits each batch of jobs as a Slurm job array through Hydra's own launcher, which it holds
    rather than extends: that plugin is the optional [slurm] extra, and Hydra imports every module
    under hydra_plugins, this one too, on every command."""

    def __init__(self, **params: Any) -> None:
        from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititLauncher

        self.submitit = SubmititLauncher(**params)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.submitit.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError

        try:
            return self.submitit.launch(job_overrides, initial_job_idx)
        except FailedJobError as error:
            # sbatch's last line names the setting (`Invalid partition name specified`); nothing was submitted.
            said = str(error).strip().rpartition("\n")[2] or "no reason given"
            log.error("hydra/launcher=slurm: sbatch refused the jobs (%s); fix that setting of hydra.launcher "
                      "(docs/cluster.md lists them), or ask the cluster's admins what it takes", said)
            raise SystemExit(2) from None
