"""Image grids of what a VAE generates and reconstructs, for evaluate and for TensorBoard."""

from __future__ import annotations

import logging
import math

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid

from vae_lightning.paper.model import Autoencoder

log = logging.getLogger(__name__)

# What the grids use of a model, each with what to give a class of one's own that lacks it: any model
# with them is drawn, subclass of the project's Autoencoder or not (evaluate asks the same).
GRID_PARTS = {
    "encode": "encode(x) returning (mean, log_variance), log_variance None without a prior",
    "decode": "decode(z) returning images",
    "mean_head": "a mean_head layer, whose weight's device and precision z is drawn in",
}


def lacking_grid_part(model: torch.nn.Module) -> str | None:
    """The first of GRID_PARTS the model lacks; None when the grids can be drawn from it."""
    present = {
        "encode": callable(getattr(model, "encode", None)),
        "decode": callable(getattr(model, "decode", None)),
        "mean_head": isinstance(getattr(getattr(model, "mean_head", None), "weight", None), torch.Tensor),
    }
    return next((part for part, there in present.items() if not there), None)


def as_images(rows: torch.Tensor) -> torch.Tensor:
    """Flat pixel rows (N, H*W) -> (N, 1, H, W) square grey images, in float32 whatever the model's
    precision (TensorBoard and PNG writers take no bfloat16)."""
    side = math.isqrt(rows.shape[-1])
    return rows.reshape(-1, 1, side, side).float()


@torch.no_grad()
def sample_grid(model: Autoencoder, count: int = 64, seed: int = 0) -> torch.Tensor:
    """`count` images decoded from z ~ N(0, I), in a square grid (Figure 4)."""
    generator = torch.Generator(model.mean_head.weight.device).manual_seed(seed)
    samples = model.sample(count, generator=generator)
    return make_grid(as_images(samples), nrow=math.isqrt(count), pad_value=1.0)


def interleaved_rows(groups: list[torch.Tensor], per_row: int) -> torch.Tensor:
    """Row i of every group in turn: inputs above outputs, image by image in the same column."""
    rows = [group[start : start + per_row] for start in range(0, len(groups[0]), per_row) for group in groups]
    return make_grid(as_images(torch.cat(rows)), nrow=per_row, pad_value=1.0)


@torch.no_grad()
def reconstruction_grid(model: Autoencoder, images: torch.Tensor, per_row: int = 8) -> torch.Tensor:
    """Rows of inputs, each above the row of their reconstructions, decoded from the mean z."""
    code, _ = model.encode(images.to(model.mean_head.weight.dtype))
    return interleaved_rows([images, model.decode(code)], per_row)


@torch.no_grad()
def denoising_grid(model: Autoencoder, images: torch.Tensor, noise_std: float, seed: int = 0,
                   per_row: int = 8) -> torch.Tensor:
    """Noisy inputs, clean targets and outputs, row above row (a denoising autoencoder's job)."""
    generator = torch.Generator(images.device).manual_seed(seed)
    noisy = images + noise_std * torch.randn(images.shape, generator=generator, device=images.device)
    code, _ = model.encode(noisy.to(model.mean_head.weight.dtype))
    return interleaved_rows([noisy.clamp(0, 1), images, model.decode(code)], per_row)


class ImageGrids(L.Callback):
    """Logs both grids to TensorBoard's images tab after each validation: the same latent draws and
    the same validation images every epoch, so the images show how the model changes."""

    def __init__(self, count: int = 64, seed: int = 0, x_axis: str = "step") -> None:
        self.count = count
        self.seed = seed
        self.x_axis = x_axis

    def x_value(self, trainer: L.Trainer) -> int:
        """The x the epoch's scalars are logged at: the epoch, or the index of the epoch's last step
        (Lightning's for epoch-level metrics; global_step has counted that step already)."""
        return trainer.current_epoch if self.x_axis == "epoch" else max(trainer.global_step - 1, 0)

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # Said once, where the grids would otherwise be missing from TensorBoard without a word.
        part = lacking_grid_part(module.model)
        if trainer.is_global_zero and part is not None:
            name = type(module.model).__name__
            log.warning("callbacks.images: %s has no %s, which the grids use: no images are logged; give %s %s (or "
                        "subclass vae_lightning.paper.model.VAE), or drop the callback with ~callbacks.images",
                        name, part, name, GRID_PARTS[part])
        elif trainer.is_global_zero and getattr(trainer.datamodule, "val_images", None) is None:
            log.warning("callbacks.images: the data module has no val_images to reconstruct: only samples are logged")

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        loggers = [logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]
        images = getattr(trainer.datamodule, "val_images", None)
        if trainer.sanity_checking or not loggers or lacking_grid_part(module.model) is not None:
            return
        # Only a VAE has a prior to sample from.
        samples = sample_grid(module.model, self.count, self.seed) if hasattr(module.model, "sample") else None
        for logger in loggers:
            if samples is not None:
                logger.experiment.add_image("samples", samples, self.x_value(trainer))
            if images is not None and len(images):
                grid = reconstruction_grid(module.model, images[: self.count // 2])
                logger.experiment.add_image("reconstructions", grid, self.x_value(trainer))
