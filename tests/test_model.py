"""The VAE's architecture (section 2) and reparameterization (eq. 13)."""

import pytest
import torch
from torch import nn

from vae_lightning.model import VAE


def test_default_sizes_are_784_400_20() -> None:
    model = VAE()
    linear_shapes = [tuple(m.weight.shape) for m in model.modules() if isinstance(m, nn.Linear)]
    assert linear_shapes == [(400, 784), (20, 400), (20, 400), (400, 20), (784, 400)]


def test_hidden_layers_are_configurable() -> None:
    model = VAE(hidden_dims=[512, 256], latent_dim=2)
    encoder = [tuple(m.weight.shape) for m in model.encoder if isinstance(m, nn.Linear)]
    decoder = [tuple(m.weight.shape) for m in model.decoder.modules() if isinstance(m, nn.Linear)]
    assert encoder == [(512, 784), (256, 512)]
    assert decoder == [(256, 2), (512, 256), (784, 512)]


def test_forward_shapes_and_sigmoid_range() -> None:
    model = VAE(hidden_dims=[16], latent_dim=3, mc_samples=5)
    output = model(torch.rand(7, 784))
    assert output.reconstruction.shape == (5, 7, 784)
    assert output.mean.shape == output.log_variance.shape == (7, 3)
    assert 0 <= output.reconstruction.min() and output.reconstruction.max() <= 1


def test_reparameterization_is_mean_plus_sigma_times_eps_eq13() -> None:
    model = VAE(hidden_dims=[8], latent_dim=3, mc_samples=2)
    mean, log_variance = torch.randn(4, 3), torch.randn(4, 3)
    z = model.reparameterize(mean, log_variance, torch.Generator().manual_seed(1))
    epsilon = torch.randn((2, 4, 3), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(z, mean + torch.exp(log_variance / 2) * epsilon)


def test_gradients_flow_through_the_sample() -> None:
    model = VAE(hidden_dims=[8], latent_dim=2)
    model(torch.rand(3, 784)).reconstruction.sum().backward()
    assert model.mean_head.weight.grad.abs().sum() > 0
    assert model.log_variance_head.weight.grad.abs().sum() > 0


def test_sample_decodes_prior_draws() -> None:
    images = VAE(hidden_dims=[8], latent_dim=2).sample(6)
    assert images.shape == (6, 784)


@pytest.mark.parametrize("sizes", [{"latent_dim": 0}, {"mc_samples": 0}, {"hidden_dims": [0]}])
def test_nonpositive_sizes_are_rejected(sizes: dict) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        VAE(**sizes)
