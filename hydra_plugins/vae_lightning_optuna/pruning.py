"""The Lightning callback an Optuna search adds to each trial's run (as callbacks.optuna_trial): it reports
the val loss to the study after every epoch, and stops the run cleanly when the study's pruner prunes it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class TrialPruning(Callback):
    """Reports `monitor` after each epoch's validation as the trial's value at that epoch (counted from
    1, the first trained); when `pruner` prunes the trial, training stops after that epoch and
    `pruned_epoch` says which (the run then records itself as pruned)."""

    def __init__(self, storage: str, study_name: str, trial_number: int, pruner: Any = None,
                 monitor: str = "val/loss") -> None:
        self.storage, self.study_name, self.trial_number = storage, study_name, trial_number
        self.pruner, self.monitor = pruner, monitor
        self.pruned_epoch: int | None = None
        self.trial: Any = None
        # The study's storage and id, set up with the trial (on the first process only).
        self.storage_of_trials: Any = None
        self.study_id: int | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero:
            return
        # Optuna is imported by the run that reports to a study only: Hydra imports this module in every command.
        import optuna

        from hydra_plugins.vae_lightning_optuna._study import FOLDER, open_storage

        storage = open_storage(self.storage)
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=self.pruner)
        self.study_id = storage.get_study_id_from_name(self.study_name)
        self.storage_of_trials = storage
        self.trial = optuna.trial.Trial(study, storage.get_trial_id_from_study_id_trial_number(self.study_id,
                                                                                             self.trial_number))
        # The search finds the run's outcome (status.json) here, and repeats a cut trial in this folder.
        self.trial.set_user_attr(FOLDER, str(Path(trainer.default_root_dir).resolve()))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A trial that repeats one an interrupt cut, resumed from that one's checkpoint, takes over its
        values of the epochs the checkpoint holds: without them its curve would start past them, and the
        pruner, which compares trials at the same epoch, would leave it out of those epochs' medians."""
        from hydra_plugins.vae_lightning_optuna._study import REPEATS

        if self.trial is None or (cut := self.trial.user_attrs.get(REPEATS)) is None:
            return
        cut_id = self.storage_of_trials.get_trial_id_from_study_id_trial_number(self.study_id, cut)
        # Epochs up to current_epoch (restored from the checkpoint) trained before the cut; later ones it
        # may have reported, but this run trains them again and reports its own.
        for epoch, value in sorted(self.storage_of_trials.get_trial(cut_id).intermediate_values.items()):
            if epoch <= trainer.current_epoch:
                self.trial.report(value, epoch)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Only training's validations are the trial's epochs: not the sanity check, nor the scoring after fit.
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        prune = False
        if trainer.is_global_zero and self.trial is not None and self.monitor in trainer.callback_metrics:
            epoch = trainer.current_epoch + 1
            self.trial.report(float(trainer.callback_metrics[self.monitor]), epoch)
            prune = self.trial.should_prune()
        # Every process of a DDP run stops together, on the first process's word.
        if trainer.strategy.broadcast(prune):
            self.pruned_epoch = trainer.current_epoch + 1
            trainer.should_stop = True
            log.info("trial %d pruned after epoch %d: training stops", self.trial_number, self.pruned_epoch)
