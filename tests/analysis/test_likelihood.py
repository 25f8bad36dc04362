"""The test set's likelihood: the decoders' log-densities, the ELBO against the test loss, the
importance-sampled estimate as k grows, and `evaluate --nll` with its refusals."""

import hashlib
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from scipy.stats import multivariate_normal
from torch.distributions import Bernoulli, Normal

import own_classes
from helpers import TEST_IMAGES, checkpoint_of
from vae_lightning.analysis import evaluate as evaluate_module
from vae_lightning.analysis import likelihood
from vae_lightning.analysis.evaluate import evaluate, load
from vae_lightning.paper.model import VAEOutput


def test_the_gaussian_density_is_variance_one_half_and_eq_14_plus_the_constant() -> None:
    x, reconstruction = torch.rand(3, 784), torch.rand(3, 784)
    reference = Normal(reconstruction, math.sqrt(0.5)).log_prob(x).sum(dim=-1)
    torch.testing.assert_close(likelihood.gaussian_log_density(x, reconstruction), reference)
    squared_error = (x - reconstruction).square().sum(dim=-1)  # eq. 14
    constant = likelihood.loss_constant("mse", 784)
    assert constant == pytest.approx(392 * math.log(math.pi))
    torch.testing.assert_close(-likelihood.gaussian_log_density(x, reconstruction), squared_error + constant)


def test_the_bernoulli_density_is_minus_the_cross_entropy() -> None:
    x, reconstruction = torch.randint(0, 2, (3, 784)).float(), torch.rand(3, 784) * 0.98 + 0.01
    reference = Bernoulli(probs=reconstruction).log_prob(x).sum(dim=-1)
    torch.testing.assert_close(likelihood.bernoulli_log_density(x, reconstruction), reference)
    assert likelihood.loss_constant("bce", 784) == 0


@pytest.mark.parametrize(("run", "loss"), [("vae", "mse"), ("bce", "bce")])
def test_nll_k1_is_the_test_loss_plus_the_constant(trained_runs: dict[str, Path], mnist_root: Path, run: str,
                                                   loss: str) -> None:
    results = evaluate(trained_runs[run], data_root=str(mnist_root), nll=True, k=2)
    test_loss = json.loads((trained_runs[run] / "results.json").read_text())["test"]["loss"]
    estimate = results["likelihood"]
    assert estimate["nll_k1"] == pytest.approx(test_loss + likelihood.loss_constant(loss, 784), rel=1e-5)
    assert estimate["likelihood"] == likelihood.LIKELIHOODS[loss][0]
    assert json.loads((trained_runs[run] / "likelihood.json").read_text()) == estimate
    assert set(estimate) == {"k", "nll", "nll_k1", "images", "likelihood", "checkpoint", "weights_sha256"}


def test_the_estimate_does_not_increase_with_k(trained_runs: dict[str, Path], mnist_root: Path) -> None:
    module, datamodule, _, _ = load(trained_runs["vae"], str(mnist_root))
    datamodule.setup("test")
    module.eval()
    nll = {k: likelihood.negative_log_likelihood(module.model, "mse", datamodule.test_images, k, 32)["nll"]
           for k in (1, 10, 100, 300)}
    assert nll[1] >= nll[10] >= nll[100] >= nll[300]
    assert nll[1] > nll[300]


def test_chunks_combine_without_underflow(trained_runs: dict[str, Path], mnist_root: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights near e^-10000 underflow float32 outside a log-sum-exp; across 25 chunks they still add up."""
    module, datamodule, _, _ = load(trained_runs["vae"], str(mnist_root))
    datamodule.setup("test")
    images = datamodule.test_images[:4]
    monkeypatch.setattr(likelihood, "DECODED_FLOATS", len(images) * 784 * 4)  # 4 draws a chunk

    def estimate(shift: float) -> torch.Tensor:
        density = lambda x, reconstruction: likelihood.gaussian_log_density(x, reconstruction) - shift  # noqa: E731
        generator = torch.Generator().manual_seed(0)
        return likelihood.importance_sampled_log_likelihood(module.model, images, 100, density, generator)

    torch.testing.assert_close(estimate(10_000.0), estimate(0.0) - 10_000.0)


def test_images_estimates_on_the_first_n(trained_runs: dict[str, Path], mnist_root: Path) -> None:
    results = evaluate(trained_runs["vae"], data_root=str(mnist_root), nll=True, k=5, images=10)
    assert results["likelihood"]["images"] == 10 and results["likelihood"]["k"] == 5
    assert "likelihood.json" in results["written"]


def test_a_likelihood_of_other_weights_left_beside_an_evaluation_is_named_and_kept(
        trained_runs: dict[str, Path], mnist_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    estimated = evaluate(trained_runs["vae"], data_root=str(mnist_root), out=out, nll=True, k=5, images=10)
    digest = hashlib.sha256((trained_runs["vae"] / "checkpoints" / "best.ckpt").read_bytes()).hexdigest()
    assert estimated["likelihood"]["weights_sha256"] == digest
    kept = (out / "likelihood.json").read_bytes()
    # The same weights.
    assert evaluate(trained_runs["vae"], data_root=str(mnist_root), out=out)["other_likelihood"] is None
    other = evaluate(trained_runs["bce"], data_root=str(mnist_root), out=out)
    assert other["other_likelihood"] == (f"{out / 'likelihood.json'} is of other weights "
                                         f"({trained_runs['vae'] / 'checkpoints' / 'best.ckpt'}, as it was then)")
    assert (out / "likelihood.json").read_bytes() == kept
    assert json.loads((out / "evaluation.json").read_text())["weights_sha256"] != digest


def run_main(arguments: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["evaluate", *arguments])
    with pytest.raises(SystemExit) as exit_info:
        evaluate_module.main()
    return exit_info.value.code


@pytest.mark.parametrize(("run", "options", "message"), [
    ("ae", [], "--nll needs a VAE"),
    ("vae", ["--k", "0"], "--k 0"),
    ("vae", ["--images", "0"], "--images 0"),
    ("vae", ["--images", str(TEST_IMAGES + 1)], f"the test set has {TEST_IMAGES} images"),
])
def test_bad_likelihood_options_stop_with_one_line_and_write_nothing(
    trained_runs: dict[str, Path], mnist_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch, run: str, options: list[str], message: str,
) -> None:
    out = tmp_path / "out"
    code = run_main([str(trained_runs[run]), "--data-root", str(mnist_root), "--out", str(out), "--nll", *options],
                    monkeypatch)
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and message in error
    assert not out.exists()


def test_nll_asks_the_encoder_not_the_class_whether_the_model_has_q_of_z_given_x(
    mnist_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A VAE of one's own was refused as "a deterministic autoencoder" for not subclassing the project's.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", own_classes.TARGETS)
    checkpoint_of(tmp_path / "vae" / "checkpoints", model={"_target_": "own_classes.HeadedVAE"})
    estimate = evaluate(tmp_path / "vae", data_root=str(mnist_root), nll=True, k=2, images=10)["likelihood"]
    assert estimate["images"] == 10 and math.isfinite(estimate["nll"]) and math.isfinite(estimate["nll_k1"])
    capsys.readouterr()  # the estimate's progress bar
    checkpoint_of(tmp_path / "ae" / "checkpoints", model={"_target_": "own_classes.HeadedAE"})
    code = run_main([str(tmp_path / "ae"), "--data-root", str(mnist_root), "--nll"], monkeypatch)
    assert code == 2 and capsys.readouterr().err.splitlines() == [
        "error: --nll needs a VAE: the encode of this run's model (HeadedAE) gives no log-variance beside the mean, as "
        "a deterministic autoencoder's does, so it has no latent distribution q(z|x) and defines no likelihood; "
        "evaluate it without --nll, or, for a VAE, have its encode return (mean, log_variance)"]
    assert sorted(path.name for path in (tmp_path / "ae").iterdir()) == ["checkpoints"]


@pytest.mark.parametrize(("loss", "has"), [
    ({"_target_": "own_classes.L1Loss"}, "has no reconstruction"),
    ({"_target_": "own_classes.L1Loss", "reconstruction": "l1"}, "has reconstruction='l1'"),
], ids=["no reconstruction", "an unknown one"])
def test_nll_on_a_loss_that_names_no_likelihood_is_one_line_before_anything_is_written(
    loss: dict, has: str, mnist_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It failed on the loss's reconstruction (AttributeError, KeyError) after the grids and projector/ were written.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", own_classes.TARGETS)
    run_dir = tmp_path / "run"
    checkpoint_of(run_dir / "checkpoints", loss=loss)
    code = run_main([str(run_dir), "--data-root", str(mnist_root), "--nll", "--k", "10", "--images", "10"], monkeypatch)
    assert code == 2 and capsys.readouterr().err.splitlines() == [
        f"error: --nll takes the decoder's likelihood from the loss's reconstruction, mse (gaussian, variance 1/2) or "
        f"bce (bernoulli): this run's loss (L1Loss) {has}; set its self.reconstruction to the one whose -log p(x|z) "
        f"its reconstruction term is, or evaluate without --nll"]
    assert sorted(path.name for path in run_dir.iterdir()) == ["checkpoints"]


class LinearGaussianVAE(torch.nn.Module):
    """z ~ N(0, 1) in one dimension, x | z ~ N(w z + b, I/2) (the mse decoder's variance): x is Gaussian,
    N(b, w w^T + I/2), so log p(x) is known in closed form. encode gives the exact posterior N(m, s^2),
    s^2 = 1 / (1 + 2 w.w), m = 2 s^2 w.(x - b), times `variance_factor` on the variance."""

    def __init__(self, variance_factor: float = 1.0) -> None:
        super().__init__()
        self.w = torch.tensor([0.8, -0.5, 0.3], dtype=torch.float64)
        self.b = torch.tensor([0.1, 0.4, -0.2], dtype=torch.float64)
        self.variance_factor = variance_factor

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        variance = 1 / (1 + 2 * self.w @ self.w)
        mean = 2 * variance * (x - self.b) @ self.w
        return mean[:, None], torch.full_like(mean[:, None], math.log(self.variance_factor * variance))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.w + self.b

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        """DRAWS reparameterised draws of z per image, as the project's VAE with mc_samples=DRAWS."""
        mean, log_variance = self.encode(x)
        epsilon = torch.randn((DRAWS, *mean.shape), generator=generator, dtype=x.dtype)
        return VAEOutput(self.decode(mean + torch.exp(0.5 * log_variance) * epsilon), mean, log_variance)


DRAWS = 20_000
IMAGES = torch.tensor([[0.9, -0.3, 0.4], [-2.0, 2.0, -1.0]], dtype=torch.float64)


def exact_log_likelihood(model: LinearGaussianVAE) -> torch.Tensor:
    covariance = torch.outer(model.w, model.w) + 0.5 * torch.eye(3, dtype=torch.float64)
    return torch.tensor(multivariate_normal(model.b.numpy(), covariance.numpy()).logpdf(IMAGES.numpy()))


@pytest.mark.parametrize("k", [1, 7, 10])
def test_with_the_exact_posterior_every_weight_is_p_of_x_whatever_k_and_the_chunks(
        k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # p(x|z) p(z) / q(z|x) = p(x) for every z when q is the true posterior: the estimate is log p(x) for
    # any k, here in chunks of 4 draws (k = 10: 4 + 4 + 2), so neither 1/k nor the chunks' sum may be off.
    monkeypatch.setattr(likelihood, "DECODED_FLOATS", len(IMAGES) * 3 * 4)
    model = LinearGaussianVAE()
    estimate = likelihood.importance_sampled_log_likelihood(
        model, IMAGES, k, likelihood.gaussian_log_density, torch.Generator().manual_seed(0))
    torch.testing.assert_close(estimate, exact_log_likelihood(model), rtol=0, atol=1e-9)


def test_with_a_wider_proposal_the_estimate_converges_to_log_p_of_x() -> None:
    # q's variance twice the posterior's: the weights vary, and 20000 draws of z = m + s epsilon bring the
    # estimate within 0.01 of log p(x) (0.004 with this seed). Draws of the wrong spread (s^2 for s: 0.68
    # for 0.82) would settle log 1.09 = 0.09 nats away.
    model = LinearGaussianVAE(variance_factor=2.0)
    estimate = likelihood.importance_sampled_log_likelihood(
        model, IMAGES, 20_000, likelihood.gaussian_log_density, torch.Generator().manual_seed(0))
    torch.testing.assert_close(estimate, exact_log_likelihood(model), rtol=0, atol=0.01)


def test_the_elbo_of_each_image_is_log_p_of_x_when_q_is_the_exact_posterior() -> None:
    # ELBO = log p(x) - KL(q || p(z|x)), and that KL is 0 here: each image's ELBO is its own log p(x)
    # (the two images' differ by 2 nats), up to the Monte-Carlo error of 20000 draws (0.01 with this seed).
    model = LinearGaussianVAE()
    elbo = likelihood.elbo(model, IMAGES, likelihood.gaussian_log_density, torch.Generator().manual_seed(0))
    torch.testing.assert_close(elbo, exact_log_likelihood(model), rtol=0, atol=0.02)


def test_the_reported_nll_is_the_mean_over_images_of_minus_log_p_of_x() -> None:
    model = LinearGaussianVAE()
    result = likelihood.negative_log_likelihood(model, "mse", IMAGES, k=5, eval_batch_size=1)
    expected = -exact_log_likelihood(model).mean().item()
    assert result["nll"] == pytest.approx(expected, abs=1e-9)
    assert result["nll_k1"] == pytest.approx(expected, abs=0.02)
    assert (result["k"], result["images"], result["likelihood"]) == (5, 2, "gaussian, variance 1/2")
