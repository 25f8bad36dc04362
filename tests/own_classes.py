"""Classes of one's own, as a user's --config-dir names them: a model and a loss that are no subclasses
of the project's but keep its contracts (forward returns a VAEOutput, the loss LossTerms), and others
that a test allows through VAE_LIGHTNING_ALLOWED_TARGETS."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from torch import nn

from vae_lightning.paper.loss import LossTerms, kl_divergence
from vae_lightning.paper.model import VAE, VAEOutput

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


class SmallVAE(VAE):
    """The project's VAE under a name no file of conf/ gives."""


class Wide(VAE):
    """A VAE whose hidden layer's width is an argument with a default of its own."""

    def __init__(self, width: int = 16, latent_dim: int = 2) -> None:
        super().__init__(hidden_dims=[width], latent_dim=latent_dim)


class DropoutVAE(VAE):
    """A VAE subclass with an argument of its own beside VAE's: its option extends conf/model/vae.yaml."""

    def __init__(self, input_dim: int = 784, hidden_dims: tuple[int, ...] = (400,), latent_dim: int = 20,
                 mc_samples: int = 1, tied_weights: bool = False, dropout: float = 0.0) -> None:
        super().__init__(input_dim, hidden_dims, latent_dim, mc_samples, tied_weights)
        self.dropout = nn.Dropout(dropout)


class PriorVAE(VAE):
    """A VAE whose constructor reads one of its tensors' values, which a meta tensor has none of."""

    def __init__(self, prior_scale: float = 1.0, **sizes: int) -> None:
        super().__init__(**sizes)
        self.register_buffer("prior_scale", torch.tensor(prior_scale))
        if not self.prior_scale.item() > 0:
            raise ValueError("model.prior_scale: allowed > 0")


class Plain(torch.optim.SGD):
    """An optimizer of one's own, with fewer arguments than SGD's."""

    def __init__(self, params, lr: float = 0.01, dampening: float = 0.0) -> None:
        super().__init__(params, lr=lr, dampening=dampening)


class LatentVariance(L.Callback):
    """Logs a metric of its own at each validation's end."""

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        module.log("val/latent_var", 1.0)


class NoGeneratorVAE(VAE):
    """A forward without the generator argument the run passes."""

    def forward(self, x: torch.Tensor) -> VAEOutput:  # type: ignore[override]
        return super().forward(x)


class TupleVAE(VAE):
    """A forward that returns a plain tuple, not a VAEOutput."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple:  # type: ignore[override]
        return tuple(super().forward(x, generator))


class CroppingVAE(VAE):
    """Decodes images a pixel short of those it takes, as a convolutional decoder's sizes may come out."""

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return super().decode(z)[..., :-1]


class Pixels(L.LightningDataModule):
    """A data module of one's own that takes no data.root: random images."""

    def __init__(self, images: int = 64, batch_size: int = 16) -> None:
        super().__init__()
        self.images = torch.rand(images, 784)
        self.batch_size = batch_size


class Images(L.LightningDataModule):
    """A data module of one's own, as one that reads a .npz is: no root, shuffle_seed, download or
    eval_batch_size, and its test loader over a tensor of random images."""

    def __init__(self, images: int = 32, pixels: int = 784) -> None:
        super().__init__()
        self.count = images
        self.pixels = pixels

    def setup(self, stage: str | None = None) -> None:
        self.test_images = torch.rand(self.count, self.pixels, generator=torch.Generator().manual_seed(0))
        self.test_labels = torch.arange(self.count) % 10

    def test_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(self.test_images, batch_size=16)



class RandomImages(L.LightningDataModule):
    """A data module of one's own that trains, as one that reads a .npz does: no root or download, its
    train, val and test loaders over random images."""

    def __init__(self, images: int = 32, batch_size: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.val_images = torch.rand(images, 784, generator=torch.Generator().manual_seed(0))

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(self.val_images, batch_size=self.hparams.batch_size)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self.train_dataloader()

    def test_dataloader(self) -> torch.utils.data.DataLoader:
        return self.train_dataloader()

class Unlabelled(Images):
    """Images without the test images' classes."""

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        del self.test_labels


class FailingVAE(VAE):
    """A forward that fails on any images, as a bug in one's own model does."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        raise ValueError("a bug of its own")


class ReadingVAE(VAE):
    """A forward that reads a value of its input, which the meta device has none of."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        if float(x.max()) > 1:
            raise ValueError("images past 1")
        return super().forward(x, generator)


class DrawlessVAE(VAE):
    """Returns its reconstruction without the draws axis, (batch, pixels), which VAEOutput asks for."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        output = super().forward(x, generator)
        return VAEOutput(output.reconstruction[0], output.mean, output.log_variance)


class TotalLoss(L1Loss):
    """Returns its total alone, a tensor, not the LossTerms the run logs."""

    def forward(self, x: torch.Tensor, output: VAEOutput) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, output).total


class OwnWandbLogger(WandbLogger):
    """A logger of one's own built on Lightning's WandbLogger: it needs wandb as that one does."""
