"""MNIST (and Fashion-MNIST) as a LightningDataModule that decodes once and serves batches from memory."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

import lightning as L
import torch
from torch.utils.data import DistributedSampler
from torchvision import datasets

from vae_lightning.errors import DataError
from vae_lightning.paper.idx import check_pair

# Images in each split of MNIST and of Fashion-MNIST: 60,000 train (train-*), 10,000 test (t10k-*).
OFFICIAL_SIZES = {"train": 60_000, "test": 10_000}


class TensorBatches:
    """Mini-batches of one in-memory tensor, taken by slicing, never assembled item by item.

    Shuffling and sharding across processes come from a `DistributedSampler`, which Lightning
    calls `set_epoch` on (through the `sampler` attribute), so each epoch's order is a function of
    the seed and the epoch number alone. `state_dict` records how far into its epoch the loader
    is; Lightning stores it in checkpoints, and a run resumed mid-epoch skips what it had served,
    so each image of that epoch is still seen exactly once.
    """

    # Part of the loader protocol Lightning relies on: wherever a loader has a `sampler`, Lightning
    # reads `batch_sampler` too (and fails without it); None says batches are not drawn from one.
    batch_sampler = None

    def __init__(
        self, images: torch.Tensor, batch_size: int, sampler: DistributedSampler | None = None, noise_std: float = 0.0
    ) -> None:
        self.images = images
        self.batch_size = batch_size
        self.sampler = sampler
        self.noise_std = noise_std
        self.served = 0
        self._resume_at: dict[str, int] | None = None

    def __len__(self) -> int:
        count = len(self.sampler) if self.sampler is not None else len(self.images)
        return math.ceil(count / self.batch_size)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch if self.sampler is not None else 0, "served": self.served}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resume_at = state_dict

    def _batches_to_skip(self) -> int:
        resume_at, self._resume_at = self._resume_at, None
        if resume_at is None or self.sampler is None or resume_at["epoch"] != self.sampler.epoch:
            return 0
        return resume_at["served"]

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        if self.sampler is None:
            # Contiguous slices are views: no copy at all.
            for start in range(0, len(self.images), self.batch_size):
                yield self.images[start : start + self.batch_size]
            return
        # One index copy per epoch, so on a GPU no step copies anything from the host.
        order = torch.tensor(list(self.sampler), device=self.images.device)
        self.served = self._batches_to_skip()
        for start in range(self.served * self.batch_size, len(order), self.batch_size):
            self.served += 1
            batch = torch.index_select(self.images, 0, order[start : start + self.batch_size])
            # A denoising run trains on (noisy input, clean target) pairs.
            yield (batch + self.noise_std * torch.randn_like(batch), batch) if self.noise_std else batch


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
    """The 60,000 training images split into train/val by `split_seed`; the official 10,000 for test.

    With `noise_std` > 0, training batches are (image + N(0, noise_std^2) noise, clean image) pairs,
    which makes any of the models a denoising autoencoder; validation and test stay clean.
    """

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
        noise_std: float = 0.0,
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
        self.noise_std = noise_std
        self.train_images: torch.Tensor | None = None
        self.val_images: torch.Tensor | None = None
        self.test_images: torch.Tensor | None = None
        self.test_labels: torch.Tensor | None = None  # digit of each test image, on the CPU

    @property
    def raw_folder(self) -> Path:
        return self.root / self.dataset_class.__name__ / "raw"

    def _file(self, train: bool, kind: str) -> Path:
        return self.raw_folder / f"{'train' if train else 't10k'}-{kind}"

    def _missing_files_error(self, reason: str) -> DataError:
        names = ", ".join(Path(url).stem for url, _ in self.dataset_class.resources)
        return DataError(
            f"{self.dataset_class.__name__} is not in {self.raw_folder} ({reason}): put the four IDX files "
            f"({names}; or their .gz archives, with data.download=true) there, or point data.root at "
            f"the folder that holds {self.dataset_class.__name__}/raw"
        )

    def _all_files_present(self) -> bool:
        return all((self.raw_folder / Path(url).stem).exists() for url, _ in self.dataset_class.resources)

    def prepare_data(self) -> None:
        """Download what is missing into a staging folder, then move each file into place.

        torchvision extracts straight into the raw folder; interrupted, that leaves a partial or
        empty file which it would later take for the real one. Staging keeps the raw folder complete.
        """
        if not self.download or self._all_files_present():
            return
        self._check_root()
        made = [folder for folder in (self.root, *self.root.parents) if not folder.exists()]
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{self.dataset_class.__name__}-download-", dir=self.root))
        except OSError as error:  # a read-only mount, a shared folder of another user's: named was a temporary folder
            raise self._missing_files_error(f"data.root cannot be written to download into: "
                                            f"{error.strerror or type(error).__name__}") from None
        try:
            staged_raw = staging / self.dataset_class.__name__ / "raw"
            staged_raw.mkdir(parents=True)
            for archive in self.raw_folder.glob("*.gz"):  # archives put there by hand need no network
                shutil.copy2(archive, staged_raw / archive.name)
            for train in (True, False):
                self.dataset_class(str(staging), train=train, download=True)
            self.raw_folder.mkdir(parents=True, exist_ok=True)
            for path in staged_raw.iterdir():
                if not (self.raw_folder / path.name).exists():
                    os.replace(path, self.raw_folder / path.name)
        except (RuntimeError, URLError, OSError) as error:
            raise self._missing_files_error(f"download failed: {download_failure(error)}") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if not self._all_files_present():  # failed: it leaves no folder behind that it made (data/)
                for folder in made:
                    with contextlib.suppress(OSError):
                        folder.rmdir()

    def _check_split(self, train: bool) -> int:
        """The split's image count, once its two files are there, readable, consistent and of a size
        the split can have: a subset, but never more than its official count nor exactly the other
        split's (train-* and t10k-* swapped)."""
        images, labels = self._file(train, "images-idx3-ubyte"), self._file(train, "labels-idx1-ubyte")
        if not (images.exists() and labels.exists()):
            raise self._missing_files_error("files missing" + ("" if self.download else ", download off"))
        split, other = ("train", "test") if train else ("test", "train")

        def check_count(count: int) -> None:
            if count > OFFICIAL_SIZES[split] or count == OFFICIAL_SIZES[other]:
                raise DataError(
                    f"{images} holds {count} images, but the {split} split of {self.dataset_class.__name__} has "
                    f"{OFFICIAL_SIZES[split]} (and its {other} split {OFFICIAL_SIZES[other]}): are the train-* and "
                    f"t10k-* files swapped? Put each split's files under its own name"
                )

        return check_pair(images, labels, check_count)

    def check_files(self, processes: int = 1) -> dict[str, int] | None:
        """The batches of each split (train, val, test) in an epoch of each of `processes` (DDP's, which
        share each split's images; of val and test, the smallest share's); DataError, naming the file or
        key and the fix, unless both splits can be read, data.val_size leaves training images, and each
        process gets some of every split that has images. None for files still to be downloaded, which
        are checked once they are."""
        self._check_root()
        if self.download and not self._all_files_present():
            return None
        train_count = self._check_split(train=True)
        test_count = self._check_split(train=False)
        if not 0 <= self.val_size < train_count:
            raise DataError(
                f"data.val_size={self.val_size} must be in [0, {train_count}): "
                f"{self.raw_folder} holds {train_count} training images"
            )
        if 0 < self.val_size < processes:  # Lightning fails a process served no batch, as fit starts
            raise DataError(f"data.val_size={self.val_size} leaves some of the {processes} processes no val image: "
                            f"give data.val_size=0 (no validation) or at least {processes}")
        if test_count < processes:
            raise DataError(f"{self.raw_folder} holds {test_count} test images, fewer than the {processes} processes "
                            f"that share them: train in at most {test_count} (trainer.devices)")
        # Each process gets ceil(images / processes) training images (DistributedSampler pads the shares),
        # and at least floor(images / processes) val and test images (`_evaluation_share`).
        return {"train": math.ceil(math.ceil((train_count - self.val_size) / processes) / self.batch_size),
                "val": math.ceil(self.val_size // processes / self.eval_batch_size),
                "test": math.ceil(test_count // processes / self.eval_batch_size)}

    def _check_root(self) -> None:
        """DataError unless data.root is a folder, or nothing yet (the download makes it)."""
        try:
            self.root.stat()
        except FileNotFoundError:
            if not self.root.is_symlink():
                return
            problem = f"is a symbolic link to {os.readlink(self.root)}, which does not exist"
        except OSError as error:
            if error.errno != errno.ELOOP:  # a name too long, say: the command line names the path
                raise
            problem = f"cannot be opened ({error.strerror})"
        else:
            if self.root.is_dir():
                return
            problem = "is a file"
        raise DataError(f"data.root={self.root} {problem}: point data.root at the folder that holds "
                        f"{self.dataset_class.__name__}/raw")

    def _load(self, train: bool) -> datasets.MNIST:
        self._check_split(train)
        return self.dataset_class(str(self.root), train=train, download=False)

    def _device(self) -> torch.device:
        trainer = self.trainer
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def setup(self, stage: str | None = None) -> None:
        device = self._device()
        if stage in ("fit", "validate", None) and self.train_images is None:
            self.check_files()  # the test files too: a damaged one must stop the run before it trains
            images = self._load(train=True).data
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.split_seed))
            self.val_images = to_device_pixels(images[order[: self.val_size]], device)
            self.train_images = to_device_pixels(images[order[self.val_size :]], device)
        if stage in ("test", None) and self.test_images is None:
            test = self._load(train=False)
            self.test_images = to_device_pixels(test.data, device)
            self.test_labels = test.targets  # for evaluation's pictures; batches stay images only

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Batches are slices of tensors that already live on the device: skip Lightning's traversal.
        if isinstance(batch, torch.Tensor) and batch.device == device:
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def train_dataloader(self) -> TensorBatches:
        world_size, rank = self._world()
        sampler = DistributedSampler(self.train_images, num_replicas=world_size, rank=rank, seed=self.shuffle_seed)
        return TensorBatches(self.train_images, self.batch_size, sampler, noise_std=self.noise_std)

    def _evaluation_share(self, images: torch.Tensor) -> torch.Tensor:
        """This process's images of a split scored whole: every `world`-th, as DistributedSampler deals
        them, but never padded to equal shares, where it would score some images twice (the module
        weighs each process's mean by its images)."""
        world_size, rank = self._world()
        return images if world_size == 1 else images[rank::world_size].contiguous()

    def val_dataloader(self) -> TensorBatches:
        return TensorBatches(self._evaluation_share(self.val_images), self.eval_batch_size)

    def test_dataloader(self) -> TensorBatches:
        return TensorBatches(self._evaluation_share(self.test_images), self.eval_batch_size)


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: same format, same sizes, same split, different images."""

    dataset_class = datasets.FashionMNIST
