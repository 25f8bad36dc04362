"""The paper's autoencoders (section 2 and its introduction): the VAE, the plain AE, the linear AE,
sharing one MLP encoder and decoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "identity": nn.Identity}
OUTPUTS = {"sigmoid": nn.Sigmoid, "identity": nn.Identity}


class VAEOutput(NamedTuple):
    """What one forward pass produces; `reconstruction` has a leading axis of Monte-Carlo draws."""

    reconstruction: torch.Tensor  # x_hat, shape (draws, batch, input_dim)
    mean: torch.Tensor  # mu(x) for the VAE, the code z for an AE; shape (batch, latent_dim)
    log_variance: torch.Tensor | None  # log(sigma^2(x)); None for a deterministic autoencoder


class TiedLinear(nn.Module):
    """x W^T + b where W is another layer's weight matrix, transposed: y = x W_source + b.

    The source layer is kept in a list so that it is not registered twice: its weight belongs to
    the encoder, appears once in `parameters()` and the state dict, and receives the gradients of
    both uses. The bias is this layer's own.
    """

    def __init__(self, source: nn.Linear) -> None:
        super().__init__()
        self._source = [source]
        bound = source.out_features**-0.5  # nn.Linear's initialisation for this fan-in
        self.bias = nn.Parameter(torch.empty(source.in_features).uniform_(-bound, bound))

    @property
    def weight(self) -> torch.Tensor:
        return self._source[0].weight.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


def mlp(layers: Sequence[nn.Module], activation: str) -> nn.Sequential:
    """Each layer followed by the activation: z(i) = Relu(W(i) z(i-1) + b(i)) (eqs. 1-3 and 8-10)."""
    return nn.Sequential(*(part for layer in layers for part in (layer, ACTIVATIONS[activation]())))


def check_sizes(**sizes: int | Sequence[int]) -> None:
    """ValueError naming the config key (`model.<name>`) of the first size that is not a whole number
    >= 1 (a list given on the command line may hold anything: `model.hidden_dims=[1.5]`)."""
    for name, size in sizes.items():
        values = list(size) if isinstance(size, Sequence) else [size]
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            allowed = "a list of whole numbers, as in [400]" if isinstance(size, Sequence) else "a whole number"
            raise ValueError(f"model.{name}={'null' if size is None else size} is out of range: allowed {allowed}")
        if isinstance(size, Sequence) and any(value < 1 for value in size):
            raise ValueError(f"model.{name}={list(size)} is out of range: allowed sizes >= 1")
        if not isinstance(size, Sequence) and size < 1:
            raise ValueError(f"model.{name}={size} is out of range: allowed a number >= 1")


def check_choice(name: str, value: str, choices: dict) -> None:
    if value not in choices:
        raise ValueError(f"model.{name}={value} is out of range: allowed one of {', '.join(choices)}")


class Autoencoder(nn.Module):
    """A deterministic autoencoder: encoder -> code z (eq. 4's linear head) -> decoder.

    `activation=identity` and `output_activation=identity` make it linear: with squared error,
    it learns the subspace of the top principal components (the paper's introduction).
    """

    def __init__(
        self,
        input_dim: int = 784,
        hidden_dims: Sequence[int] = (400,),
        latent_dim: int = 20,
        tied_weights: bool = False,
        activation: str = "relu",
        output_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        if isinstance(hidden_dims, str) or not isinstance(hidden_dims, Sequence):
            example = hidden_dims if isinstance(hidden_dims, int) and not isinstance(hidden_dims, bool) else 400
            raise ValueError(f"model.hidden_dims={'null' if hidden_dims is None else hidden_dims} is not a list of "
                             f"sizes: write model.hidden_dims=[{example}]")
        hidden_dims = list(hidden_dims)
        check_sizes(input_dim=input_dim, hidden_dims=hidden_dims, latent_dim=latent_dim)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("output_activation", output_activation, OUTPUTS)
        self.input_dim = input_dim
        self.output_activation = output_activation
        sizes = [input_dim, *hidden_dims]
        encoder_layers = [nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.encoder = mlp(encoder_layers, activation)  # eqs. 1-3
        self._add_latent_heads(sizes[-1], latent_dim)
        if tied_weights:
            # "The decoder shares the same parameters as the encoder" (section 2.2), mirrored: the
            # code head's weight serves the first decoder layer, W(1) the last.
            decoder_layers = [TiedLinear(layer) for layer in [*encoder_layers, self.mean_head][::-1]]
        else:
            mirrored = [latent_dim, *reversed(sizes)]
            decoder_layers = [nn.Linear(n_in, n_out) for n_in, n_out in zip(mirrored[:-1], mirrored[1:])]
        self.decoder = nn.Sequential(
            mlp(decoder_layers[:-1], activation),  # eqs. 8-10
            decoder_layers[-1],  # eq. 11
            OUTPUTS[output_activation](),  # eq. 12: pixels are grey levels in [0, 1]
        )

    def _add_latent_heads(self, in_features: int, latent_dim: int) -> None:
        self.mean_head = nn.Linear(in_features, latent_dim)  # eq. 4

    @property
    def latent_dim(self) -> int:
        return self.mean_head.out_features

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.mean_head(self.encoder(x)), None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        # Decode every draw of every example as one (draws * batch) x latent matrix: 2-D inputs
        # keep each layer a single fused matrix product, forward and backward.
        decoded = self.decoder(z.reshape(-1, z.shape[-1]))
        return decoded.reshape(*z.shape[:-1], decoded.shape[-1])

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        code, _ = self.encode(x)
        return VAEOutput(self.decode(code).unsqueeze(0), code, None)


class VAE(Autoencoder):
    """Encoder -> (mu, log sigma^2) -> reparameterized z -> decoder, as in sections 2.1-3.1."""

    def __init__(
        self,
        input_dim: int = 784,
        hidden_dims: Sequence[int] = (400,),
        latent_dim: int = 20,
        mc_samples: int = 1,
        tied_weights: bool = False,
    ) -> None:
        check_sizes(mc_samples=mc_samples)
        super().__init__(input_dim, hidden_dims, latent_dim, tied_weights)
        self.mc_samples = mc_samples

    def _add_latent_heads(self, in_features: int, latent_dim: int) -> None:
        # Before the decoder, so that a seed gives the weights of pytorch/examples' layer order.
        super()._add_latent_heads(in_features, latent_dim)
        self.log_variance_head = nn.Linear(in_features, latent_dim)  # eq. 6

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

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        mean, log_variance = self.encode(x)
        z = self.reparameterize(mean, log_variance, generator)  # eqs. 7, 13
        return VAEOutput(self.decode(z), mean, log_variance)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode `count` draws of z ~ N(0, I): new images from the prior (Figure 4)."""
        weight = self.mean_head.weight  # z as the model's own device and precision
        z = torch.randn(count, self.latent_dim, generator=generator, device=weight.device, dtype=weight.dtype)
        return self.decode(z)
