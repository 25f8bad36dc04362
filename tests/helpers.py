"""What the tests share: tiny MNIST IDX files in torchvision's layout, quick overrides, `python train.py`."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vae_lightning.paper.module import VAEModule


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


INJECTED = "VAE_LIGHTNING_ALLOWED_TARGETS"  # set to INJECTED_TARGETS to let runs build them
INJECTED_TARGETS = "injected.Fault,injected.Probe,injected.Slow"


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




PROJECT = Path(__file__).resolve().parent.parent
# The environment of a `python train.py` that may build the tests' injected callbacks.
INJECTED_ENVIRONMENT = {**os.environ, INJECTED: INJECTED_TARGETS, "PYTHONPATH": str(Path(__file__).parent)}


def run_train(arguments: list[str], cwd: Path = PROJECT, timeout: int = 600,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python train.py ARGUMENTS` as a user runs it, in `cwd`; the tests' callbacks may be injected.
    `env` adds to the environment (a Slurm cluster's SLURM_CONF, say)."""
    return subprocess.run([sys.executable, str(PROJECT / "train.py"), *arguments], cwd=cwd, capture_output=True,
                          text=True, env={**INJECTED_ENVIRONMENT, **(env or {})}, timeout=timeout)


def start_train(arguments: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python train.py ARGUMENTS` started in the background, its output in files in `cwd`."""
    return subprocess.Popen([sys.executable, str(PROJECT / "train.py"), *arguments], cwd=cwd, text=True,
                            stdout=open(cwd / "stdout.txt", "w"), stderr=open(cwd / "stderr.txt", "w"),
                            env={**INJECTED_ENVIRONMENT, **(env or {})})


def checkpoint_with(path: Path, weights: Callable[[dict], dict] = dict, **changes: object) -> Path:
    """path/best.ckpt: a tiny real module's checkpoint, its hyper_parameters changed by `changes`
    (`model__latent_dim=3` sets model.latent_dim; `eval_seed="abc"` a top-level one) and its state
    dict passed through `weights`."""
    module = VAEModule(model={"_target_": "vae_lightning.paper.model.VAE", "hidden_dims": [8], "latent_dim": 2},
                       loss={"_target_": "vae_lightning.paper.loss.VAELoss"},
                       optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})
    hparams = {key: dict(value) if isinstance(value, dict) else value for key, value in module.hparams.items()}
    for key, value in changes.items():
        group, _, name = key.partition("__")
        if name:
            hparams[group][name] = value
        else:
            hparams[group] = value
    path.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": weights(module.state_dict()), "pytorch-lightning_version": "2.6.0",
                "hyper_parameters": hparams}, path / "best.ckpt")
    return path / "best.ckpt"
