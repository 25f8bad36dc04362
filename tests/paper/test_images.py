"""The image grids' callback: what it says when it cannot draw."""

import logging
from types import SimpleNamespace

import pytest
import torch

from vae_lightning.paper.images import ImageGrids
from vae_lightning.paper.model import VAE


@pytest.mark.parametrize("model,datamodule,said", [
    # A model of one's own got no grids in TensorBoard, and nothing said why.
    (torch.nn.Identity(), SimpleNamespace(val_images=torch.zeros(2, 784)),
     "callbacks.images: Identity is not one of the project's autoencoders"),
    (VAE(hidden_dims=[8], latent_dim=2), SimpleNamespace(),
     "callbacks.images: the data module has no val_images to reconstruct: only samples are logged"),
    (VAE(hidden_dims=[8], latent_dim=2), SimpleNamespace(val_images=torch.zeros(2, 784)), None),
])
def test_what_the_grids_cannot_show_is_said_once_as_fit_starts(model, datamodule, said, caplog) -> None:
    trainer = SimpleNamespace(is_global_zero=True, datamodule=datamodule)
    with caplog.at_level(logging.WARNING, logger="vae_lightning.paper.images"):
        ImageGrids().on_fit_start(trainer, SimpleNamespace(model=model))
    assert [record.getMessage()[:len(said)] for record in caplog.records] == ([said] if said else [])
