"""Checkpoints: atomic writes, random state that round-trips, and the choice of what to resume."""

import os
import random
import shutil
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel
from omegaconf import OmegaConf

import own_classes
from vae_lightning.harness.checkpoints import (AtomicCheckpointIO, MidEpochCheckpoint, RandomState, RunDefinition,
                                              RunFolder, checkpoint_to_resume, reason_not_to_resume)
from vae_lightning.paper.module import process_seed
from vae_lightning.configs import CONFIG_DIR
from vae_lightning.errors import ConfigError


def test_a_write_that_fails_midway_leaves_the_previous_checkpoint_whole(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)

    def dies_halfway(obj, file) -> None:
        file.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1
    assert not list(path.parent.glob(".*.tmp"))  # the failed write took its temporary file away


def test_random_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(3), random.seed(3), np.random.seed(3)
    torch.save(RandomState(seed=0).state_dict(), tmp_path / "state.pt")
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(9), random.seed(9), np.random.seed(9)
    RandomState(seed=0).load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]


def run_config(latent_dim: int = 2, **more: object) -> dict:
    """A run's definition (harness.definition), as checkpoints store it."""
    return {"model._target_": "vae_lightning.paper.model.VAE", "model.latent_dim": latent_dim, "optim.lr": 0.1,
            "data.batch_size": 8, "clip.value": 1.0, "seed": 0, "trainer.max_epochs": 2, **more}


def save_checkpoint_of(definition: dict, path: Path) -> None:
    torch.save({"callbacks": {"RunDefinition": {"definition": definition}}}, path)


def test_resume_takes_the_newest_checkpoint_that_loads(tmp_path: Path, caplog) -> None:
    caplog.set_level("INFO")
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint_of(run_config(), folder / "best.ckpt")
    (folder / "last.ckpt").write_bytes(b"truncated")
    now = time.time()
    os.utime(folder / "best.ckpt", (now - 10, now - 10))
    assert checkpoint_to_resume(tmp_path, run_config()) == folder / "best.ckpt"
    assert "not resuming from" in caplog.text and "last.ckpt" in caplog.text


def test_resume_never_falls_back_past_the_newest_checkpoint_of_the_run_to_an_older_that_matches(tmp_path: Path) -> None:
    # A run of 2 epochs extended to 5 and interrupted: its best checkpoint may still be of the 2-epoch run. Resumed
    # with the old trainer.max_epochs=2, it went back to that best, "completed" at epoch 2, and wrote over the
    # last checkpoint, losing the epochs trained past it.
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint_of(run_config(), folder / "best.ckpt")
    save_checkpoint_of(run_config(**{"trainer.max_epochs": 5}), folder / "last.ckpt")
    now = time.time()
    os.utime(folder / "best.ckpt", (now - 10, now - 10))
    with pytest.raises(ConfigError, match=r"trainer.max_epochs=2, but the run was trained with 5"):
        checkpoint_to_resume(tmp_path, run_config())
    assert checkpoint_to_resume(tmp_path, run_config(**{"trainer.max_epochs": 5})) == folder / "last.ckpt"


def test_resume_takes_the_checkpoint_of_the_latest_step_whatever_times_a_copy_gave_the_files(tmp_path: Path) -> None:
    # A copy that keeps no modification times (cp -r, rsync -r, a download) dates each file by when it was
    # copied: best.ckpt of the first epoch, copied after last.ckpt, was resumed from, and the epochs past it
    # trained again.
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name, step in (("last.ckpt", 6), ("best.ckpt", 2)):
        torch.save({"global_step": step, "callbacks": {"RunDefinition": {"definition": run_config()}}}, folder / name)
    now = time.time()
    os.utime(folder / "last.ckpt", (now - 10, now - 10))
    assert checkpoint_to_resume(tmp_path, run_config()) == folder / "last.ckpt"


def test_resume_without_any_checkpoint_starts_from_the_beginning(tmp_path: Path) -> None:
    assert checkpoint_to_resume(tmp_path, run_config()) is None


def test_resume_with_another_clip_is_refused_and_with_more_epochs_continues(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint_of(run_config(), folder / "last.ckpt")
    with pytest.raises(ConfigError, match=r"clip.value=0.01, but the run was trained with 1.0"):
        checkpoint_to_resume(tmp_path, run_config(**{"clip.value": 0.01}))
    assert checkpoint_to_resume(tmp_path, run_config(**{"trainer.max_epochs": 5})) == folder / "last.ckpt"
    with pytest.raises(ConfigError, match=r"trainer.max_epochs=1, but the run was trained with 2"):
        checkpoint_to_resume(tmp_path, run_config(**{"trainer.max_epochs": 1}))


def test_resume_in_another_number_of_processes_is_refused_and_an_older_checkpoint_still_resumes(tmp_path: Path) -> None:
    # Each process trains on batches of its own: on two, each step averages two batches' gradients.
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint_of(run_config(processes=1), folder / "last.ckpt")
    with pytest.raises(ConfigError, match=r"trainer.devices x trainer.num_nodes gives 2 training process\(es\), but "
                                          r"the run was trained in 1"):
        checkpoint_to_resume(tmp_path, run_config(processes=2))
    assert checkpoint_to_resume(tmp_path, run_config(processes=1)) == folder / "last.ckpt"
    save_checkpoint_of(run_config(), folder / "last.ckpt")  # written before checkpoints held the count
    assert checkpoint_to_resume(tmp_path, run_config(processes=2)) == folder / "last.ckpt"


def test_a_key_set_to_its_class_default_is_the_same_run_and_another_value_names_the_default(tmp_path: Path) -> None:
    # Trained from a model file without mc_samples (VAE's default: 1); resumed with +model.mc_samples=1, it was
    # refused as "model.mc_samples=1, but the run was trained with None".
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint_of(run_config(), folder / "last.ckpt")
    assert checkpoint_to_resume(tmp_path, run_config(**{"model.mc_samples": 1, "model.hidden_dims": [400]})) == \
        folder / "last.ckpt"
    with pytest.raises(ConfigError, match=r"model.mc_samples=2, but the run was trained with 1\)"):
        checkpoint_to_resume(tmp_path, run_config(**{"model.mc_samples": 2}))
    save_checkpoint_of(run_config(**{"model.mc_samples": 1}), folder / "last.ckpt")  # and the other way round
    assert checkpoint_to_resume(tmp_path, run_config()) == folder / "last.ckpt"


def test_a_changed_seed_is_named_as_itself_not_as_the_keys_it_sets(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint_of(run_config(**{"data.shuffle_seed": 0}), folder / "last.ckpt")
    with pytest.raises(ConfigError, match=r"will do \(seed=1, but the run was trained with 0\)"):
        checkpoint_to_resume(tmp_path, run_config(seed=1, **{"data.shuffle_seed": 1}))


def test_a_checkpoint_that_stored_how_its_nodes_are_built_still_resumes(tmp_path: Path) -> None:
    # Checkpoints written before `_partial_` stopped counting as part of a run hold `data._partial_`.
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint_of(run_config(**{"data._partial_": False, "optim._partial_": True}), folder / "last.ckpt")
    assert checkpoint_to_resume(tmp_path, run_config(**{"optim._partial_": True})) == folder / "last.ckpt"
    assert checkpoint_to_resume(tmp_path, run_config()) == folder / "last.ckpt"


@pytest.mark.parametrize("state", [
    {"best_model_path": "{folder}/../../victim"},  # Lightning deleted it once a new best was saved (an audit's)
    {"last_model_path": "{folder}/../victim.ckpt"},
    {"best_k_models": {"{folder}/../../victim": 1.0}},
    {"best_model_path": "s3://bucket/victim.ckpt"},
    # The one Lightning deletes when a better checkpoint replaces it.
    {"kth_best_model_path": "{folder}/../victim.ckpt"},
])
def test_a_checkpoint_naming_files_out_of_its_folder_is_refused(state: dict, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    named = {key: value.format(folder=folder) if isinstance(value, str) else
             {path.format(folder=folder): score for path, score in value.items()} for key, value in state.items()}
    checkpoint = {"callbacks": {"RunDefinition": {"definition": run_config()},
                                "ModelCheckpoint{'monitor': 'val/loss'}": {"dirpath": str(folder), **named}}}
    torch.save(checkpoint, folder / "last.ckpt")
    with pytest.raises(ConfigError, match=r"no checkpoint in .* will do \(it names the checkpoint '.*', which leaves "
                                          r"its folder \(Lightning would delete or load it\)\)"):
        checkpoint_to_resume(tmp_path, run_config())


@pytest.mark.parametrize("saved", [
    {"state_dict": {}},  # a plain Lightning checkpoint, of another project
    {"callbacks": ["RunDefinition"]},
    {"callbacks": {"RunDefinition": {"definition": 5}}},
])
def test_a_checkpoint_without_this_projects_run_definition_is_refused(saved: dict, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save(saved, folder / "last.ckpt")
    with pytest.raises(ConfigError, match=r"no checkpoint in .* will do \(it holds no run definition of this project"):
        checkpoint_to_resume(tmp_path, run_config())


@pytest.mark.parametrize("states", [
    {"RunDefinition": {"definition": run_config()},
     "ModelCheckpoint{'monitor': 'val/loss'}": {"best_k_models": 5}},  # no files, a number
    {"RunDefinition": {"definition": {**run_config(), "model._target_": ["a", "list"]}}},  # a class named by a list
])
def test_a_checkpoint_whose_states_are_not_as_this_project_writes_them_is_refused_as_such(states: dict,
                                                                                           tmp_path: Path) -> None:
    # It holds a run definition: the line said it held none.
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"callbacks": states}, folder / "last.ckpt")
    with pytest.raises(ConfigError, match=r"no checkpoint in .* will do \(its callbacks' states are not as this "
                                          r"project writes them\): put back whole copies"):
        checkpoint_to_resume(tmp_path, run_config())


def test_checkpoints_all_cut_short_are_refused_with_the_fix_for_damaged_files(tmp_path: Path) -> None:
    # The line advised resuming with the run's own overrides, which no override fixes, after torch's own
    # paragraph on how checkpoints get damaged.
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("last.ckpt", "best.ckpt"):
        save_checkpoint_of(run_config(), folder / name)
        (folder / name).write_bytes((folder / name).read_bytes()[:1000])
    with pytest.raises(ConfigError) as refused:
        checkpoint_to_resume(tmp_path, run_config())
    assert str(refused.value) == (
        f"resume=true, but no checkpoint in {folder} will do (RuntimeError: PytorchStreamReader failed reading zip "
        f"archive: failed finding central directory): put back whole copies of its checkpoints (a copy cut short, a "
        f"disk that filled), or start a new run in another folder (hydra.run.dir) without resume=true")


@pytest.mark.parametrize("name,state,reason", [
    ("RandomState", {**RandomState(seed=0).state_dict(), "python": "x"},
     r"its random state cannot be restored \(ValueError\)"),
    ("RandomState", {"torch": torch.zeros(3)}, r"its random state cannot be restored \(TypeError\)"),
    ("RandomState", {**RandomState(seed=0).state_dict(), RandomState.FURTHER: [{"torch": torch.zeros(3)}]},
     r"its random state cannot be restored \(TypeError\)"),
    # A GPU machine would fail on it as it set CUDA's generators; on a CPU one it would pass unnoticed.
    ("RandomState", {**RandomState(seed=0).state_dict(), "cuda": "x"},
     r"its random state cannot be restored \(TypeError\)"),
    ("ModelCheckpoint{'monitor': 'val/loss'}", {"best_k_models": {"a.ckpt": 1.0}, "kth_best_model_path": "b.ckpt"},
     r"its ModelCheckpoint\{'monitor': 'val/loss'\} state does not hold its kth_best_model_path among its "
     r"best_k_models"),
    ("RunFolder", {"folder": 5}, "its run folder is not named by a path"),
    ("RunFolder", ["folder"], "its run folder is not named by a path"),
])
def test_a_checkpoint_whose_states_would_fail_the_resumed_run_is_refused_before_it(name: str, state: dict, reason: str,
                                                                                  tmp_path: Path) -> None:
    # Such states loaded, then failed the run with a traceback (exit 1, status.json overwritten as failed).
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    before = random.getstate()
    torch.save({"callbacks": {"RunDefinition": {"definition": run_config()}, name: state}}, folder / "last.ckpt")
    with pytest.raises(ConfigError, match=rf"no checkpoint in .* will do \({reason}"):
        checkpoint_to_resume(tmp_path, run_config())
    good = {"callbacks": {"RunDefinition": {"definition": run_config()},
                          "RandomState": RandomState(seed=0).state_dict()}}
    torch.save(good, folder / "last.ckpt")
    assert checkpoint_to_resume(tmp_path, run_config()) == folder / "last.ckpt"
    assert random.getstate() == before  # checking a state restores none


class ValLossRises(BoringModel):
    """Each validation scores worse than the one before: best.ckpt stays at the first epoch."""

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", float(self.current_epoch))


def test_last_ckpt_holds_the_last_epoch_when_the_val_loss_does_not_improve(tmp_path: Path) -> None:
    callbacks = OmegaConf.load(CONFIG_DIR / "callbacks" / "default.yaml")
    checkpoints = [instantiate({**OmegaConf.to_container(callbacks[name]), "dirpath": str(tmp_path)})
                   for name in ("checkpoint", "last_checkpoint")]
    trainer = L.Trainer(max_epochs=3, limit_train_batches=2, limit_val_batches=1, callbacks=checkpoints,
                        logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(ValLossRises())
    assert torch.load(tmp_path / "best.ckpt", weights_only=True)["epoch"] == 0
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (2, 6)



def fit_rising(folder: Path, epochs: int, resumed_from: Path | None = None) -> L.Trainer:
    """`ValLossRises` fitted with the project's checkpoint callbacks in `folder`/checkpoints."""
    callbacks = OmegaConf.load(CONFIG_DIR / "callbacks" / "default.yaml")
    checkpoints = [instantiate({**OmegaConf.to_container(callbacks[name]), "dirpath": str(folder / "checkpoints")})
                   for name in ("checkpoint", "last_checkpoint")]
    trainer = L.Trainer(max_epochs=epochs, limit_train_batches=2, limit_val_batches=1, default_root_dir=folder,
                        callbacks=[*checkpoints, RunFolder()], logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(ValLossRises(), ckpt_path=resumed_from, weights_only=True)
    return trainer


def linked(folder: Path, link: Path) -> None:
    link.symlink_to(folder)


@pytest.mark.parametrize("how", [shutil.move, shutil.copytree, linked])
def test_a_run_folder_moved_or_copied_keeps_its_best_checkpoint_when_resumed_there(how, tmp_path: Path) -> None:
    # Lightning's states name their files by absolute path: in the new folder it forgot the best val loss
    # and kept the resumed epoch's worse checkpoint as best.ckpt, or (copied) named the old folder's.
    # Reached through a link (a cluster's /home to /gpfs/home), the run is where it was.
    fit_rising(tmp_path / "before", epochs=2)
    how(tmp_path / "before", tmp_path / "after")
    checkpoints = tmp_path / "after" / "checkpoints"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*dirpath has changed")
        trainer = fit_rising(tmp_path / "after", epochs=3, resumed_from=checkpoints / "last.ckpt")
    assert torch.load(checkpoints / "best.ckpt", weights_only=True)["epoch"] == 0
    assert trainer.checkpoint_callback.best_model_path == os.path.realpath(checkpoints / "best.ckpt")
    assert trainer.checkpoint_callback.best_model_score == 0
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["epoch"] == 2


def test_a_run_folder_reached_through_a_symbolic_link_keeps_its_best_checkpoint_when_copied(tmp_path: Path) -> None:
    # Lightning names its files by the real path (os.path.realpath), and the folder was stored as reached: on
    # macOS, /tmp itself is a link. Copied, the run forgot its best val loss, as before RunFolder.
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    fit_rising(tmp_path / "link" / "before", epochs=2)
    shutil.copytree(tmp_path / "real" / "before", tmp_path / "after")
    checkpoints = tmp_path / "after" / "checkpoints"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*dirpath has changed")
        trainer = fit_rising(tmp_path / "after", epochs=3, resumed_from=checkpoints / "last.ckpt")
    assert torch.load(checkpoints / "best.ckpt", weights_only=True)["epoch"] == 0
    assert trainer.checkpoint_callback.best_model_score == 0


def test_the_mid_epoch_checkpoint_keeps_the_state_key_of_the_modelcheckpoint_that_wrote_older_runs(
        tmp_path: Path) -> None:
    # Lightning finds a callback's state in a checkpoint by its key: as a class of its own, a run resumed from a
    # checkpoint of before warned to add the ModelCheckpoint, and restored nothing of its state.
    arguments = {"dirpath": str(tmp_path), "save_top_k": 0, "save_last": True, "every_n_train_steps": 2,
                 "enable_version_counter": False}
    assert MidEpochCheckpoint(**arguments).state_key == ModelCheckpoint(**arguments).state_key


class Planted:
    """A pickle that, loaded in full, would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("content", ["pickle", "text"])
def test_a_checkpoint_that_is_not_plain_data_is_refused_without_advice_to_unpickle_it(content: str,
                                                                                      tmp_path: Path) -> None:
    checkpoint = tmp_path / "last.ckpt"
    if content == "pickle":
        torch.save({"state_dict": {}, "planted": Planted(tmp_path / "marker")}, checkpoint)
    else:
        checkpoint.write_text("not a checkpoint\n")
    reason, _ = reason_not_to_resume(checkpoint, {})
    assert reason == "torch.load(weights_only=True) refuses it: not a file of tensors and plain data"
    assert not (tmp_path / "marker").exists()


def test_a_default_the_classs_code_changed_since_the_run_is_named_on_resume(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the file's keys were stored: a width whose default went from 16 to 8 passed the check, and the run
    # failed as it loaded the weights, with a traceback, its status.json turned from completed to failed.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "own_classes.Wide")
    definition = {"model._target_": "own_classes.Wide", "seed": 0}
    (tmp_path / "checkpoints").mkdir()
    save_checkpoint_of(RunDefinition(definition).definition, tmp_path / "checkpoints" / "last.ckpt")
    assert checkpoint_to_resume(tmp_path, definition) == tmp_path / "checkpoints" / "last.ckpt"
    monkeypatch.setattr(own_classes.Wide.__init__, "__defaults__", (8, 2))
    with pytest.raises(ConfigError, match=r"\(model.width=8, but the run was trained with 16\)"):
        checkpoint_to_resume(tmp_path, definition)


def test_each_process_restores_its_own_random_state_and_one_of_an_older_checkpoint_the_firsts() -> None:
    states = []
    for seed in (1, 2):
        torch.manual_seed(seed), random.seed(seed), np.random.seed(seed)
        states.append(RandomState(seed=0).state_dict())
    draws = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        draws.append(torch.rand(3))
    second = RandomState(seed=0)
    second.setup(SimpleNamespace(global_rank=1, world_size=2), None, "validate")
    second.load_state_dict({**states[0], RandomState.FURTHER: [states[1]]})
    assert torch.equal(torch.rand(3), draws[1])
    second.load_state_dict(states[0])
    assert torch.equal(torch.rand(3), draws[0])


def test_resume_on_the_other_x_axis_is_refused_and_a_checkpoint_older_than_the_key_is_not_held_to_it(
        tmp_path: Path) -> None:
    # TensorBoard drops a curve's points past an x that goes back: resumed with x_axis=epoch, a run logged
    # by step would show its first new epoch alone (val/loss at x=3), its earlier epochs gone.
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint_of(run_config(x_axis="step"), folder / "last.ckpt")
    with pytest.raises(ConfigError, match=r"\(x_axis=epoch, but the run was trained with step\)"):
        checkpoint_to_resume(tmp_path, run_config(x_axis="epoch"))
    assert checkpoint_to_resume(tmp_path, run_config(x_axis="step")) == folder / "last.ckpt"
    save_checkpoint_of(run_config(), folder / "last.ckpt")
    assert checkpoint_to_resume(tmp_path, run_config(x_axis="epoch")) == folder / "last.ckpt"


def test_only_a_further_process_is_seeded_apart_and_only_as_it_starts_to_fit() -> None:
    # The first process keeps the generators seed_everything and the model's initialisation left: reseeded,
    # a run would draw other noise than a plain torch loop seeded alike. A validate or test is not reseeded.
    def torch_draw_after_setup(rank: int, stage: str) -> torch.Tensor:
        torch.manual_seed(123)
        RandomState(seed=5).setup(SimpleNamespace(global_rank=rank, world_size=2), None, stage)
        return torch.rand(3)

    torch.manual_seed(123)
    untouched = torch.rand(3)
    torch.manual_seed(process_seed(5, 1))
    seeded_apart = torch.rand(3)
    assert torch.equal(torch_draw_after_setup(0, "fit"), untouched)
    assert torch.equal(torch_draw_after_setup(1, "fit"), seeded_apart)
    assert torch.equal(torch_draw_after_setup(1, "validate"), untouched)


def test_every_checkpoint_records_how_many_processes_trained_the_run() -> None:
    # Without the count, a run resumed on two devices would continue one trained on one (RECORDED_LATER lets
    # a checkpoint without it pass), each step averaging twice the batches.
    callback = RunDefinition(run_config())
    callback.setup(SimpleNamespace(world_size=2), None, "fit")
    assert callback.state_dict()["definition"]["processes"] == 2


def test_a_checkpoint_naming_a_class_no_config_names_imports_nothing(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Data read from disk never decides what code runs: a checkpoint's `_target_` is compared as text, its
    # module never imported (an import runs the module's code).
    module = tmp_path / "planted_by_a_checkpoint.py"
    module.write_text(f"open({str(tmp_path / 'marker')!r}, 'w').close()\nclass Model:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "planted_by_a_checkpoint", raising=False)
    (tmp_path / "checkpoints").mkdir()
    save_checkpoint_of(run_config(**{"model._target_": "planted_by_a_checkpoint.Model"}),
                       tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(ConfigError, match=r"model._target_=vae_lightning.paper.model.VAE, but the run was trained with "
                                          r"planted_by_a_checkpoint.Model"):
        checkpoint_to_resume(tmp_path, run_config())
    assert not (tmp_path / "marker").exists()
