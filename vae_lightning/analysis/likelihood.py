"""The test set's negative log-likelihood under a trained VAE: the ELBO (k=1) and the importance-sampled
estimate log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x) (Burda et al.'s bound, tight as k grows).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.distributions import Normal

from vae_lightning.errors import UserInputError
from vae_lightning.paper.loss import kl_per_example

LogDensity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# Floats of decoded pixels held at once; bounds the memory of the estimate whatever k is.
DECODED_FLOATS = 2**22
# Images estimated together: small enough for a progress bar that moves, large enough for fast matrix products.
ESTIMATE_BATCH = 100


def gaussian_log_density(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """log N(x; x_hat, I/2) summed over pixels = -RL(x, x_hat) of eq. 14 - (D/2) log(pi).

    Per pixel, a variance of 1/2 gives -log(2 pi sigma^2)/2 - (x - x_hat)^2 / (2 sigma^2)
    = -log(pi)/2 - (x - x_hat)^2: eq. 14's squared error is this decoder's -log p(x|z) up to a constant.
    """
    squared_error = (x - reconstruction).square().sum(dim=-1)  # eq. 14
    return -squared_error - 0.5 * x.shape[-1] * math.log(math.pi)


def bernoulli_log_density(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """sum_i x_i log x_hat_i + (1 - x_i) log(1 - x_hat_i): minus loss.reconstruction=bce's cross-entropy.

    Through `F.binary_cross_entropy`, so its clamp of each log at -100 is the loss's own.
    """
    return -F.binary_cross_entropy(reconstruction, x.expand_as(reconstruction), reduction="none").sum(dim=-1)


# The decoder each reconstruction loss implies: (its name, its log-density).
LIKELIHOODS: dict[str, tuple[str, LogDensity]] = {
    "mse": ("gaussian, variance 1/2", gaussian_log_density),
    "bce": ("bernoulli", bernoulli_log_density),
}


def loss_constant(reconstruction: str, input_dim: int) -> float:
    """-ELBO minus eq. 20's loss: (D/2) log(pi) for squared error (784 pixels: 448.73 nats), 0 for bce."""
    return 0.5 * input_dim * math.log(math.pi) if reconstruction == "mse" else 0.0


def check_has_posterior(model: torch.nn.Module, x: torch.Tensor) -> None:
    """UserInputError unless the model's encode of `x` gives a log-variance beside the mean, as VAEOutput
    has it. Asked of the encoder, not of the class: a VAE of one's own need not subclass the project's."""
    with torch.no_grad():
        encoded = model.encode(x)
    log_variance = encoded[1] if isinstance(encoded, tuple) and len(encoded) == 2 else None
    if not isinstance(log_variance, torch.Tensor):
        raise UserInputError(
            f"--nll needs a VAE: the encode of this run's model ({type(model).__name__}) gives no log-variance beside "
            "the mean, as a deterministic autoencoder's does, so it has no latent distribution q(z|x) and defines no "
            "likelihood; evaluate it without --nll, or, for a VAE, have its encode return (mean, log_variance)"
        )


def decoder_likelihood(loss: torch.nn.Module) -> str:
    """The loss's `reconstruction`, the key of LIKELIHOODS naming the decoder whose -log p(x|z) its
    reconstruction term is; UserInputError naming the loss's class when it names none of them."""
    reconstruction = getattr(loss, "reconstruction", None)
    if isinstance(reconstruction, str) and reconstruction in LIKELIHOODS:
        return reconstruction
    has = f"has reconstruction={reconstruction!r}" if hasattr(loss, "reconstruction") else "has no reconstruction"
    known = " or ".join(f"{key} ({name})" for key, (name, _) in LIKELIHOODS.items())
    raise UserInputError(
        f"--nll takes the decoder's likelihood from the loss's reconstruction, {known}: this run's loss "
        f"({type(loss).__name__}) {has}; set its self.reconstruction to the one whose -log p(x|z) its reconstruction "
        f"term is, or evaluate without --nll"
    )


def diagonal_normal_log_density(z: torch.Tensor, mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(log_variance))), summed over latent units."""
    return Normal(mean, torch.exp(0.5 * log_variance), validate_args=False).log_prob(z).sum(dim=-1)


@torch.no_grad()
def elbo(
    model: torch.nn.Module, x: torch.Tensor, log_density: LogDensity, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per image: E_q[log p(x|z)] over the model's own draws (eq. 15) minus the closed-form KL (eq. 18)."""
    output = model(x, generator=generator)
    expected_log_density = log_density(x, output.reconstruction).mean(dim=0)  # eq. 15: mean over draws
    return expected_log_density - kl_per_example(output.mean, output.log_variance)


@torch.no_grad()
def importance_sampled_log_likelihood(
    model: torch.nn.Module, x: torch.Tensor, k: int, log_density: LogDensity, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per image: log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x), in chunks of draws.

    The chunks' log-sum-exps are combined with `torch.logaddexp`, so no weight is ever exponentiated
    outside a log-sum-exp (a weight near e^-500 underflows float32) and memory does not grow with k.
    """
    mean, log_variance = model.encode(x)
    draws_per_chunk = max(1, DECODED_FLOATS // (len(x) * x.shape[-1]))
    total = torch.full((len(x),), -math.inf, device=x.device, dtype=x.dtype)
    zeros = torch.zeros_like(mean)
    for start in range(0, k, draws_per_chunk):
        draws = min(draws_per_chunk, k - start)
        epsilon = torch.randn((draws, *mean.shape), generator=generator, device=x.device, dtype=x.dtype)
        z = mean + torch.exp(0.5 * log_variance) * epsilon  # eq. 13
        log_weights = (
            log_density(x, model.decode(z))
            + diagonal_normal_log_density(z, zeros, zeros)  # the prior p(z) = N(0, I)
            - diagonal_normal_log_density(z, mean, log_variance)  # q(z|x) = N(mu, sigma^2), eqs. 4, 6, 7
        )
        total = torch.logaddexp(total, torch.logsumexp(log_weights, dim=0))
    return total - math.log(k)


def negative_log_likelihood(
    model: torch.nn.Module,
    reconstruction: str,
    images: torch.Tensor,
    k: int,
    eval_batch_size: int,
    eval_seed: int = 0,
    on_batch: Callable[[int], None] = lambda count: None,
) -> dict[str, float | int | str]:
    """{"k", "nll", "nll_k1", "images", "likelihood"}: mean nats per image of `images`.

    nll_k1 (the negative ELBO) is computed over the test loader's own batches (`eval_batch_size`)
    from a generator seeded like the test's (`eval_seed`): with the same noise as test/loss, it
    equals test/loss + `loss_constant`. `on_batch(count)` follows the estimate (a progress bar).
    """
    check_has_posterior(model, images[:1])
    name, log_density = LIKELIHOODS[reconstruction]
    elbo_generator = torch.Generator(images.device).manual_seed(eval_seed)
    elbos = torch.cat([elbo(model, batch, log_density, elbo_generator) for batch in images.split(eval_batch_size)])
    generator = torch.Generator(images.device).manual_seed(eval_seed)
    estimates = []
    for batch in images.split(ESTIMATE_BATCH):
        estimates.append(importance_sampled_log_likelihood(model, batch, k, log_density, generator))
        on_batch(len(batch))
    return {
        "k": k,
        "nll": -torch.cat(estimates).double().mean().item(),
        "nll_k1": -elbos.double().mean().item(),
        "images": len(images),
        "likelihood": name,
    }
