"""Checkpoints: atomic writes, random state that round-trips, and the choice of what to resume."""

import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_lightning.checkpoints import AtomicCheckpointIO, RandomState, checkpoint_to_resume, remove_partial_writes
from vae_lightning.errors import ConfigError


def test_a_write_killed_midway_leaves_the_previous_checkpoint_whole(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    real_save = torch.save

    def dies_halfway(obj, file) -> None:
        file.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # what a kill looks like from inside the write

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(path, weights_only=True)["step"] == 1
    partial = list(path.parent.glob(".last.ckpt.*.tmp"))
    assert len(partial) == 1
    remove_partial_writes(tmp_path)
    assert not list(path.parent.glob(".*.tmp"))


def test_random_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(3), random.seed(3), np.random.seed(3)
    torch.save(RandomState().state_dict(), tmp_path / "state.pt")
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(9), random.seed(9), np.random.seed(9)
    RandomState().load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]


def test_resume_takes_the_newest_checkpoint_that_loads(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"epoch": 1}, folder / "best.ckpt")
    (folder / "last.ckpt").write_bytes(b"truncated")
    now = time.time()
    os.utime(folder / "best.ckpt", (now - 10, now - 10))
    assert checkpoint_to_resume(tmp_path) == folder / "best.ckpt"
    assert "last.ckpt does not load" in caplog.text


def test_resume_without_a_checkpoint_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="resume=true but .* holds no checkpoint that loads"):
        checkpoint_to_resume(tmp_path)
