"""`hydra/launcher=parallel`, under the name Hydra requires of plugins (hydra_plugins.*)."""

from hydra_plugins.vae_lightning_launcher.parallel_launcher import ParallelLauncher

__all__ = ["ParallelLauncher"]
