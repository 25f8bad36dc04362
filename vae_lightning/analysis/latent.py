"""Pictures of a trained model's latent space: the decoded manifold and the test means of a 2-D latent
space, and every latent size in TensorBoard's embedding projector.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a cluster node
import matplotlib.pyplot as plt
import torch
from torch.distributions import Normal
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid, save_image

from vae_lightning.files import atomic_file, temporary_path
from vae_lightning.paper.images import as_images
from vae_lightning.paper.model import Autoencoder

PROJECTOR_FOLDER = "projector"  # a TensorBoard run of its own inside the run folder
PROJECTOR_TAG = "test_latent_means"
# The projector's PCA view is 3-D and needs a third coordinate: it projects onto components it takes
# from a dim x dim matrix, so a third one of a 2-D space is NaN and no point is drawn.
PROJECTOR_MIN_DIM = 3


def save_png(image: torch.Tensor, path: Path) -> None:
    """An image tensor (C, H, W) in [0, 1] to a PNG file, through the project's atomic writer."""
    with atomic_file(path) as file:
        save_image(image, file, format="png")


@torch.no_grad()
def latent_means(model: Autoencoder, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """mu(x) of each image (eq. 4) for a VAE, the code z for an autoencoder; on the CPU."""
    return torch.cat([model.encode(batch)[0].cpu() for batch in images.split(batch_size)])


@torch.no_grad()
def manifold_grid(model: Autoencoder, per_side: int = 20) -> torch.Tensor:
    """Images decoded from a per_side x per_side grid of the 2-D prior's quantiles (Kingma and
    Welling's Figure 4): equal steps of probability, so each image covers an equal share of the prior."""
    device = model.mean_head.weight.device
    probabilities = (torch.arange(per_side, dtype=torch.float32) + 0.5) / per_side
    quantiles = Normal(0.0, 1.0).icdf(probabilities).to(device)
    # Rows run from high z_2 at the top to low z_2, columns from low z_1 to high z_1, as on a plot.
    z_2, z_1 = torch.meshgrid(quantiles.flip(0), quantiles, indexing="ij")
    decoded = model.decode(torch.stack([z_1, z_2], dim=-1).reshape(-1, 2))
    return make_grid(as_images(decoded), nrow=per_side, padding=0)


def save_latent_scatter(means: torch.Tensor, labels: torch.Tensor, path: Path) -> None:
    """The 2-D means as points coloured by digit, with a legend, to a PNG."""
    figure, axes = plt.subplots(figsize=(6, 5.5), dpi=100)
    for digit in range(10):
        chosen = labels == digit
        axes.scatter(means[chosen, 0], means[chosen, 1], s=2, color=plt.cm.tab10(digit), label=str(digit))
    axes.set_xlabel("$\\mu_1(x)$")
    axes.set_ylabel("$\\mu_2(x)$")
    axes.set_title(f"Latent means of {len(means):,} test images")
    axes.legend(title="digit", markerscale=5, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    with atomic_file(path) as file:
        file.write(buffer.getvalue())


def write_projector(means: torch.Tensor, labels: torch.Tensor, images: torch.Tensor, folder: Path) -> None:
    """The means, their digits and a sprite of their images, for TensorBoard's projector tab; a latent
    space of fewer than 3 dimensions gets zero columns up to 3, which PCA keeps as it is (a flat plane).

    Written into a temporary folder that then replaces `folder`: the writer's files are not atomic,
    and a second evaluation replaces the first instead of adding an event file beside it.
    """
    shown = torch.nn.functional.pad(means, (0, max(0, PROJECTOR_MIN_DIM - means.shape[1])))
    staging = temporary_path(folder)
    try:
        with SummaryWriter(log_dir=str(staging)) as writer:
            writer.add_embedding(shown, metadata=labels.tolist(), label_img=as_images(images.cpu()), tag=PROJECTOR_TAG)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
