"""How large the VAE's gradients are, which says what each clipping threshold of Figures 1-2 acts on.

    python benchmarks/gradient_sizes.py --data-root ../shared/data \
        --checkpoint outputs/reproduce/<time>/sweeps/clip_value/clip.value=null,seed=0/checkpoints/last.ckpt

For the default VAE at initialisation (seed 0) and, with --checkpoint, for trained weights, prints
the global norm of the gradient of the loss (eq. 20) over --batches training batches of 128, and
the share of its entries larger than 0.1 in absolute value. Also prints the squared error of
predicting the mean training image for every validation image: the loss of a model that ignores
its input (the reconstruction term of a collapsed run).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from vae_lightning.paper.data import MNISTDataModule
from vae_lightning.paper.loss import VAELoss
from vae_lightning.paper.model import VAE
from vae_lightning.paper.module import VAEModule

from arguments import at_least


def gradient_sizes(model: torch.nn.Module, batches: list[torch.Tensor], threshold: float) -> tuple[list[float], float]:
    """(global gradient norm of each batch, mean share of gradient entries above `threshold`)."""
    loss = VAELoss()
    norms, shares = [], []
    for batch in batches:
        model.zero_grad()
        loss(batch, model(batch)).total.backward()
        gradient = torch.cat([parameter.grad.flatten() for parameter in model.parameters()])
        norms.append(gradient.norm().item())
        shares.append((gradient.abs() > threshold).float().mean().item())
    return norms, statistics.fmean(shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--checkpoint", type=Path, help="a trained run's checkpoint")
    parser.add_argument("--batches", type=at_least(1), default=20)
    parser.add_argument("--threshold", type=float, default=0.1)
    args = parser.parse_args()
    data = MNISTDataModule(root=str(Path(args.data_root).resolve()), download=False)
    data.setup()
    batches = list(data.train_images[: 128 * args.batches].split(128))
    torch.manual_seed(0)
    models = {"initialisation (seed 0)": VAE()}
    noise_state = torch.get_rng_state()
    if args.checkpoint:
        models[str(args.checkpoint)] = VAEModule.load_from_checkpoint(args.checkpoint, weights_only=True).model
    for name, model in models.items():
        # The same latent noise for every model: loading --checkpoint builds a model too, which would
        # otherwise move the generator and change the initialisation's figures.
        torch.set_rng_state(noise_state)
        norms, share = gradient_sizes(model, batches, args.threshold)
        print(f"{name}: gradient norm median {statistics.median(norms):.2f} (min {min(norms):.2f}, max "
              f"{max(norms):.2f}); entries above {args.threshold}: {100 * share:.2f}%")
    mean_image = data.train_images.mean(dim=0)
    error = (data.val_images - mean_image).square().sum(dim=1).mean().item()
    print(f"squared error of the mean training image on the validation images: {error:.2f}")


if __name__ == "__main__":
    main()
