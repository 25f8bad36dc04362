"""`hydra/launcher=parallel` and `hydra/launcher=slurm`, under the name Hydra requires of plugins (hydra_plugins.*)."""

from hydra_plugins.vae_lightning_launcher.parallel_launcher import ParallelLauncher
from hydra_plugins.vae_lightning_launcher.slurm_launcher import SlurmLauncher

__all__ = ["ParallelLauncher", "SlurmLauncher"]
