"""The image grids' callback: what it says when it cannot draw."""

import logging
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger

import own_classes
from vae_lightning.paper.images import ImageGrids
from vae_lightning.paper.model import VAE


@pytest.mark.parametrize("model,datamodule,said", [
    # A model of one's own got no grids in TensorBoard, and nothing said why.
    (torch.nn.Identity(), SimpleNamespace(val_images=torch.zeros(2, 784)),
     "callbacks.images: Identity has no encode, which the grids use: no images are logged; give Identity encode(x) "
     "returning (mean, log_variance)"),
    # One with encode and decode but no mean_head: named, with what to give it.
    (own_classes.OwnVAE(), SimpleNamespace(val_images=torch.zeros(2, 784)),
     "callbacks.images: OwnVAE has no mean_head, which the grids use"),
    # A model of one's own with every part the grids use, which evaluate draws, is drawn in TensorBoard too.
    (own_classes.HeadedVAE(), SimpleNamespace(val_images=torch.zeros(2, 784)), None),
    (VAE(hidden_dims=[8], latent_dim=2), SimpleNamespace(),
     "callbacks.images: the data module has no val_images to reconstruct: only samples are logged"),
    (VAE(hidden_dims=[8], latent_dim=2), SimpleNamespace(val_images=torch.zeros(2, 784)), None),
])
def test_what_the_grids_cannot_show_is_said_once_as_fit_starts(model, datamodule, said, caplog) -> None:
    trainer = SimpleNamespace(is_global_zero=True, datamodule=datamodule)
    with caplog.at_level(logging.WARNING, logger="vae_lightning.paper.images"):
        ImageGrids().on_fit_start(trainer, SimpleNamespace(model=model))
    assert [record.getMessage()[:len(said)] for record in caplog.records] == ([said] if said else [])


class RecordingLogger(TensorBoardLogger):
    """A TensorBoard logger whose writer records the images added to it."""

    def __init__(self, save_dir: str) -> None:
        super().__init__(save_dir)
        self.images: list[tuple[str, tuple[int, ...]]] = []

    @property
    def experiment(self) -> SimpleNamespace:
        return SimpleNamespace(add_image=lambda tag, grid, step: self.images.append((tag, tuple(grid.shape))))


def test_a_model_of_ones_own_with_the_grids_parts_gets_its_grids_logged(tmp_path) -> None:
    # A convolutional VAE of one's own (no subclass of the project's Autoencoder, whose constructor builds
    # an MLP) got no images in TensorBoard, though evaluate drew the same grids from it.
    logger = RecordingLogger(str(tmp_path))
    trainer = SimpleNamespace(loggers=[logger], sanity_checking=False, current_epoch=0, global_step=3,
                              datamodule=SimpleNamespace(val_images=torch.rand(8, 784)))
    ImageGrids(count=4).on_validation_epoch_end(trainer, SimpleNamespace(model=own_classes.HeadedVAE()))
    assert [tag for tag, _ in logger.images] == ["samples", "reconstructions"]


def test_the_callbacks_grids_are_count_samples_square_and_count_over_2_reconstructions(tmp_path) -> None:
    # callbacks.images.count=16: a 4 x 4 grid of prior samples, and 8 validation images above their
    # 8 reconstructions (one pair of rows of 8); 28-pixel images with 2-pixel borders.
    logger = RecordingLogger(str(tmp_path))
    trainer = SimpleNamespace(loggers=[logger], sanity_checking=False, current_epoch=0, global_step=3,
                              datamodule=SimpleNamespace(val_images=torch.rand(32, 784)))
    ImageGrids(count=16).on_validation_epoch_end(trainer, SimpleNamespace(model=VAE(hidden_dims=[8], latent_dim=2)))
    square, row_of_8 = 4 * 28 + 5 * 2, 8 * 28 + 9 * 2
    assert logger.images == [("samples", (3, square, square)), ("reconstructions", (3, 2 * 28 + 3 * 2, row_of_8))]


def test_grids_are_logged_at_the_x_of_the_epochs_scalars() -> None:
    # Lightning logs an epoch's scalars at the index of its last step (global_step - 1), or at the epoch
    # with x_axis=epoch: the images tab's slider must line up with the scalars'.
    trainer = SimpleNamespace(global_step=12, current_epoch=2)
    assert ImageGrids(x_axis="step").x_value(trainer) == 11
    assert ImageGrids(x_axis="epoch").x_value(trainer) == 2
    assert ImageGrids(x_axis="step").x_value(SimpleNamespace(global_step=0, current_epoch=0)) == 0


def test_the_callback_adds_its_grids_at_that_x(tmp_path) -> None:
    # The x the grids are added at, not only the one x_value computes: at global_step they would sit one
    # step past the epoch's scalars on the images tab's slider.
    class StepsLogger(RecordingLogger):
        @property
        def experiment(self) -> SimpleNamespace:
            return SimpleNamespace(add_image=lambda tag, grid, step: self.images.append((tag, step)))

    model = SimpleNamespace(model=VAE(hidden_dims=[8], latent_dim=2))
    for x_axis, x in (("step", 11), ("epoch", 2)):
        logger = StepsLogger(str(tmp_path))
        trainer = SimpleNamespace(loggers=[logger], sanity_checking=False, current_epoch=2, global_step=12,
                                  datamodule=SimpleNamespace(val_images=torch.rand(8, 784)))
        ImageGrids(count=4, x_axis=x_axis).on_validation_epoch_end(trainer, model)
        assert logger.images == [("samples", x), ("reconstructions", x)]
