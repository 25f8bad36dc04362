"""A model and a loss of one's own, as a user's --config-dir names them: not subclasses of the project's,
but keeping its contracts (forward returns a VAEOutput, the loss LossTerms)."""

from __future__ import annotations

import torch
from torch import nn

from vae_lightning.paper.loss import LossTerms, kl_divergence
from vae_lightning.paper.model import VAEOutput

TARGETS = "own_classes.OwnVAE,own_classes.HeadedVAE,own_classes.HeadedAE,own_classes.L1Loss"


class OwnVAE(nn.Module):
    """A VAE that trains (encode gives q(z|x)'s mean and log-variance) but has no mean_head."""

    def __init__(self, input_dim: int = 784, latent_dim: int = 2) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.encoder = nn.Sequential(nn.Linear(input_dim, 16), nn.ReLU())
        self.means = nn.Linear(16, latent_dim)
        self.log_variances = nn.Linear(16, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, input_dim), nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden = self.encoder(x)
        return self.means(hidden), self.log_variances(hidden)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        mean, log_variance = self.encode(x)
        epsilon = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * log_variance) * epsilon
        return VAEOutput(self.decode(z).unsqueeze(0), mean, log_variance)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(torch.randn(count, self.means.out_features, generator=generator))


class HeadedVAE(OwnVAE):
    """OwnVAE given the mean_head evaluate asks for."""

    @property
    def mean_head(self) -> nn.Linear:
        return self.means


class HeadedAE(HeadedVAE):
    """A deterministic autoencoder of one's own: its encode gives no log-variance."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.means(self.encoder(x)), None

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        code, _ = self.encode(x)
        return VAEOutput(self.decode(code).unsqueeze(0), code, None)


class L1Loss(nn.Module):
    """Absolute error plus the KL: a loss whose reconstruction term is no likelihood --nll knows.
    `reconstruction`, when given, is kept as the attribute the project's VAELoss has."""

    def __init__(self, reconstruction: str | None = None) -> None:
        super().__init__()
        if reconstruction is not None:
            self.reconstruction = reconstruction

    def forward(self, x: torch.Tensor, output: VAEOutput) -> LossTerms:
        absolute_error = (output.reconstruction - x).abs().sum(dim=-1).mean()
        kl = kl_divergence(output.mean, output.log_variance)
        return LossTerms(absolute_error + kl, absolute_error, kl)
