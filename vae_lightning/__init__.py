"""vae-lightning: the VAE of Mashra & Shahid (2022) on MNIST, trained with Lightning, configured with Hydra."""
