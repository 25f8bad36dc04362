"""hydra_plugins/vae_lightning_optuna/pruning.py: what a trial's run reports to its study, and when it stops."""

from pathlib import Path

import lightning as L
import optuna
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel

from hydra_plugins.vae_lightning_optuna._study import FOLDER, REPEATS
from hydra_plugins.vae_lightning_optuna.pruning import TrialPruning


class ValLossFalls(BoringModel):
    """Each epoch's validation scores 1 / (epoch + 1)."""

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", 1.0 / (self.current_epoch + 1))


def test_only_trainings_validations_are_reported_as_the_trials_epochs(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    # Prunes any value reported past epoch 2, as it would a spurious third point.
    pruning = TrialPruning(storage, "s", trial.number,
                           pruner=optuna.pruners.ThresholdPruner(upper=1.0, n_warmup_steps=2))
    trainer = L.Trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=1, callbacks=[pruning], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    model = ValLossFalls()
    trainer.fit(model)
    trainer.validate(model, verbose=False)  # scoring after fit, as harness.run.score does
    assert study.trials[0].intermediate_values == {1: 1.0, 2: 0.5}
    assert pruning.pruned_epoch is None


def test_the_searchs_pruner_decides_and_training_stops_after_the_epoch_it_prunes_in_the_named_folder(
        tmp_path: Path) -> None:
    """The callback's pruner, not the study's default, judges each epoch; a pruned run stops after it."""
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    # Epoch 1 scores 1.0, above the threshold; Optuna's default MedianPruner never prunes a study's only trial.
    pruning = TrialPruning(storage, "s", trial.number, pruner=optuna.pruners.ThresholdPruner(upper=0.7))
    trainer = L.Trainer(max_epochs=4, limit_train_batches=2, limit_val_batches=1, callbacks=[pruning], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    trainer.fit(ValLossFalls())
    assert pruning.pruned_epoch == 1 and trainer.current_epoch == 1
    assert study.trials[0].intermediate_values == {1: 1.0}
    # The run names its folder in the trial, where the search finds its outcome after an interrupt.
    assert study.trials[0].user_attrs[FOLDER] == str(tmp_path.resolve())


def test_a_trial_resumed_from_a_cut_trials_checkpoint_takes_over_its_values_of_the_epochs_it_holds(
        tmp_path: Path) -> None:
    # The repeat reported only the epochs it trained itself: its curve started at epoch 3, and the
    # pruner, comparing trials at the same epoch, left it out of epochs 1 and 2.
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=storage, study_name="s")
    cut = study.ask()
    trainer = L.Trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)])
    trainer.fit(ValLossFalls())
    # Its two epochs' values, and a third reported before the interrupt, after the last checkpoint.
    for epoch, value in {1: 1.0, 2: 0.5, 3: 9.9}.items():
        cut.report(value, epoch)
    study.tell(cut, state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial({}, user_attrs={REPEATS: cut.number})
    repeat = study.ask()
    pruning = TrialPruning(storage, "s", repeat.number, pruner=optuna.pruners.NopPruner())
    trainer = L.Trainer(max_epochs=4, limit_train_batches=2, limit_val_batches=1, callbacks=[pruning], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    trainer.fit(ValLossFalls(), ckpt_path=tmp_path / "last.ckpt")
    assert study.trials[repeat.number].intermediate_values == pytest.approx({1: 1.0, 2: 0.5, 3: 1 / 3, 4: 0.25})
