"""The loss against the paper's equations, computed by hand on small tensors."""

import pytest
import torch
import torch.nn.functional as F

from vae_lightning.errors import ConfigError
from vae_lightning.paper.loss import VAELoss, kl_divergence, squared_error
from vae_lightning.paper.model import VAEOutput


def test_squared_error_sums_pixels_and_averages_batch_eq16() -> None:
    x = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    reconstruction = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])  # one draw
    # example 1: (1-0)^2 + 0 = 1; example 2: 0.25 + 0.25 = 0.5; mean over B=2 -> 0.75
    assert squared_error(x, reconstruction).item() == pytest.approx(0.75)


def test_squared_error_averages_monte_carlo_draws_eq15() -> None:
    x = torch.tensor([[0.0, 0.0]])
    draws = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]]])  # N=3 draws: RL 1, 2, 0
    assert squared_error(x, draws).item() == pytest.approx((1 + 2 + 0) / 3)


def test_kl_closed_form_eq18_eq19() -> None:
    mean = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    log_variance = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    by_hand = [
        -0.5 * ((1 + 0 - 0 - 1) + (1 + 0 - 1 - 1)),  # example 1: 0.5
        -0.5 * ((1 + 0 - 4 - 1) + (1 + 1 - 0 - torch.e)),  # example 2
    ]
    assert kl_divergence(mean, log_variance).item() == pytest.approx(sum(by_hand) / 2)


def test_kl_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    mean, log_variance = torch.randn(5, 3), torch.randn(5, 3)
    posterior = torch.distributions.Normal(mean, torch.exp(0.5 * log_variance))
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(-1).mean()
    assert kl_divergence(mean, log_variance).item() == pytest.approx(expected.item(), rel=1e-5)


def test_total_is_reconstruction_plus_kl_eq20() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 6)
    output = VAEOutput(torch.rand(2, 4, 6), torch.randn(4, 3), torch.randn(4, 3))
    terms = VAELoss("mse")(x, output)
    assert terms.total.item() == pytest.approx((terms.reconstruction + terms.kl).item())
    assert terms.reconstruction.item() == pytest.approx(squared_error(x, output.reconstruction).item())


def test_bce_sums_pixels_like_pytorch_examples() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 6)
    reconstruction = torch.rand(1, 4, 6).clamp(0.01, 0.99)
    output = VAEOutput(reconstruction, torch.zeros(4, 2), torch.zeros(4, 2))
    expected = F.binary_cross_entropy(reconstruction[0], x, reduction="sum") / 4
    assert VAELoss("bce")(x, output).reconstruction.item() == pytest.approx(expected.item(), rel=1e-5)


def test_unknown_reconstruction_is_rejected() -> None:
    with pytest.raises(ValueError, match="loss.reconstruction=l1 is out of range: allowed one of mse, bce"):
        VAELoss("l1")


def test_a_reconstruction_without_the_draws_axis_is_refused_not_averaged_over_pixels() -> None:
    # A model of one's own that returned (batch, pixels) trained on a loss 784 times too small, exit 0.
    x = torch.rand(4, 6)
    output = VAEOutput(torch.rand(4, 6), torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ConfigError, match=r"^model: its reconstruction has shape \[4, 6\] for images of \[4, 6\]; "
                                          r"return it as \(draws, batch, pixels\)"):
        VAELoss()(x, output)


def test_outputs_in_bfloat16_are_scored_in_float32() -> None:
    # Under trainer.precision=bf16-true the loss came out in bfloat16, whose steps near 31 are 0.125.
    x = torch.rand(8, 784).bfloat16()
    output = VAEOutput(torch.rand(1, 8, 784).bfloat16(), torch.randn(8, 4).bfloat16(), torch.randn(8, 4).bfloat16())
    terms = VAELoss()(x, output)
    in_float32 = VAELoss()(x.float(), VAEOutput(*(tensor.float() for tensor in output)))
    assert [term.dtype for term in terms] == [torch.float32] * 3
    assert torch.equal(torch.stack(terms), torch.stack(in_float32))


def test_bce_averages_monte_carlo_draws_like_eq16() -> None:
    # Eq. 16 divides by the draws as well as the batch, for either reconstruction term: with N=3 draws
    # and the sum alone over the batch, a run with model.mc_samples=3 trained on a loss three times too big.
    torch.manual_seed(0)
    x = torch.rand(4, 6)
    draws = torch.rand(3, 4, 6).clamp(0.01, 0.99)
    per_draw = [F.binary_cross_entropy(draw, x, reduction="sum") / 4 for draw in draws]
    output = VAEOutput(draws, torch.zeros(4, 2), torch.zeros(4, 2))
    assert VAELoss("bce")(x, output).reconstruction.item() == pytest.approx(sum(per_draw).item() / 3, rel=1e-5)
