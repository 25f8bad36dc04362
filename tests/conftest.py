"""Shared fixtures: tiny MNIST IDX files in torchvision's layout, and configs composed by Hydra."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from vae_lightning.train import CONFIG_DIR

TRAIN_IMAGES = 256
TEST_IMAGES = 64
VAL_IMAGES = 64


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an unsigned-byte IDX file: magic (0, 0, 0x08, ndim), big-endian sizes, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str = "MNIST", train: int = TRAIN_IMAGES, test: int = TEST_IMAGES) -> Path:
    """Fake digits (a bright square whose place depends on the label) under root/<folder>/raw."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, size=count)
        images = rng.integers(0, 40, size=(count, 28, 28))
        for image, label in zip(images, labels):
            row, column = 2 + 2 * label, 4 + label
            image[row : row + 8, column : column + 8] = 255
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mnist(tmp_path_factory.mktemp("data"))


INJECTED = "VAE_LIGHTNING_ALLOWED_TARGETS"  # set to INJECTED_TARGETS to let runs build them
INJECTED_TARGETS = "injected.Fault,injected.Probe"


def injected(name: str, cls: str, **arguments: object) -> list[str]:
    """Overrides that add the callback tests/injected.<cls> to a run, as callbacks.<name>."""
    return [f"+callbacks.{name}={{_target_:injected.{cls}}}"] + [
        f"+callbacks.{name}.{key}={value}" for key, value in arguments.items()
    ]


def tiny_overrides(root: Path) -> list[str]:
    """Overrides that make a run take a second: tiny data, small model, one quiet epoch."""
    return [
        f"data.root={root}",
        "data.download=false",
        f"data.val_size={VAL_IMAGES}",
        "data.batch_size=32",
        "model.hidden_dims=[32]",
        "model.latent_dim=4",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "++trainer.enable_progress_bar=false",
        "++trainer.enable_model_summary=false",
    ]


@pytest.fixture
def compose_config(tmp_path: Path) -> Iterator:
    """compose_config(overrides, run="run") -> the job config, with Hydra's runtime set as in a
    real run whose folder is tmp_path/run."""

    def compose_with(overrides: list[str], run: str = "run") -> DictConfig:
        # Set both folders: resolving the defaults would create empty run folders in outputs/.
        folders = [f"hydra.run.dir={tmp_path / run}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=[*overrides, *folders], return_hydra_config=True)
        (tmp_path / run).mkdir(exist_ok=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(tmp_path / run)
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield compose_with
    HydraConfig.instance().cfg = None
