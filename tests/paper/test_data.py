"""The MNIST data module reads IDX files with torchvision's parser and serves in-memory batches."""

import gzip
import hashlib
import math
import os
import re
import shutil
import struct
import tracemalloc
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torchvision import datasets
from torchvision.datasets import mnist as mnist_module
from torchvision.transforms.functional import to_tensor

from helpers import TEST_IMAGES, TRAIN_IMAGES, write_idx, write_mnist
from vae_lightning.paper.data import FashionMNISTDataModule, MNISTDataModule
from vae_lightning.errors import DataError


def make_datamodule(root: Path, **overrides) -> MNISTDataModule:
    arguments = {"root": str(root), "download": False, "batch_size": 32, "eval_batch_size": 50, "val_size": 64}
    datamodule = MNISTDataModule(**(arguments | overrides))
    datamodule.setup()
    return datamodule


def test_images_match_torchvision_to_tensor(mnist_root: Path) -> None:
    datamodule = make_datamodule(mnist_root, val_size=0)
    reference = datasets.MNIST(str(mnist_root), train=False)
    image, _ = reference[3]
    torch.testing.assert_close(datamodule.test_images[3], to_tensor(image).flatten())


def test_split_sizes_disjoint_and_fixed_by_split_seed(mnist_root: Path) -> None:
    first, again = make_datamodule(mnist_root), make_datamodule(mnist_root)
    other = make_datamodule(mnist_root, split_seed=1)
    assert len(first.train_images) == TRAIN_IMAGES - 64 and len(first.val_images) == 64
    assert len(first.test_images) == TEST_IMAGES
    # The batches the command-line check holds the trainer's limits against: 32 per train batch, 50 per eval batch.
    assert first.check_files() == {"train": math.ceil((TRAIN_IMAGES - 64) / 32), "val": 2,
                                   "test": math.ceil(TEST_IMAGES / 50)}
    torch.testing.assert_close(first.val_images, again.val_images)
    assert not torch.equal(first.val_images, other.val_images)
    train_rows = {tuple(row.tolist()) for row in first.train_images}
    assert not any(tuple(row.tolist()) in train_rows for row in first.val_images)


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_the_batches_checked_are_the_fewest_any_process_is_served(processes: int, mnist_root: Path) -> None:
    # 41 val images over 2 processes are shares of 21 and 20: 3 batches of 10 and 2. A limit that keeps
    # none of the 2 stops the second process's validation while the first waits for it.
    datamodule = make_datamodule(mnist_root, val_size=41, batch_size=24, eval_batch_size=10)
    checked = datamodule.check_files(processes)
    served = []
    for rank in range(processes):
        datamodule.trainer = SimpleNamespace(world_size=processes, global_rank=rank)
        served.append({"train": len(datamodule.train_dataloader()), "val": len(datamodule.val_dataloader()),
                       "test": len(datamodule.test_dataloader())})
    assert checked == {split: min(each[split] for each in served) for split in checked}


@pytest.mark.parametrize("val_size,processes,expected", [
    (1, 2, "data.val_size=1 leaves some of the 2 processes no val image: give data.val_size=0 (no validation) or "
           "at least 2"),
    (0, 65, f"holds {TEST_IMAGES} test images, fewer than the 65 processes that share them: train in at most "
            f"{TEST_IMAGES} (trainer.devices)"),
])
def test_a_split_too_small_to_give_each_process_an_image_is_refused(val_size: int, processes: int, expected: str,
                                                                    mnist_root: Path) -> None:
    # Lightning failed the process served no batch as fit started, with a traceback, after the run folder was made.
    with pytest.raises(DataError, match=re.escape(expected)):
        make_datamodule(mnist_root, val_size=val_size).check_files(processes)


def test_each_epoch_serves_every_training_image_once_in_a_new_order(mnist_root: Path) -> None:
    datamodule = make_datamodule(mnist_root)
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(0)
    epoch0 = torch.cat(list(loader))
    loader.sampler.set_epoch(1)
    epoch1 = torch.cat(list(loader))
    assert len(loader) == -(-(TRAIN_IMAGES - 64) // 32)
    by_row = lambda images: sorted(tuple(row.tolist()) for row in images)  # noqa: E731
    assert by_row(epoch0) == by_row(epoch1) == by_row(datamodule.train_images)
    assert not torch.equal(epoch0, epoch1)
    loader.sampler.set_epoch(0)
    torch.testing.assert_close(torch.cat(list(loader)), epoch0)


def test_test_labels_are_each_test_image_digit(mnist_root: Path) -> None:
    datamodule = make_datamodule(mnist_root)
    reference = datasets.MNIST(str(mnist_root), train=False)
    assert datamodule.test_labels.tolist() == [int(label) for _, label in reference]
    assert all(isinstance(batch, torch.Tensor) for batch in datamodule.test_dataloader())  # batches: images only


def test_eval_batches_are_the_images_in_order(mnist_root: Path) -> None:
    datamodule = make_datamodule(mnist_root)
    batches = list(datamodule.test_dataloader())
    assert [len(batch) for batch in batches] == [50, TEST_IMAGES - 50]
    torch.testing.assert_close(torch.cat(batches), datamodule.test_images)


def test_training_shards_are_disjoint_across_processes(mnist_root: Path) -> None:
    datamodule = make_datamodule(mnist_root)
    shards = []
    for rank in (0, 1):
        datamodule._world = lambda rank=rank: (2, rank)
        shards.append({tuple(row.tolist()) for row in torch.cat(list(datamodule.train_dataloader()))})
    assert not shards[0] & shards[1]
    assert len(shards[0] | shards[1]) == TRAIN_IMAGES - 64



@pytest.mark.parametrize("processes", [2, 3])
def test_processes_score_each_val_and_test_image_once(processes: int, mnist_root: Path) -> None:
    # DistributedSampler padded 64 test images to 66 over 3 processes: two were scored twice.
    datamodule = make_datamodule(mnist_root, val_size=56)
    for split in ("val", "test"):
        served = []
        for rank in range(processes):
            datamodule.trainer = SimpleNamespace(world_size=processes, global_rank=rank)
            served.append(torch.cat(list(getattr(datamodule, f"{split}_dataloader")())))
        by_row = lambda images: sorted(tuple(row.tolist()) for row in images)  # noqa: E731
        assert by_row(torch.cat(served)) == by_row(getattr(datamodule, f"{split}_images"))

def test_missing_files_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"not in {tmp_path / 'MNIST' / 'raw'}.*train-images-idx3-ubyte"):
        make_datamodule(tmp_path)


def test_failed_download_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) on loopback refuses at once: what an offline machine sees.
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    datamodule = MNISTDataModule(root=str(tmp_path), download=True)
    with pytest.raises(DataError, match="download failed.*put the four IDX files"):
        datamodule.prepare_data()


def test_a_read_only_data_root_to_download_into_is_named_with_the_fix(tmpfs) -> None:
    # The line named the download's temporary folder, and advised only "choose another path".
    read_only = tmpfs("read-only", read_only=True)
    datamodule = MNISTDataModule(root=str(read_only), download=True)
    with pytest.raises(DataError) as refused:
        datamodule.prepare_data()
    assert str(refused.value).startswith(
        f"MNIST is not in {read_only}/MNIST/raw (data.root cannot be written to download into: Read-only file "
        f"system): put the four IDX files")
    assert "point data.root at the folder that holds MNIST/raw" in str(refused.value)


def test_val_size_must_leave_training_images(mnist_root: Path) -> None:
    with pytest.raises(DataError, match=f"data.val_size={TRAIN_IMAGES}"):
        make_datamodule(mnist_root, val_size=TRAIN_IMAGES)


@pytest.mark.parametrize("train,test,named", [(10_000, 64, "train-images"), (256, 10_001, "t10k-images"),
                                              (256, 60_000, "t10k-images")])
def test_a_split_of_a_size_it_cannot_have_is_refused(tmp_path: Path, train: int, test: int, named: str) -> None:
    write_mnist(tmp_path, train=train, test=test)
    with pytest.raises(DataError, match=f"{named}-idx3-ubyte holds .* are the train-\\* and t10k-\\* files swapped"):
        make_datamodule(tmp_path)


def test_a_damaged_test_file_stops_the_run_before_it_trains(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    damage(tmp_path, "t10k-images-idx3-ubyte", "truncate")
    datamodule = MNISTDataModule(root=str(tmp_path), download=False, val_size=64)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte is truncated"):
        datamodule.setup("fit")


def test_data_root_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="data.root=.*file is a file: "
                                        "point data.root at the folder that holds MNIST/raw"):
        MNISTDataModule(root=str(tmp_path / "file"), download=False).check_files()


def test_fashion_mnist_reads_its_own_folder(tmp_path: Path) -> None:
    write_mnist(tmp_path, folder="FashionMNIST", train=80, test=20)
    datamodule = FashionMNISTDataModule(root=str(tmp_path), download=False, val_size=16)
    datamodule.setup()
    assert len(datamodule.train_images) == 64 and len(datamodule.test_images) == 20


def test_data_moves_to_the_training_device_once_and_batches_stay_there(mnist_root: Path) -> None:
    # The meta device stands in for a GPU: tensors there have shapes but no storage, so any
    # batch assembled on the host and copied over would show up as a CPU tensor.
    device = torch.device("meta")
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=device), world_size=1, global_rank=0)
    datamodule = MNISTDataModule(root=str(mnist_root), download=False, batch_size=32, val_size=64)
    datamodule.trainer = trainer
    datamodule.setup()
    assert {images.device for images in (datamodule.train_images, datamodule.val_images,
                                         datamodule.test_images)} == {device}
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(0)
    batches = list(loader) + list(datamodule.val_dataloader())
    assert batches and all(batch.device == device for batch in batches)


def damage(root: Path, name: str, how: str) -> Path:
    path = root / "MNIST" / "raw" / name
    content = path.read_bytes()
    if how == "truncate":
        path.write_bytes(content[: len(content) - 100])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "header":  # a copy cut short within the header: its sizes cannot be read
        path.write_bytes(content[:10])
    elif how == "magic":
        path.write_bytes(b"\x00\x00\x08\x01" + content[4:])
    elif how == "label":
        path.write_bytes(content[:-1] + bytes([12]))
    elif how == "directory":
        path.unlink()
        path.mkdir()
    elif how == "count":
        header = struct.pack(">BBBBI", 0, 0, 8, 1, TRAIN_IMAGES - 1)
        path.write_bytes(header + content[8:-1])
    return path


@pytest.mark.parametrize(
    "name,how,message",
    [
        ("train-images-idx3-ubyte", "truncate", "is truncated or damaged: its header promises"),
        ("train-images-idx3-ubyte", "empty", "is empty \\(0 bytes\\)"),
        ("t10k-images-idx3-ubyte", "header", "is truncated \\(10 bytes, shorter than its header\\)"),
        ("t10k-images-idx3-ubyte", "magic", "is not an IDX image file"),
        ("train-labels-idx1-ubyte", "label", "holds a label outside 0-9 \\(found 12\\)"),
        ("train-labels-idx1-ubyte", "count",
         f"holds {TRAIN_IMAGES} images but .* holds {TRAIN_IMAGES - 1} labels: .*; delete both and run again"),
        ("train-images-idx3-ubyte", "directory", "cannot be read \\(Is a directory\\)"),
    ],
)
def test_damaged_files_are_named_with_the_fix(tmp_path: Path, name: str, how: str, message: str) -> None:
    write_mnist(tmp_path)
    path = damage(tmp_path, name, how)
    with pytest.raises(DataError, match=message) as error:
        make_datamodule(tmp_path)
    assert str(path) in str(error.value) and "data.download=true" in str(error.value)


def test_an_interrupted_download_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(url: str, download_root: str, filename: str, md5: str) -> None:
        Path(download_root, filename.removesuffix(".gz")).write_bytes(b"")  # extraction began...
        raise KeyboardInterrupt  # ...and Ctrl-C came

    monkeypatch.setattr(mnist_module, "download_and_extract_archive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        MNISTDataModule(root=str(tmp_path), download=True).prepare_data()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_a_download_fills_only_the_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mnist(tmp_path)
    kept = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    source = write_mnist(tmp_path / "mirror")

    def from_mirror(url: str, download_root: str, filename: str, md5: str) -> None:
        name = filename.removesuffix(".gz")
        shutil.copy(source / "MNIST" / "raw" / name, Path(download_root, name))

    monkeypatch.setattr(mnist_module, "download_and_extract_archive", from_mirror)
    before = kept.stat().st_mtime_ns
    MNISTDataModule(root=str(tmp_path), download=True).prepare_data()
    assert (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists()
    assert kept.stat().st_mtime_ns == before
    assert not list(tmp_path.glob(".MNIST-download-*"))


def archives_by_hand(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MNIST's four .gz archives (of tiny IDX files, returned as root/source/MNIST/raw) put into
    root/data/MNIST/raw by hand, as on a machine without a network; torchvision is told their checksums
    (its own are of the real archives) and can reach no mirror."""
    source = write_mnist(root / "source") / "MNIST" / "raw"
    raw = root / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    resources = []
    for path in sorted(source.iterdir()):
        archive = raw / f"{path.name}.gz"
        archive.write_bytes(gzip.compress(path.read_bytes()))
        resources.append((archive.name, hashlib.md5(archive.read_bytes()).hexdigest()))

    def no_network(*args: object, **kwargs: object) -> None:
        raise URLError("no network in this test")

    monkeypatch.setattr(datasets.MNIST, "resources", resources)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return source


def test_archives_put_there_by_hand_are_extracted_without_a_network(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    source = archives_by_hand(tmp_path, monkeypatch)
    MNISTDataModule(root=str(tmp_path / "data"), download=True).prepare_data()
    raw = tmp_path / "data" / "MNIST" / "raw"
    for path in source.iterdir():
        assert (raw / path.name).read_bytes() == path.read_bytes()
        assert (raw / f"{path.name}.gz").is_file()  # the user's archives stay
    assert make_datamodule(tmp_path / "data").test_images.shape == (TEST_IMAGES, 28 * 28)
    assert not list((tmp_path / "data").glob(".MNIST-download-*"))


def test_a_damaged_archive_put_there_by_hand_is_a_failed_download_that_names_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archives_by_hand(tmp_path, monkeypatch)
    raw = tmp_path / "data" / "MNIST" / "raw"
    damaged = raw / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-10])  # cut short as a copy can be
    with pytest.raises(DataError, match=r"\(download failed: .*no network in this test.*\): put the four IDX files"):
        MNISTDataModule(root=str(tmp_path / "data"), download=True).prepare_data()
    assert sorted(path.name for path in raw.iterdir()) == sorted(name for name, _ in datasets.MNIST.resources)
    assert not list((tmp_path / "data").glob(".MNIST-download-*"))


def test_noise_is_added_to_training_inputs_only(mnist_root: Path) -> None:
    datamodule = make_datamodule(mnist_root, noise_std=0.5)
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(0)
    noisy, clean = next(iter(loader))
    assert noisy.shape == clean.shape and 0.45 < (noisy - clean).std().item() < 0.55
    assert any(torch.equal(clean[0], row) for row in datamodule.train_images)
    for batch in [*datamodule.val_dataloader(), *datamodule.test_dataloader()]:
        assert isinstance(batch, torch.Tensor)


@pytest.mark.parametrize("rows,columns", [(28, 56), (14, 14)])
def test_images_of_another_size_are_named_before_anything_runs(tmp_path: Path, rows: int, columns: int) -> None:
    write_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    write_idx(path, np.zeros((TRAIN_IMAGES, rows, columns), dtype=np.uint8))
    with pytest.raises(DataError, match=rf"holds images of {rows}x{columns} pixels; the model and the image grids "
                                        rf"take MNIST's 28x28"):
        make_datamodule(tmp_path)


def symbolic_loop(folder: Path) -> Path:
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    return folder / "a"


@pytest.mark.parametrize("download", [False, True])
def test_a_data_root_that_leads_nowhere_is_named(tmp_path: Path, download: bool) -> None:
    loop, dangling = symbolic_loop(tmp_path), tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    for root, problem in ((loop, "cannot be opened \\(Too many levels of symbolic links\\)"),
                          (dangling, f"is a symbolic link to {tmp_path / 'gone'}, which does not exist")):
        datamodule = MNISTDataModule(root=str(root), download=download)
        # prepare_data only downloads: with data.download=false it has nothing to do
        for check in (datamodule.check_files, datamodule.prepare_data) if download else (datamodule.check_files,):
            with pytest.raises(DataError, match=f"data.root={root} {problem}: "
                                                f"point data.root at the folder that holds"):
                check()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b", "dangling"]


PROMISED = 500_000_000  # images a header claims: 392 GB of pixels


@pytest.mark.parametrize("images_size", ["header only", "as promised"])
def test_a_header_promising_5e8_images_is_refused_before_any_payload_is_read(tmp_path: Path, images_size: str) -> None:
    write_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    images.write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, PROMISED, 28, 28))
    labels.write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, PROMISED))
    os.truncate(labels, 8 + PROMISED)  # sparse: 500 MB of zero labels, which take no disk
    if images_size == "as promised":
        os.truncate(images, 16 + PROMISED * 28 * 28)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as error:
            MNISTDataModule(root=str(tmp_path), download=False).check_files()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = (f"its header promises {16 + PROMISED * 28 * 28} bytes, it has 16" if images_size == "header only"
               else f"{images} holds {PROMISED} images, but the train split of MNIST has 60000")
    assert message in str(error.value) and str(images) in str(error.value)
    assert peak < 10_000_000  # no payload was read: 500 MB of labels would be a 500 MB bytes object


def test_val_batches_are_the_val_images_in_order(mnist_root: Path) -> None:
    # Evaluation reseeds its noise each epoch: served in the same order, each val image gets the same
    # draws every epoch, and the val losses of two epochs differ by the model alone.
    datamodule = make_datamodule(mnist_root)
    first, again = torch.cat(list(datamodule.val_dataloader())), torch.cat(list(datamodule.val_dataloader()))
    torch.testing.assert_close(first, datamodule.val_images, rtol=0, atol=0)
    torch.testing.assert_close(again, datamodule.val_images, rtol=0, atol=0)


def test_the_training_order_is_fixed_by_shuffle_seed(mnist_root: Path) -> None:
    def first_epoch(shuffle_seed: int) -> torch.Tensor:
        loader = make_datamodule(mnist_root, shuffle_seed=shuffle_seed).train_dataloader()
        loader.sampler.set_epoch(0)
        return torch.cat(list(loader))

    assert torch.equal(first_epoch(3), first_epoch(3))
    assert not torch.equal(first_epoch(0), first_epoch(3))  # data.shuffle_seed changes the order, not the split
