"""A plain PyTorch training loop of the paper's VAE, no Lightning, no Hydra: the baseline to beat.

    python benchmarks/plain_loop.py --data-root ../shared/data --epochs 3

Self-contained on purpose (its own model and loss, written like pytorch/examples `vae/main.py`,
with the paper's squared-error loss), so that it checks the project instead of repeating it. It
draws its random numbers as `python train.py seed=N` does (weights and latent noise from the
global generator seeded with N, epoch e shuffled by a generator seeded with N + e, test noise from
a generator seeded with N), so the two runs see the same data order and the same noise and should
agree up to floating-point rounding. Prints the test loss (eq. 20) after the last epoch and the
seconds each epoch took.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets

from arguments import at_least


class PlainVAE(nn.Module):
    def __init__(self, hidden: int = 400, latent: int = 20) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def loss_terms(x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Squared error summed over pixels plus KL, both averaged over the batch (eqs. 16, 19, 20)."""
    reconstruction = (recon - x).pow(2).sum(1).mean()
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
    return reconstruction + kl


def load_mnist(root: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train/val (55,000/5,000, split by seed 0) and test images as float rows in [0, 1]."""
    train = datasets.MNIST(root, train=True).data.reshape(-1, 784).float() / 255
    test = datasets.MNIST(root, train=False).data.reshape(-1, 784).float() / 255
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    return train[order[5000:]], train[order[:5000]], test


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, batch_size: int,
                clip_value: float | None, order: torch.Generator | None = None) -> None:
    model.train()
    for index in torch.randperm(len(images), generator=order).split(batch_size):
        x = images[index]
        loss = loss_terms(x, *model(x))
        optimizer.zero_grad()
        loss.backward()
        if clip_value is not None:
            nn.utils.clip_grad_value_(model.parameters(), clip_value)
        optimizer.step()


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, seed: int, batch_size: int = 1000) -> float:
    model.eval()
    noise = torch.Generator().manual_seed(seed)
    total = sum(loss_terms(x, *model(x, noise)).item() * len(x) for x in images.split(batch_size))
    return total / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--epochs", type=at_least(1), default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--clip-value", type=float, default=1.0)
    parser.add_argument("--batch-size", type=at_least(1), default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=at_least(1), help="torch threads (default: torch's own choice)")
    parser.add_argument("--validate", action="store_true", help="score the validation images after every epoch")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, val, test = load_mnist(args.data_root)
    model = PlainVAE()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    epoch_seconds = []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        order = torch.Generator().manual_seed(args.seed + epoch)
        train_epoch(model, optimizer, train, args.batch_size, args.clip_value, order)
        if args.validate:
            evaluate(model, val, args.seed)
        epoch_seconds.append(round(time.perf_counter() - started, 3))
    print(json.dumps({"test_loss": evaluate(model, test, args.seed), "epoch_seconds": epoch_seconds}))


if __name__ == "__main__":
    main()
