"""TensorBoard's projector files and the 2-D manifold that analysis/latent.py draws for `evaluate`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.distributions import Normal

from helpers import projector_files
from vae_lightning.analysis.evaluate import load
from vae_lightning.analysis.latent import cell_centres, manifold_grid, quantile_labels, write_projector
from vae_lightning.files import temporary_path


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_the_projector_gets_at_least_three_coordinates_the_first_being_the_means(dim: int, tmp_path: Path) -> None:
    means = torch.randn(6, dim)
    write_projector(means, torch.arange(6), torch.rand(6, 784), tmp_path / "projector")
    labels, vectors, _ = projector_files(tmp_path / "projector")
    assert labels == [str(label) for label in range(6)]
    written = torch.tensor(vectors)
    assert written.shape == (6, max(dim, 3))
    torch.testing.assert_close(written[:, :dim], means, rtol=1e-4, atol=1e-5)
    assert not written[:, dim:].any()


def test_the_projector_replaces_links_left_where_it_writes(tmp_path: Path) -> None:
    # A handed-over --out folder held links at the writer's staging folder and at projector/ itself.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    folder = out / "projector"
    temporary_path(folder).symlink_to(elsewhere, target_is_directory=True)
    folder.symlink_to(elsewhere, target_is_directory=True)
    write_projector(torch.randn(6, 3), torch.arange(6), torch.rand(6, 784), folder)
    assert not any(elsewhere.iterdir())
    assert not folder.is_symlink() and projector_files(folder)[0] == [str(label) for label in range(6)]
    assert [path.name for path in out.iterdir()] == ["projector"]


@pytest.mark.parametrize("per_side", [20, 7])
def test_the_manifolds_axis_labels_mirror_each_other_and_name_both_ends(per_side: int) -> None:
    quantiles = Normal(0.0, 1.0).icdf((torch.arange(per_side) + 0.5) / per_side).tolist()
    labels = quantile_labels(quantiles)
    assert labels[0] == f"{quantiles[0]:.2f}" and labels[-1] == f"{quantiles[-1]:.2f}"
    assert [label.removeprefix("-") for label in labels] == [label.removeprefix("-") for label in labels[::-1]]
    half = (per_side - 1) / 2
    assert [index for index, label in enumerate(labels) if label and index <= half] == list(range(0, int(half) + 1, 2))


def test_the_manifold_decodes_the_prior_quantiles_in_plot_order(trained_runs: dict[str, Path],
                                                                 mnist_root: Path) -> None:
    module, _, _, _ = load(trained_runs["vae2"], str(mnist_root))
    grid = manifold_grid(module.model, per_side=3)
    quantile = Normal(0.0, 1.0).icdf(torch.tensor(5 / 6)).item()  # the top row's z_2, the right column's z_1
    top_right = module.model.decode(torch.tensor([[quantile, quantile]])).reshape(28, 28)
    bottom_left = module.model.decode(torch.tensor([[-quantile, -quantile]])).reshape(28, 28)
    torch.testing.assert_close(grid[0, :28, -28:], top_right.detach())
    torch.testing.assert_close(grid[0, -28:, :28], bottom_left.detach())


def test_a_rows_tick_sits_at_the_centre_pixel_of_its_image() -> None:
    # make_grid with padding 2: the first 28-pixel image spans pixels 2..29, centre (2 + 29) / 2 = 15.5;
    # each next one is 30 pixels on. Unpadded, pixels 0..27: centre 13.5.
    assert cell_centres(3, 28, 2) == [15.5, 45.5, 75.5]
    assert cell_centres(2, 28, 0) == [13.5, 41.5]


@pytest.mark.parametrize("side", [242, 560])  # Figure 4's 8 x 8 grid of 28-pixel images, the 20 x 20 manifold
def test_each_pixel_of_a_grid_is_drawn_as_a_square_of_a_whole_number_of_saved_pixels(side: int,
                                                                                    tmp_path: Path) -> None:
    # Figure 4's 242 pixels were drawn 2.5 times: alternately 2 and 3 saved pixels wide, a moire in the paper.
    import numpy as np
    from PIL import Image

    from vae_lightning.analysis.latent import grid_figure, save_figure

    stripes = torch.zeros(1, side, side)
    stripes[:, :, ::2] = 1.0  # one-pixel columns, white and black in turn
    figure, _ = grid_figure(stripes, "stripes")
    save_figure(figure, tmp_path / "stripes.png")
    saved = np.asarray(Image.open(tmp_path / "stripes.png").convert("L")).astype(int)
    row = saved[saved.shape[0] // 2]
    edges = np.flatnonzero(np.diff(row)) + 1
    widths = np.diff(edges)
    # The middle half: the outer columns meet the axes' frame, drawn over the image's edge.
    inner = widths[len(widths) // 4 : -len(widths) // 4]
    assert len(inner) >= side // 2 - 4 and set(inner.tolist()) == {inner[0]}
