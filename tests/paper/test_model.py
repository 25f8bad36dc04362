"""The VAE's architecture (section 2) and reparameterization (eq. 13)."""

import pytest
import torch
from torch import nn

from vae_lightning.paper.loss import VAELoss
from vae_lightning.paper.model import VAE, Autoencoder, TiedLinear


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


@pytest.mark.parametrize("sizes,message", [
    ({"latent_dim": 0}, r"model.latent_dim=0 is out of range: allowed a number >= 1"),
    ({"mc_samples": 0}, r"model.mc_samples=0 is out of range: allowed a number >= 1"),
    ({"hidden_dims": [0]}, r"model.hidden_dims=\[0\] is out of range: allowed sizes >= 1"),
])
def test_nonpositive_sizes_are_rejected_in_the_configs_words(sizes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VAE(**sizes)
    with pytest.raises(ValueError, match="model.activation=tanh is out of range: allowed one of relu, identity"):
        Autoencoder(activation="tanh")


def test_tied_decoder_layers_use_the_encoders_matrices_transposed_in_mirrored_order() -> None:
    model = VAE(hidden_dims=[32, 16], latent_dim=4, tied_weights=True)
    tied = [m for m in model.decoder.modules() if isinstance(m, TiedLinear)]
    sources = [model.mean_head, model.encoder[2], model.encoder[0]]
    assert [layer.weight.shape for layer in tied] == [(16, 4), (32, 16), (784, 32)]
    for layer, source in zip(tied, sources):
        assert layer.weight.data_ptr() == source.weight.data_ptr()  # the same storage, not a copy
        assert layer.bias is not source.bias and layer.bias.shape == (source.in_features,)
    untied = VAE(hidden_dims=[32, 16], latent_dim=4)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(untied) - count(model) == sum(source.weight.numel() for source in sources)


def test_a_tied_matrix_gets_the_gradients_of_both_of_its_uses() -> None:
    torch.manual_seed(0)
    tied = Autoencoder(hidden_dims=[8], latent_dim=3, tied_weights=True)
    untied = Autoencoder(hidden_dims=[8], latent_dim=3)
    with torch.no_grad():  # the same function, with the shared matrices copied into the decoder
        for name in ("encoder.0", "mean_head"):
            untied.get_submodule(name).load_state_dict(tied.get_submodule(name).state_dict())
        untied.decoder[0][0].weight.copy_(tied.mean_head.weight.t())
        untied.decoder[1].weight.copy_(tied.encoder[0].weight.t())
        untied.decoder[0][0].bias.copy_(tied.decoder[0][0].bias)
        untied.decoder[1].bias.copy_(tied.decoder[1].bias)
    x = torch.rand(5, 784)
    tied(x).reconstruction.square().sum().backward()
    untied(x).reconstruction.square().sum().backward()
    expected = untied.mean_head.weight.grad + untied.decoder[0][0].weight.grad.t()
    torch.testing.assert_close(tied.mean_head.weight.grad, expected)
    expected = untied.encoder[0].weight.grad + untied.decoder[1].weight.grad.t()
    torch.testing.assert_close(tied.encoder[0].weight.grad, expected)


def test_the_autoencoder_is_deterministic_and_has_no_kl() -> None:
    model = Autoencoder(hidden_dims=[16], latent_dim=3)
    x = torch.rand(4, 784)
    first, second = model(x), model(x)
    assert first.log_variance is None and not hasattr(model, "log_variance_head")
    torch.testing.assert_close(first.reconstruction, second.reconstruction)
    terms = VAELoss("mse")(x, first)
    assert terms.kl.item() == 0 and terms.total.item() == terms.reconstruction.item()


def test_the_linear_autoencoder_learns_the_principal_subspace() -> None:
    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(20, 3)).Q  # a 3-dimensional subspace of R^20
    data = torch.randn(600, 3) * torch.tensor([3.0, 2.0, 1.5]) @ basis.T + 0.05 * torch.randn(600, 20) + 0.3
    model = Autoencoder(input_dim=20, hidden_dims=[], latent_dim=3, activation="identity", output_activation="identity")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(1500):
        optimizer.zero_grad()
        VAELoss("mse")(data, model(data)).total.backward()
        optimizer.step()
    principal = torch.linalg.svd(data - data.mean(0), full_matrices=False).Vh[:3].T
    learned = torch.linalg.qr(model.decoder[1].weight.detach()).Q
    cosines = torch.linalg.svdvals(principal.T @ learned)  # cosines of the principal angles
    assert cosines.min() > 0.999


def affine(layer: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """W x + b of one layer, written out: the by-hand side of the equations."""
    return inputs @ layer.weight.T + layer.bias


def test_encoder_and_decoder_compute_eqs_1_to_12_by_hand() -> None:
    # Every hidden layer, encoder and decoder, is Relu(W z + b); mu and log sigma^2 come from their own
    # named heads (eqs. 4, 6): a dropped ReLU or swapped heads still give outputs of the right shape.
    torch.manual_seed(0)
    model = VAE(hidden_dims=[8, 6], latent_dim=3)
    x = torch.rand(5, 784)
    hidden = torch.relu(affine(model.encoder[2], torch.relu(affine(model.encoder[0], x))))  # eqs. 1-3
    mean, log_variance = model.encode(x)
    torch.testing.assert_close(mean, affine(model.mean_head, hidden))  # eq. 4
    torch.testing.assert_close(log_variance, affine(model.log_variance_head, hidden))  # eq. 6
    z = torch.randn(5, 3)
    hidden_layers, last = model.decoder[0], model.decoder[1]
    decoded = torch.relu(affine(hidden_layers[2], torch.relu(affine(hidden_layers[0], z))))  # eqs. 8-10
    torch.testing.assert_close(model.decode(z), torch.sigmoid(affine(last, decoded)))  # eqs. 11-12


def test_prior_samples_decode_standard_normal_draws() -> None:
    # Figure 4 decodes z ~ N(0, I): the same generator's normal draws, not any other noise of that shape.
    model = VAE(hidden_dims=[8], latent_dim=2)
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(model.sample(6, torch.Generator().manual_seed(3)), model.decode(z))


def test_a_tied_layers_bias_is_initialised_like_nn_linear_of_its_own_fan_in() -> None:
    # nn.Linear draws its bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)); a tied layer reading the code
    # head's 400 x 20 matrix transposed takes 20 inputs: its bias spans +-0.22, not the +-0.05 of 400.
    torch.manual_seed(0)
    layer = TiedLinear(nn.Linear(400, 20))
    bound = 20**-0.5
    assert layer.bias.shape == (400,)
    assert layer.bias.abs().max() <= bound and layer.bias.abs().max() > 0.9 * bound
