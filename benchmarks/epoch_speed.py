"""Seconds per epoch of the project against a plain PyTorch loop and a typical Lightning setup.

    python benchmarks/epoch_speed.py --data-root ../shared/data

The 784-400-20 VAE at batch 128, SGD with momentum 0.9, clipping by value at 1.0, 2 torch threads:
  (a) project: `python train.py` as is (progress bar, TensorBoard + CSV logging, checkpoints,
      validation every epoch); an epoch is timed whole, validation and checkpointing included;
  (b) floor: the plain loop of benchmarks/plain_loop.py over an in-memory tensor, training only;
  (c) naive: the project's LightningModule fed by torchvision's MNIST + ToTensor + DataLoader,
      Lightning's defaults otherwise; the training time of each epoch;
  (d) Lightning's leanest loop: the project's module, data and optimizer under
      `Trainer(barebones=True)` (no logging, progress bar, checkpoints or validation), clipping
      through the Trainer as in (a): what Lightning's training loop costs before any feature.
(a) and (b) run interleaved in one process, a floor step before each project step
(benchmarks/paired_floor.py), and so do (d) and (b), because this machine's speed drifts by tens
of percent within a minute; the project/floor ratio is the median of the per-epoch ratios. Every figure drops the
first epoch (warm-up) and takes the median of the rest. The last line gives the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from arguments import at_least
from paired_floor import epochs_after_warmup

BATCH = 128
LR = 0.01


def paired_epochs(data_root: str, epochs: int, threads: int, overrides: list[str]) -> tuple[list[float], list[float]]:
    """(project, floor) seconds of each epoch after the first, from one `python train.py` run."""
    from paired_floor import run_train_with

    seconds = run_train_with("paired_floor.PairedFloor", data_root, epochs, threads, overrides)
    return seconds["project"][1:], seconds["floor"][1:]


def barebones_epochs(data_root: str, epochs: int) -> tuple[list[float], list[float]]:
    """(Lightning, floor) seconds of each epoch after the first, `Trainer(barebones=True)` paired with the floor."""
    import lightning as L
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from paired_floor import PairedFloor
    from vae_lightning.harness.runs import register_resolvers
    from vae_lightning.harness.run import build_module
    from vae_lightning.configs import CONFIG_DIR
    from vae_lightning.harness.schema import register_schemas

    register_resolvers()
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"data.root={data_root}"])
    L.seed_everything(cfg.seed, verbose=False)
    warnings.filterwarnings("ignore", message="You defined a `validation_step` but have no `val_dataloader`")
    with tempfile.TemporaryDirectory() as root:
        floor = PairedFloor(data_root, str(Path(root) / "paired.json"))
        trainer = L.Trainer(barebones=True, max_epochs=epochs, accelerator="cpu", devices=1, callbacks=[floor],
                            limit_val_batches=0, gradient_clip_val=cfg.clip.value,
                            gradient_clip_algorithm=cfg.clip.algorithm, default_root_dir=root)
        trainer.fit(build_module(cfg), datamodule=instantiate(cfg.data))
    return floor.project_seconds[1:], floor.floor_seconds[1:]


def naive_epochs(data_root: str, epochs: int) -> list[float]:
    """Training seconds of each epoch after the first, of a typical ToTensor + DataLoader setup."""
    import lightning as L
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from vae_lightning.paper.module import VAEModule

    class ImageLabelVAE(VAEModule):
        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            images, _ = batch
            return super().training_step(images.flatten(1), batch_idx)

    class EpochTimer(L.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            self.started = time.perf_counter()

        def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            self.seconds.append(time.perf_counter() - self.started)

    dataset = datasets.MNIST(data_root, train=True, transform=transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
    module = ImageLabelVAE(
        model={"_target_": "vae_lightning.paper.model.VAE"},
        loss={"_target_": "vae_lightning.paper.loss.VAELoss"},
        optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": LR, "momentum": 0.9},
    )
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, default_root_dir=root,
                            gradient_clip_val=1.0, gradient_clip_algorithm="value", callbacks=[timer],
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(module, train_dataloaders=loader)
    return timer.seconds[1:]


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
    parser.add_argument("--epochs", type=epochs_after_warmup, default=8,
                        help="epochs of (a) and (b) together; the first is a warm-up")
    parser.add_argument("--naive-epochs", type=epochs_after_warmup, default=4,
                        help="epochs of (c); the first is a warm-up")
    parser.add_argument("--threads", type=at_least(1), default=2)
    parser.add_argument("--skip-naive", action="store_true", help="measure (a) and (b) only")
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides for (a), to measure a variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data_root = str(Path(args.data_root).resolve())

    project_seconds, floor_seconds = paired_epochs(data_root, args.epochs, args.threads, args.overrides)
    project, floor = statistics.median(project_seconds), statistics.median(floor_seconds)
    paired_ratio = statistics.median(p / f for p, f in zip(project_seconds, floor_seconds))
    print(f"(a) project, python train.py:      {project:.3f} s/epoch (validation and checkpoints included)")
    print(f"(b) floor, plain loop in memory:   {floor:.3f} s/epoch")
    if args.skip_naive:
        print(f"ratio_project_vs_floor={paired_ratio:.2f}")
        return
    lightning_seconds, lightning_floor_seconds = barebones_epochs(data_root, args.epochs)
    lightning_ratio = statistics.median(p / f for p, f in zip(lightning_seconds, lightning_floor_seconds))
    print(f"(d) Lightning, barebones=True:     {statistics.median(lightning_seconds):.3f} s/epoch "
          f"(its floor {statistics.median(lightning_floor_seconds):.3f}; training only)")
    print(f"ratio_barebones_vs_floor={lightning_ratio:.2f}")
    naive = statistics.median(naive_epochs(data_root, args.naive_epochs))
    print(f"(c) naive, ToTensor + DataLoader:  {naive:.3f} s/epoch")
    matmul, rate = matmul_seconds_per_epoch(55_000)
    print(f"matrix products alone:             {matmul:.3f} s/epoch at {rate:.0f} GFLOP/s")
    print("per-epoch project/floor ratios:     "
          f"{' '.join(f'{p / f:.2f}' for p, f in zip(project_seconds, floor_seconds))}")
    print(f"ratio_project_vs_floor={paired_ratio:.2f} ratio_naive_vs_project={naive / project:.2f} "
          f"ratio_project_vs_matmul={project / matmul:.2f}")


if __name__ == "__main__":
    main()
