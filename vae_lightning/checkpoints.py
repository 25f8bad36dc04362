"""Checkpoints that survive a kill at any moment, carry the random state, and resume exactly."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vae_lightning.errors import ConfigError

log = logging.getLogger(__name__)
TEMPORARY_SUFFIX = ".tmp"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file in its folder, flushes it to disk, then renames it.

    A rename within one folder is atomic, so `last.ckpt` is at every moment either the previous
    complete checkpoint or the new complete one, even under `kill -9` or a power cut.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")
        with open(temporary, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)


class RandomState(L.Callback):
    """Stores the state of every random generator in each checkpoint and restores it on resume.

    Lightning saves none of them, so without this a resumed run draws different latent noise from
    the run it replaces. The states are tensors and plain containers: `weights_only=True` loads them.
    """

    def state_dict(self) -> dict[str, Any]:
        numpy_state = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            "python": random.getstate(),
            "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        random.setstate(state_dict["python"])
        name, keys, *rest = state_dict["numpy"]
        np.random.set_state((name, keys.numpy(), *rest))


def loads(path: Path) -> str | None:
    """None when the checkpoint loads with `weights_only=True`; otherwise why it does not."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to load means: not this one
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return None


def checkpoint_to_resume(run_dir: Path) -> Path:
    """The newest checkpoint of the run that loads; warns about newer ones that do not.

    Raises ConfigError when there is none, so that `resume=true` never silently starts afresh.
    """
    folder = run_dir / "checkpoints"
    candidates = sorted(
        (path for path in folder.glob("*.ckpt") if not path.name.startswith(".")),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for path in candidates:
        problem = loads(path)
        if problem is None:
            return path
        log.warning("%s does not load (%s); trying an older checkpoint", path, problem)
    raise ConfigError(
        f"resume=true but {folder} holds no checkpoint that loads; point hydra.run.dir at the run to "
        f"resume, or start a new run without resume=true"
    )


def remove_partial_writes(run_dir: Path) -> None:
    """Delete temporary files a killed run left mid-write; they never held a complete checkpoint."""
    for path in (run_dir / "checkpoints").glob(f".*{TEMPORARY_SUFFIX}"):
        log.info("removing %s, a checkpoint write that was interrupted", path)
        path.unlink()
