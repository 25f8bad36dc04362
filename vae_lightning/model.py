"""The variational autoencoder of the paper's section 2: MLP encoder, Gaussian latent, MLP decoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn


class VAEOutput(NamedTuple):
    """What one forward pass produces; `reconstruction` has a leading axis of Monte-Carlo draws."""

    reconstruction: torch.Tensor  # x_hat, shape (mc_samples, batch, input_dim)
    mean: torch.Tensor  # mu(x), shape (batch, latent_dim)
    log_variance: torch.Tensor  # log(sigma^2(x)), shape (batch, latent_dim)


def relu_mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers each followed by ReLU: z(i) = Relu(W(i) z(i-1) + b(i)) (eqs. 1-3 and 8-10)."""
    layers: list[nn.Module] = []
    for in_features, out_features in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(in_features, out_features), nn.ReLU()]
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Encoder -> (mu, log sigma^2) -> reparameterized z -> decoder, as in sections 2.1-3.1."""

    def __init__(
        self,
        input_dim: int = 784,
        hidden_dims: Sequence[int] = (400,),
        latent_dim: int = 20,
        mc_samples: int = 1,
    ) -> None:
        super().__init__()
        hidden_dims = list(hidden_dims)
        if input_dim < 1 or latent_dim < 1 or mc_samples < 1 or any(h < 1 for h in hidden_dims):
            raise ValueError(
                f"VAE sizes must be positive: input_dim={input_dim}, hidden_dims={hidden_dims}, "
                f"latent_dim={latent_dim}, mc_samples={mc_samples}"
            )
        self.mc_samples = mc_samples
        encoder_sizes = [input_dim, *hidden_dims]
        self.encoder = relu_mlp(encoder_sizes)  # eqs. 1-3
        self.mean_head = nn.Linear(encoder_sizes[-1], latent_dim)  # eq. 4
        self.log_variance_head = nn.Linear(encoder_sizes[-1], latent_dim)  # eq. 6
        decoder_sizes = [latent_dim, *reversed(hidden_dims)]
        self.decoder = nn.Sequential(
            relu_mlp(decoder_sizes),  # eqs. 8-10
            nn.Linear(decoder_sizes[-1], input_dim),  # eq. 11
            nn.Sigmoid(),  # eq. 12: pixels are grey levels in [0, 1]
        )

    @property
    def latent_dim(self) -> int:
        return self.mean_head.out_features

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(x)
        return self.mean_head(hidden), self.log_variance_head(hidden)

    def reparameterize(
        self,
        mean: torch.Tensor,
        log_variance: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw `mc_samples` latent vectors per input, z = mu + sigma * eps with eps ~ N(0, I) (eq. 13)."""
        shape = (self.mc_samples, *mean.shape)
        epsilon = torch.randn(shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * log_variance) * epsilon

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        # Decode every draw of every example as one (draws * batch) x latent matrix: 2-D inputs
        # keep each layer a single fused matrix product, forward and backward.
        flat = self.decoder(z.reshape(-1, z.shape[-1]))
        return flat.reshape(*z.shape[:-1], flat.shape[-1])

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        mean, log_variance = self.encode(x)
        z = self.reparameterize(mean, log_variance, generator)  # eqs. 7, 13
        return VAEOutput(self.decode(z), mean, log_variance)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode `count` draws of z ~ N(0, I): new images from the prior (Figure 4)."""
        device = self.mean_head.weight.device
        z = torch.randn(count, self.latent_dim, generator=generator, device=device)
        return self.decode(z)
