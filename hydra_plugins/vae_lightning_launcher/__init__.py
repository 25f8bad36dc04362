"""The run harness's sweep launcher under the name Hydra requires of plugins (hydra_plugins.*)."""

from vae_lightning.harness.launcher import ForkLauncher


class ParallelLauncher(ForkLauncher):
    """`hydra/launcher=parallel`: vae_lightning.harness.launcher.ForkLauncher."""
