"""Seconds per epoch of the project against a plain PyTorch loop and a typical Lightning setup.

    python benchmarks/epoch_speed.py --data-root ../shared/data

Runs, one after another, the 784-400-20 VAE at batch 128 with SGD (momentum 0.9), clipping by
value at 1.0 and 2 torch threads:
  (a) project: `python train.py` as is (progress bar, TensorBoard + CSV logging, checkpoints,
      validation every epoch), timed from its TensorBoard event times: whole epochs, validation
      and checkpointing included;
  (b) floor: the plain loop of benchmarks/plain_loop.py over an in-memory tensor, training only;
  (c) naive: the project's LightningModule fed by torchvision's MNIST + ToTensor + DataLoader,
      Lightning's defaults otherwise, training time of each epoch.
Each figure is the median over the epochs after the first (warm-up). The last line gives the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_loop import PlainVAE, load_mnist, train_epoch  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
BATCH = 128
LR = 0.01


def median_after_warmup(seconds: list[float]) -> float:
    return statistics.median(seconds[1:])


def project_epochs(data_root: str, epochs: int, threads: int) -> list[float]:
    """Run train.py in a subprocess; an epoch is the time between consecutive epoch-end events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with tempfile.TemporaryDirectory() as run_dir:
        subprocess.run(
            [sys.executable, str(PROJECT / "train.py"), f"data.root={data_root}", f"trainer.max_epochs={epochs}",
             f"hydra.run.dir={run_dir}", f"torch_threads={threads}"],
            cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        events = EventAccumulator(run_dir)
        events.Reload()
        ends = [event.wall_time for event in events.Scalars("val/loss")]
    return [end - start for start, end in zip(ends, ends[1:])]  # the first epoch has no start: warm-up


def floor_epochs(data_root: str, epochs: int) -> list[float]:
    train, _, _ = load_mnist(data_root)
    torch.manual_seed(0)
    model = PlainVAE()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        train_epoch(model, optimizer, train, BATCH, clip_value=1.0)
        seconds.append(time.perf_counter() - started)
    return seconds


def naive_epochs(data_root: str, epochs: int) -> list[float]:
    import lightning as L
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from vae_lightning.module import VAEModule

    class ImageLabelVAE(VAEModule):
        def training_step(self, batch, batch_idx):
            images, _ = batch
            return super().training_step(images.flatten(1), batch_idx)

    class EpochTimer(L.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_train_epoch_start(self, trainer, module) -> None:
            self.started = time.perf_counter()

        def on_train_epoch_end(self, trainer, module) -> None:
            self.seconds.append(time.perf_counter() - self.started)

    dataset = datasets.MNIST(data_root, train=True, transform=transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
    module = ImageLabelVAE(
        model={"_target_": "vae_lightning.model.VAE"},
        loss={"_target_": "vae_lightning.loss.VAELoss"},
        optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": LR, "momentum": 0.9},
    )
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, default_root_dir=root,
                            gradient_clip_val=1.0, gradient_clip_algorithm="value", callbacks=[timer],
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(module, train_dataloaders=loader)
    return timer.seconds


def matmul_seconds_per_epoch(train_images: int) -> tuple[float, float]:
    """(seconds, GFLOP/s): the epoch's matrix-product FLOPs at this machine's measured rate."""
    layers = [(784, 400), (400, 40), (20, 400), (400, 784)]  # the two 400x20 heads as one 400x40
    forward = sum(2 * BATCH * fan_in * fan_out for fan_in, fan_out in layers)
    first_input_gradient = 2 * BATCH * 784 * 400  # never computed: the images need no gradient
    flops_per_step = 3 * forward - first_input_gradient
    size = 2048
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    repeats = 10
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    rate = repeats * 2 * size**3 / (time.perf_counter() - started)
    steps = -(-train_images // BATCH)
    return steps * flops_per_step / rate, rate / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--epochs", type=int, default=4, help="per setup, the first one a warm-up")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    project = statistics.median(project_epochs(args.data_root, args.epochs, args.threads))
    print(f"(a) project, python train.py:      {project:.3f} s/epoch (validation and checkpoints included)")
    floor = median_after_warmup(floor_epochs(args.data_root, args.epochs))
    print(f"(b) floor, plain loop in memory:   {floor:.3f} s/epoch")
    naive = median_after_warmup(naive_epochs(args.data_root, args.epochs))
    print(f"(c) naive, ToTensor + DataLoader:  {naive:.3f} s/epoch")
    matmul, rate = matmul_seconds_per_epoch(55_000)
    print(f"matrix products alone:             {matmul:.3f} s/epoch at {rate:.0f} GFLOP/s")
    print(f"ratio_project_vs_floor={project / floor:.2f} ratio_naive_vs_project={naive / project:.2f} "
          f"ratio_project_vs_matmul={project / matmul:.2f}")


if __name__ == "__main__":
    main()
