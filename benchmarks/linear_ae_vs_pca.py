"""The linear autoencoder against PCA on MNIST, at the same number of dimensions.

    python benchmarks/linear_ae_vs_pca.py --data-root ../shared/data --latent-dim 20

Trains `python train.py model=linear_ae` (Adam, so that it gets close to its optimum in a few
epochs), fits PCA on the same 55,000 training images, and prints for the 10,000 test images the
reconstruction error of both (squared error summed over pixels, averaged over images: eq. 16's
units) and the cosines of the principal angles between the two learned subspaces.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from vae_lightning.paper.data import MNISTDataModule

from arguments import at_least

PROJECT = Path(__file__).resolve().parent.parent


def train_linear_ae(data_root: str, latent_dim: int, epochs: int, run_dir: Path) -> tuple[float, torch.Tensor]:
    """(test reconstruction error, decoder weight) of a linear autoencoder trained by train.py."""
    subprocess.run(
        [sys.executable, str(PROJECT / "train.py"), "model=linear_ae", f"model.latent_dim={latent_dim}", "optim=adam",
         f"data.root={data_root}", f"trainer.max_epochs={epochs}", f"hydra.run.dir={run_dir}",
         "trainer.enable_progress_bar=false"],
        check=True, stdout=subprocess.DEVNULL,
    )
    results = json.loads((run_dir / "results.json").read_text())
    checkpoint = torch.load(run_dir / results["checkpoint"], map_location="cpu", weights_only=True)
    return results["test"]["reconstruction"], checkpoint["state_dict"]["model.decoder.1.weight"]


def pca(train: torch.Tensor, test: torch.Tensor, dimensions: int) -> tuple[float, torch.Tensor]:
    """(test reconstruction error, 784 x d principal directions) of PCA fitted on `train`."""
    mean = train.mean(dim=0)
    directions = torch.linalg.svd(train - mean, full_matrices=False).Vh[:dimensions].T
    reconstruction = mean + (test - mean) @ directions @ directions.T
    return (reconstruction - test).square().sum(dim=1).mean().item(), directions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--latent-dim", type=at_least(1), default=20)
    parser.add_argument("--epochs", type=at_least(1), default=10)
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    data = MNISTDataModule(root=data_root, download=False)
    data.setup()
    pca_error, directions = pca(data.train_images.double(), data.test_images.double(), args.latent_dim)
    with tempfile.TemporaryDirectory() as run_dir:
        ae_error, decoder = train_linear_ae(data_root, args.latent_dim, args.epochs, Path(run_dir) / "run")
    learned = torch.linalg.qr(decoder.double()).Q
    cosines = torch.linalg.svdvals(directions.T @ learned)
    print(f"test reconstruction error at d={args.latent_dim}: PCA {pca_error:.3f}, linear autoencoder {ae_error:.3f} "
          f"(ratio {ae_error / pca_error:.4f})")
    print(f"cosines of the principal angles between the two subspaces: min {cosines.min():.4f}, "
          f"mean {cosines.mean():.4f}")


if __name__ == "__main__":
    main()
