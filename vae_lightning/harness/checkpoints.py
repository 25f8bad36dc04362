"""Checkpoints that survive a kill at any moment, carry the random state, and resume exactly."""

from __future__ import annotations

import io
import logging
import os
import pickle
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vae_lightning.harness.definition import PROCESSES, changed_keys, with_defaults
from vae_lightning.harness.runs import RESULTS_FILE
from vae_lightning.files import atomic_file
from vae_lightning.errors import ConfigError
from vae_lightning.paper.module import process_seed

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint through `files.atomic_file`: `last.ckpt` is at every moment either the
    previous complete checkpoint or the new complete one, even under `kill -9` or a power cut."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as file:
            torch.save(checkpoint, file)


MID_EPOCH_CHECKPOINT = "vae_lightning.harness.checkpoints.MidEpochCheckpoint"
# `callbacks.checkpoint.every_n_train_steps=N`: how often, in training steps, last.ckpt is also written mid-epoch.
STEPS_KEY = "every_n_train_steps"


def with_mid_epoch_checkpoints(callbacks: dict[str, Any]) -> dict[str, Any]:
    """The callbacks config, with `checkpoint.every_n_train_steps` given to a ModelCheckpoint of its own.

    On the `checkpoint` callback itself, Lightning would stop saving at epoch ends and would pick
    best.ckpt mid-epoch by the last val loss logged, which belongs to weights trained on since: best
    is chosen at validation ends only, and a second ModelCheckpoint writes last.ckpt every N steps.
    """
    checkpoint = dict(callbacks.get("checkpoint") or {})
    steps = checkpoint.pop(STEPS_KEY, None)
    if not steps:
        return callbacks
    mid_epoch = {"_target_": MID_EPOCH_CHECKPOINT, "dirpath": checkpoint.get("dirpath"), "save_top_k": 0,
                 "save_last": True, STEPS_KEY: steps, "enable_version_counter": False}
    return {**callbacks, "checkpoint": checkpoint, "mid_epoch_checkpoint": mid_epoch}


class MidEpochCheckpoint(ModelCheckpoint):
    """The ModelCheckpoint of `every_n_train_steps`, which writes nothing on an epoch's last batch nor on
    one a validation follows (trainer.val_check_interval), and writes last.ckpt at the end of an epoch
    that ends without a validation (trainer.check_val_every_n_epoch).

    Lightning, resumed from a checkpoint of an epoch's last batch, skips what follows it: the epoch's
    validation (a run stopped in its last one completed scored on the epoch before's best), and the
    reset of its running means (the next epoch's train averages took in this epoch's batches too); of a
    batch a validation follows mid-epoch, that validation (its val loss and images were missing). A run
    stopped in a validation resumes from the checkpoint before it.
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        # Counted as Lightning counts them to validate: across epochs without check_val_every_n_epoch. Its fit
        # loop's count and val_check_batch are what its own validation check reads; no public property says either.
        counted = batch_idx if trainer.check_val_every_n_epoch else trainer.fit_loop.epoch_loop.total_batch_idx
        every = trainer.val_check_batch
        validated = isinstance(every, int) and (counted + 1) % every == 0
        if not trainer.is_last_batch and not validated:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        every = trainer.check_val_every_n_epoch or 1
        if trainer.enable_validation and (trainer.current_epoch + 1) % every == 0:
            super().on_train_epoch_end(trainer, pl_module)
            return
        # Without it, a run stopped in the next epoch would start over from the epoch's beginning.
        self.last_model_path = self.format_checkpoint_name({}, self.CHECKPOINT_NAME_LAST)
        trainer.save_checkpoint(self.last_model_path)

    @property
    def state_key(self) -> str:
        # A ModelCheckpoint's, which wrote the checkpoints of runs before this class: they resume with its state.
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)


class RandomState(L.Callback):
    """Seeds each further DDP process apart from the first (`process_seed`), stores every process's
    random generators in each checkpoint, and restores each process's own on resume.

    Lightning saves none of them, so without this a resumed run draws different latent noise from
    the run it replaces. The states are tensors and plain containers: `weights_only=True` loads them.
    """

    # The states of the processes after the first, in rank order, beside the first's own keys.
    FURTHER = "further_processes"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rank, self.processes = 0, 1

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.rank, self.processes = trainer.global_rank, trainer.world_size
        if stage == "fit" and self.rank > 0:
            # Seeded as the first, a further process would draw the same noise for its own images.
            L.seed_everything(process_seed(self.seed, self.rank), workers=True, verbose=False)

    def state_dict(self) -> dict[str, Any]:
        states = generator_states()
        if self.processes == 1:
            return states
        # Every process builds the checkpoint (Lightning's save_checkpoint), and the first writes it. Sent
        # as torch.save's bytes: all_gather_object cannot send the states' tensors over gloo.
        sent = io.BytesIO()
        torch.save(states, sent)
        gathered: list[Any] = [None] * self.processes
        torch.distributed.all_gather_object(gathered, sent.getvalue())
        further = [torch.load(io.BytesIO(received), weights_only=True) for received in gathered[1:]]
        return {**states, self.FURTHER: further}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # A checkpoint from before the processes were seeded apart holds the first's state alone.
        further = state_dict.get(self.FURTHER) or []
        set_generator_states(further[self.rank - 1] if 0 < self.rank <= len(further) else state_dict)

    @classmethod
    def check(cls, state_dict: dict[str, Any]) -> None:
        """Raise what `load_state_dict` would, on generators of its own: this process's are left as they are."""
        # Read as load_state_dict reads them: a value that is no list of states fails below.
        for state in [state_dict, *(state_dict.get(cls.FURTHER) or [])]:
            torch.Generator().set_state(state["torch"])
            if not isinstance(state["cuda"], list):
                raise TypeError(f"cuda: {type(state['cuda']).__name__}")
            random.Random().setstate(state["python"])
            name, keys, *rest = state["numpy"]
            np.random.RandomState().set_state((name, keys.numpy(), *rest))


def generator_states() -> dict[str, Any]:
    """This process's random generators: torch's (and CUDA's, once in use), Python's and numpy's."""
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "python": random.getstate(),
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]],
    }


def set_generator_states(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))


class RunDefinition(L.Callback):
    """Stores the run's definition (`harness.definition`), with the processes it trains in, in every
    checkpoint, for `resume=true` to compare with: a run continues only as the run it is."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = with_defaults(definition)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.definition = {**self.definition, PROCESSES: trainer.world_size}

    def state_dict(self) -> dict[str, Any]:
        return {"definition": self.definition}

    @classmethod
    def recorded(cls, checkpoint: Any) -> dict[str, Any] | None:
        """The definition a loaded checkpoint records; None in one of another project, an older or a malformed one."""
        states = checkpoint.get("callbacks") if isinstance(checkpoint, dict) else None
        state = states.get(cls.__qualname__) if isinstance(states, dict) else None
        definition = state.get("definition") if isinstance(state, dict) else None
        return definition if isinstance(definition, dict) else None


class RunFolder(L.Callback):
    """Stores the run's folder (the Trainer's `default_root_dir`) in every checkpoint. A run resumed in
    another folder (moved or copied since) has the checkpoints its ModelCheckpoint states name, which
    Lightning stores as absolute paths, named in the folder it now runs in: Lightning would otherwise
    forget the best val loss so far, and keep the next validation's checkpoint as the best however
    much worse, or score the old folder's best.ckpt."""

    folder: str | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"folder": self.folder}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Links resolved, as Lightning names its checkpoints' folders: a run resumed through a link is in place.
        self.folder = os.path.realpath(trainer.default_root_dir)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get("callbacks") or {}
        before = states.get(type(self).__qualname__, {}).get("folder")
        if before is None or before == self.folder:  # a checkpoint written before the folder was stored: as it was
            return
        for callback in trainer.checkpoint_callbacks:
            state = states.get(callback.state_key)
            # Only a state whose folder moved with the run's into the callback's own: one set elsewhere stays.
            if not isinstance(state, dict) or relocated(state.get("dirpath"), before, self.folder) != callback.dirpath:
                continue
            for key in ("dirpath", *CHECKPOINT_PATH_KEYS):
                if key in state:
                    state[key] = relocated(state[key], before, self.folder)
            if isinstance(state.get("best_k_models"), dict):
                state["best_k_models"] = {relocated(path, before, self.folder): score
                                          for path, score in state["best_k_models"].items()}


def relocated(path: Any, before: str, now: str) -> Any:
    """`path` at the same place under `now` when it lies under `before`; anything else as it is."""
    if not isinstance(path, str) or not path or not Path(path).is_relative_to(before):
        return path
    return str(Path(now) / Path(path).relative_to(before))


def reason_not_to_resume(path: Path, definition: dict[str, Any],
                         restores_random: bool = True) -> tuple[str | None, bool]:
    """(None, False) when the checkpoint loads with `weights_only=True` and is of the run `definition`
    defines; else why not, and whether the reason is a key of the run that differs (named with both its
    values), or a random state that nothing would restore (not `restores_random`), in a checkpoint that
    would otherwise do."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message advises weights_only=False, which would run its code
        return "torch.load(weights_only=True) refuses it: not a file of tensors and plain data", False
    except Exception as error:  # any failure to load means: not this one
        # torch's first line goes on into advice on how files get damaged: its first sentence says what failed.
        said = str(error).splitlines()[0].split(". ")[0] if str(error) else ""
        return f"{type(error).__name__}: {said}", False
    then = RunDefinition.recorded(saved)
    if then is None:
        return "it holds no run definition of this project", False
    try:
        changed = changed_keys(then, definition)
        leaving = paths_leaving_their_folder(saved["callbacks"])
    except (KeyError, TypeError, ValueError, AttributeError):  # any malformed content
        return "its callbacks' states are not as this project writes them", False
    if leaving:
        return (f"it names the checkpoint {leaving[0]!r}, which leaves its folder "
                f"(Lightning would delete or load it)", False)
    if changed:
        return changed[0], True
    if not restores_random and RandomState.__qualname__ in saved["callbacks"]:
        # Lightning only warns of a callback state nothing loads: the run went on, off the uninterrupted run's losses.
        return ("it holds the run's random generators, which only callbacks.random_state restores, and this command "
                "has none: the run would go on drawing other noise than it stopped with; keep callbacks.random_state"
                ), True
    return unrestorable(saved["callbacks"]), False


def unrestorable(callback_states: dict[str, Any]) -> str | None:
    """Why a callback's state would fail the run once it resumed (a traceback, the run marked failed), or None."""
    for name, state in callback_states.items():
        if name == RandomState.__qualname__:
            try:
                RandomState.check(state)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as error:
                return f"its random state cannot be restored ({type(error).__name__})"
        elif name == RunFolder.__qualname__ and not (isinstance(state, dict) and isinstance(state.get("folder"), str)):
            return "its run folder is not named by a path"
        elif isinstance(state, dict) and state.get("best_k_models") and not (
                isinstance(state["best_k_models"], dict)
                and state.get("kth_best_model_path") in state["best_k_models"]):
            return f"its {name} state does not hold its kth_best_model_path among its best_k_models, as Lightning does"
    return None


# The files a ModelCheckpoint's state names: on resume Lightning loads its best and deletes those it
# replaces when they lie under its folder, as the path reads (a `..` leads out of it).
CHECKPOINT_PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")


def paths_leaving_their_folder(callback_states: dict[str, Any]) -> list[Any]:
    """The files the states name that Lightning never writes there: a path with `..`, a URL, or no path at all."""
    paths = []
    for state in callback_states.values():
        if isinstance(state, dict):
            paths += [state.get(key) for key in CHECKPOINT_PATH_KEYS if state.get(key)]
            paths += list(state.get("best_k_models") or {})
    return [path for path in paths if not isinstance(path, str) or "://" in path or ".." in Path(path).parts]


def saved_step(path: Path) -> int:
    """The training step the checkpoint was saved at, -1 when it does not say: which of a run's checkpoints is
    the newest. Not the file's time alone: a copy that keeps none (cp -r, a download) dates each file by when
    it was copied, in any order, and an older best.ckpt would then be resumed from, its later epochs trained again."""
    try:
        step = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("global_step")
    except Exception:  # a checkpoint that does not load is passed over below, with its reason
        return -1
    return step if isinstance(step, int) else -1


def checkpoint_to_resume(run_dir: Path, definition: dict[str, Any], restores_random: bool = True,
                         sweep: bool = False) -> Path | None:
    """The newest checkpoint (by its training step) of the run that loads and is of the run `definition`
    defines, whose random state a callback restores where it holds one (`restores_random`); None when
    there is none at all (the run died before its first one, and starts again from its beginning).

    Raises ConfigError when there are checkpoints but none will do, or none of a run that wrote its
    results, so that `resume=true` never silently starts afresh over a run's work; for a job of a `sweep`,
    its advice is the sweep's command and folder.
    """
    own, fresh = ("the sweep's own command (its multirun.yaml)", "sweep in another folder (hydra.sweep.dir)") if sweep \
        else ("the run's own overrides (its .hydra/overrides.yaml)", "run in another folder (hydra.run.dir)")
    folder = run_dir / "checkpoints"
    candidates = sorted(
        (path for path in folder.glob("*.ckpt") if not path.name.startswith(".")),
        key=lambda path: (saved_step(path), path.stat().st_mtime),
        reverse=True,
    )
    problems, differs = [], False
    for path in candidates:
        problem, differs = reason_not_to_resume(path, definition, restores_random)
        if problem is None:
            return path
        log.info("not resuming from %s: %s", path, problem)
        problems.append((path.name, problem))
        if differs:
            # The newest checkpoint of the run is where it stands: an older one that matches this command
            # (the best of a run extended since) would train over the epochs past it.
            break
    if not candidates and (run_dir / RESULTS_FILE).exists():
        raise ConfigError(f"resume=true, but {folder} holds no checkpoint of the run that wrote "
                          f"{run_dir / RESULTS_FILE}, which starting afresh would overwrite (its checkpoints were "
                          f"deleted, or it kept none: trainer.enable_checkpointing=false): put them back, or start a "
                          f"new {fresh}")
    if not candidates:
        return None
    reasons = {problem for _, problem in problems}
    said = reasons.pop() if len(reasons) == 1 else "; ".join(f"{name}: {problem}" for name, problem in problems)
    # Other overrides resume a run of other keys; no override resumes from files that are damaged or foreign.
    remedy = (f"resume with {own}" if differs else
              "put back whole copies of its checkpoints (a copy cut short, a disk that filled)")
    raise ConfigError(f"resume=true, but no checkpoint in {folder} will do ({said}): {remedy}, or start a new {fresh} "
                      f"without resume=true")
