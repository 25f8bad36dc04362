"""Pictures of a trained model: its image grids as titled figures with labelled rows or axes, the
decoded manifold and the test means of a 2-D latent space, and every latent size in TensorBoard's projector.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a cluster node
import matplotlib.pyplot as plt
import torch
from torch.distributions import Normal
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid, save_image

from vae_lightning.files import atomic_file, remove, temporary_path
from vae_lightning.paper.images import as_images
from vae_lightning.paper.model import Autoencoder

PROJECTOR_FOLDER = "projector"  # a TensorBoard run of its own inside the run folder
PROJECTOR_TAG = "test_latent_means"
# The projector's PCA view is 3-D and needs a third coordinate: it projects onto components it takes
# from a dim x dim matrix, so a third one of a 2-D space is NaN and no point is drawn.
PROJECTOR_MIN_DIM = 3


def save_figure(figure: plt.Figure, path: Path) -> None:
    """A matplotlib figure to a PNG file, through the project's atomic writer."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=GRID_DPI, bbox_inches="tight")
    plt.close(figure)
    with atomic_file(path) as file:
        file.write(buffer.getvalue())


# The grids' figures are saved at this resolution, each image pixel a square of up to MAX_SCALE of its pixels.
GRID_DPI = 100
MAX_SCALE = 3
# Room around the image for the title and the labels; save_figure's tight box crops it to what they take.
GRID_MARGIN_INCHES = 1.5


# A plain grid's pixel is a square of this many of its pixels: Figure 4's 242-pixel grid placed at a page's 7 in
# is then 277 dpi, where at 1 pixel (35 dpi) PDF viewers smooth it as they enlarge it, a blur of every digit.
PLAIN_GRID_SCALE = 8


def save_plain_grid(grid: torch.Tensor, path: Path, scale: int = PLAIN_GRID_SCALE) -> None:
    """The grid alone, without title or labels, for a paper to place and caption: torchvision's save_image, a
    lossless PNG of round(255 x) for x in [0, 1], each pixel repeated into a `scale` x `scale` square."""
    enlarged = grid.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    buffer = io.BytesIO()
    save_image(enlarged, buffer, format="png")
    with atomic_file(path) as file:
        file.write(buffer.getvalue())


def grid_figure(grid: torch.Tensor, title: str) -> tuple[plt.Figure, plt.Axes]:
    """A grid of grey images (C, H, W) in [0, 1] drawn pixel for pixel, each pixel a square of a whole number of
    saved pixels (up to MAX_SCALE, about 800 at most across), under a title; the caller labels its rows or axes.
    The axes are placed at exactly that size: in the subplot's default box, the 242-pixel Figure 4 was drawn 2.5
    times, its pixels alternately 2 and 3 saved pixels wide, a moire at any zoom."""
    height, width = grid.shape[1:]
    scale = max(1, min(MAX_SCALE, 800 // width))
    inches = (scale * width / GRID_DPI, scale * height / GRID_DPI)
    figure = plt.figure(figsize=(inches[0] + 2 * GRID_MARGIN_INCHES, inches[1] + 2 * GRID_MARGIN_INCHES),
                        dpi=GRID_DPI)
    size = figure.get_size_inches()
    axes = figure.add_axes((GRID_MARGIN_INCHES / size[0], GRID_MARGIN_INCHES / size[1], inches[0] / size[0],
                            inches[1] / size[1]))
    axes.imshow(grid[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    return figure, axes


def cell_centres(count: int, cell: int, padding: int) -> list[float]:
    """The pixel centres of `count` images of `cell` pixels in a make_grid row or column."""
    return [padding + index * (cell + padding) + (cell - 1) / 2 for index in range(count)]


def save_rows_figure(grid: torch.Tensor, path: Path, title: str, row_names: list[str], cell: int = 28,
                     padding: int = 2) -> None:
    """A grid whose rows take turns at showing `row_names` (inputs above outputs), each row labelled;
    `cell`: the images' side in pixels."""
    figure, axes = grid_figure(grid, title)
    rows = (grid.shape[1] - padding) // (cell + padding)
    axes.set_yticks(cell_centres(rows, cell, padding), [row_names[row % len(row_names)] for row in range(rows)])
    axes.tick_params(axis="y", length=0)
    save_figure(figure, path)


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
    save_figure(figure, path)


def save_manifold_figure(grid: torch.Tensor, path: Path, per_side: int = 20) -> None:
    """manifold_grid's images with their z: each axis ticked at its images' prior quantiles, labelled
    as `quantile_labels` says (the steps are equal in probability, not in z)."""
    cell = grid.shape[-1] // per_side  # unpadded: the images' side, 28 for MNIST, another for data of one's own
    probabilities = (torch.arange(per_side, dtype=torch.float32) + 0.5) / per_side
    quantiles = Normal(0.0, 1.0).icdf(probabilities).tolist()
    figure, axes = grid_figure(grid, f"Images decoded from a {per_side} x {per_side} grid of the prior's quantiles")
    centres = cell_centres(per_side, cell, 0)
    labels = quantile_labels(quantiles)
    axes.set_xticks(centres, labels, rotation=90)
    axes.set_yticks(centres, labels[::-1])  # high z_2 at the top
    span = f"{quantiles[0]:.2f} to {quantiles[-1]:.2f}"
    axes.set_xlabel(f"$z_1$: the N(0, 1) quantiles at p = 0.5/{per_side} ... {per_side - 0.5}/{per_side}, {span}")
    axes.set_ylabel(f"$z_2$: the same quantiles, {span}")
    save_figure(figure, path)


def quantile_labels(quantiles: list[float]) -> list[str]:
    """Every other quantile's label, counted from both ends so that the labels mirror each other about
    z = 0, as the quantiles do, and both ends are labelled; the others are blank ticks."""
    last = len(quantiles) - 1
    return [f"{z:.2f}" if min(index, last - index) % 2 == 0 else "" for index, z in enumerate(quantiles)]


def write_projector(means: torch.Tensor, labels: torch.Tensor, images: torch.Tensor, folder: Path) -> None:
    """The means, their digits and a sprite of their images, for TensorBoard's projector tab; a latent
    space of fewer than 3 dimensions gets zero columns up to 3, which PCA keeps as it is (a flat plane).

    Written into a temporary folder that then replaces `folder`: the writer's files are not atomic,
    and a second evaluation replaces the first instead of adding an event file beside it.
    """
    shown = torch.nn.functional.pad(means, (0, max(0, PROJECTOR_MIN_DIM - means.shape[1])))
    staging = temporary_path(folder)
    remove(staging)  # a link left there (in a handed-over folder) would take the writer's files elsewhere
    try:
        with SummaryWriter(log_dir=str(staging)) as writer:
            writer.add_embedding(shown, metadata=labels.tolist(), label_img=as_images(images.cpu()), tag=PROJECTOR_TAG)
        remove(folder)
        os.replace(staging, folder)
    finally:
        remove(staging)
