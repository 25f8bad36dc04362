"""Where `VAEModule` was imported from before the package had layers; it lives in `paper.module`."""

from vae_lightning.paper.module import VAEModule

__all__ = ["VAEModule"]
