"""MNIST (and Fashion-MNIST) as a LightningDataModule that decodes once and serves batches from memory."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import lightning as L
import torch
from torch.utils.data import DistributedSampler
from torchvision import datasets

from vae_lightning.errors import DataError

class TensorBatches:
    """Mini-batches of one in-memory tensor, taken by slicing, never assembled item by item.

    Shuffling and sharding across processes come from a `DistributedSampler`, which Lightning
    calls `set_epoch` on (through the `sampler` attribute), so each epoch's order is a function of
    the seed and the epoch number alone: runs resumed at an epoch boundary see the same batches.
    """

    # Lightning inspects `batch_sampler` wherever a loader has a `sampler`.
    batch_sampler = None

    def __init__(self, images: torch.Tensor, batch_size: int, sampler: DistributedSampler | None = None):
        self.images = images
        self.batch_size = batch_size
        self.sampler = sampler

    def __len__(self) -> int:
        count = len(self.sampler) if self.sampler is not None else len(self.images)
        return math.ceil(count / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.sampler is None:
            # Contiguous slices are views: no copy at all.
            for start in range(0, len(self.images), self.batch_size):
                yield self.images[start : start + self.batch_size]
            return
        # One index copy per epoch, so on a GPU no step copies anything from the host.
        order = torch.tensor(list(self.sampler), device=self.images.device)
        for start in range(0, len(order), self.batch_size):
            yield torch.index_select(self.images, 0, order[start : start + self.batch_size])


def download_failure(error: Exception) -> str:
    """The cause in torchvision's multi-line download error ("Tried <mirror>, got:\n<cause>")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line, following in zip(lines, lines[1:]):
        if line.endswith("got:"):
            return following
    return lines[-1] if lines else type(error).__name__


def as_flat_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, H, W) -> float32 rows (N, H*W) in [0, 1], what `ToTensor` + flatten gives."""
    return images.flatten(1).float().div_(255)


def to_device_pixels(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move uint8 images first (4x fewer bytes to copy), then convert them where they will be used."""
    return as_flat_pixels(images.to(device))


class MNISTDataModule(L.LightningDataModule):
    """The 60,000 training images split into train/val by `split_seed`; the official 10,000 for test."""

    dataset_class: type[datasets.MNIST] = datasets.MNIST

    def __init__(
        self,
        root: str = "data",
        download: bool = True,
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        val_size: int = 5000,
        split_seed: int = 0,
        shuffle_seed: int = 0,
    ) -> None:
        super().__init__()
        # Stored (not logged: train.py logs the whole config) so a checkpoint can rebuild the data.
        self.save_hyperparameters(logger=False)
        self.root = Path(root)
        self.download = download
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.val_size = val_size
        self.split_seed = split_seed
        self.shuffle_seed = shuffle_seed
        self.train_images: torch.Tensor | None = None
        self.val_images: torch.Tensor | None = None
        self.test_images: torch.Tensor | None = None

    @property
    def raw_folder(self) -> Path:
        return self.root / self.dataset_class.__name__ / "raw"

    def _missing_files_error(self, reason: str) -> DataError:
        names = ", ".join(Path(url).stem for url, _ in self.dataset_class.resources)
        return DataError(
            f"{self.dataset_class.__name__} is not in {self.raw_folder} ({reason}): put the four IDX files "
            f"({names}, optionally .gz) there, or point data.root at the folder that holds "
            f"{self.dataset_class.__name__}/raw"
        )

    def prepare_data(self) -> None:
        if not self.download:
            return
        try:
            for train in (True, False):
                self.dataset_class(str(self.root), train=train, download=True)
        except (RuntimeError, URLError, OSError) as error:
            raise self._missing_files_error(f"download failed: {download_failure(error)}") from error

    def _load(self, train: bool) -> torch.Tensor:
        try:
            dataset = self.dataset_class(str(self.root), train=train, download=False)
        except RuntimeError as error:
            raise self._missing_files_error("files missing, download off") from error
        return dataset.data

    def _device(self) -> torch.device:
        trainer = self.trainer
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def setup(self, stage: str | None = None) -> None:
        device = self._device()
        if stage in ("fit", "validate", None) and self.train_images is None:
            images = self._load(train=True)
            if not 0 <= self.val_size < len(images):
                raise DataError(
                    f"data.val_size={self.val_size} must be in [0, {len(images)}): "
                    f"{self.raw_folder} holds {len(images)} training images"
                )
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.split_seed))
            self.val_images = to_device_pixels(images[order[: self.val_size]], device)
            self.train_images = to_device_pixels(images[order[self.val_size :]], device)
        if stage in ("test", None) and self.test_images is None:
            self.test_images = to_device_pixels(self._load(train=False), device)

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _sampler(self, images: torch.Tensor, shuffle: bool) -> DistributedSampler | None:
        world_size, rank = self._world()
        if not shuffle and world_size == 1:
            return None
        return DistributedSampler(
            images, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=self.shuffle_seed
        )

    def train_dataloader(self) -> TensorBatches:
        return TensorBatches(self.train_images, self.batch_size, self._sampler(self.train_images, shuffle=True))

    def val_dataloader(self) -> TensorBatches:
        return TensorBatches(self.val_images, self.eval_batch_size, self._sampler(self.val_images, shuffle=False))

    def test_dataloader(self) -> TensorBatches:
        return TensorBatches(self.test_images, self.eval_batch_size, self._sampler(self.test_images, shuffle=False))


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: same format, same sizes, same split, different images."""

    dataset_class = datasets.FashionMNIST
