"""The VAE loss of the paper's section 3.2: reconstruction term plus closed-form KL divergence."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vae_lightning.errors import ConfigError
from vae_lightning.paper.model import VAEOutput

RECONSTRUCTIONS = ("mse", "bce")


class LossTerms(NamedTuple):
    """Per-example losses, averaged over the batch: total = reconstruction + kl (eq. 20)."""

    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def squared_error(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """RL of eq. 16: (1/B)(1/N) sum over examples, draws and pixels of (x_i - x_hat_i)^2."""
    draws, batch = reconstruction.shape[:2]
    # One fused kernel forward and one backward, instead of a subtract, square, sum and mean.
    total = F.mse_loss(reconstruction, x.expand_as(reconstruction), reduction="sum")  # eqs. 14-16
    return total / (draws * batch)


def binary_cross_entropy(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Cross-entropy summed over pixels (pytorch/examples' choice), reduced like eq. 16."""
    draws, batch = reconstruction.shape[:2]
    total = F.binary_cross_entropy(reconstruction, x.expand_as(reconstruction), reduction="sum")
    return total / (draws * batch)


def kl_per_example(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL[N(mu, sigma^2) || N(0, I)] of each example, summed over latent units (eq. 18)."""
    return -0.5 * (1 + log_variance - mean.square() - log_variance.exp()).sum(dim=-1)  # eq. 18


def kl_divergence(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """Eq. 18's KL averaged over the batch (eq. 19)."""
    return kl_per_example(mean, log_variance).mean()  # eq. 19


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` in float32, unless it is float32 or float64 already: in bfloat16 (trainer.precision=
    bf16-true) a per-image loss near 31 would be rounded to steps of 0.125, and so would the val loss
    that chooses the best checkpoint."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


class VAELoss(nn.Module):
    """Loss = RL + KL (eq. 20), with RL the squared error of eq. 16 (`mse`) or cross-entropy (`bce`).

    A deterministic autoencoder has no latent distribution, hence no KL term: its loss is RL alone.
    """

    def __init__(self, reconstruction: str = "mse") -> None:
        super().__init__()
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(
                f"loss.reconstruction={reconstruction} is out of range: allowed one of {', '.join(RECONSTRUCTIONS)}"
            )
        self.reconstruction = reconstruction
        self._reconstruction_loss = squared_error if reconstruction == "mse" else binary_cross_entropy

    def forward(self, x: torch.Tensor, output: VAEOutput) -> LossTerms:
        """`x` is the clean image the reconstruction must match (for a denoising run, not its input)."""
        if output.reconstruction.dim() != x.dim() + 1:
            # Eq. 16 divides by the draws and the batch: read from a reconstruction without the draws axis,
            # they would be the batch and the pixels, and the loss would come out 784 times too small.
            raise ConfigError(f"model: its reconstruction has shape {list(output.reconstruction.shape)} for images of "
                              f"{list(x.shape)}; return it as (draws, batch, pixels), as VAEOutput says "
                              f"(reconstruction.unsqueeze(0) for one draw)")
        reconstruction_loss = self._reconstruction_loss(at_least_float32(x), at_least_float32(output.reconstruction))
        if output.log_variance is None:
            kl = reconstruction_loss.new_zeros(())
        else:
            kl = kl_divergence(at_least_float32(output.mean), at_least_float32(output.log_variance))
        return LossTerms(reconstruction_loss + kl, reconstruction_loss, kl)  # eq. 20
