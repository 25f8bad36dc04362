"""vae-lightning: the VAE of Mashra & Shahid (2022) on MNIST, trained with Lightning, configured with Hydra."""

from vae_lightning.startup import hold_slurm_warning

# First thing in a Slurm job: it imports this package before torch and Lightning.
hold_slurm_warning()
