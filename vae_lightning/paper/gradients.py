"""The gradient while training: its global norm before and after clipping, and what the clip changed,
logged every `trainer.log_every_n_steps` steps and as epoch means (what explains Figures 1 and 2)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

# Logged as `<name>_step` at single steps and as `<name>` for the epoch's mean, like train/loss.
STATISTICS = ("train/grad_norm", "train/grad_norm_clipped", "train/clip_fraction")


class GradientStatistics(L.Callback):
    """Logs STATISTICS of the optimizer steps: the step's values at step 0 (the initialisation) and
    every `trainer.log_every_n_steps` steps, and at each epoch's end the mean over the steps measured
    (every `every_n_steps`-th, the logged ones and each epoch's first; `every_n_steps=1`: every step).

    The module measures them where it clips (`VAEModule.configure_gradient_clipping`), on the steps
    this callback asks for before each batch.
    """

    def __init__(self, every_n_steps: int = 10) -> None:
        if every_n_steps < 1:
            raise ValueError(f"callbacks.gradients.every_n_steps={every_n_steps}: measure every N >= 1 steps")
        # Measuring costs about 10% of an epoch when done at every step (benchmarks/epoch_costs.py),
        # passes over every gradient entry: every 10th step keeps the epoch means well sampled at
        # about a fifth of that.
        self.every_n_steps = every_n_steps
        self.epoch = -1
        self.sums = torch.zeros(len(STATISTICS))
        self.steps = 0

    def measures(self, trainer: L.Trainer) -> bool:
        """Whether the coming optimizer step is measured: the first, every `every_n_steps`-th, and
        every step whose values are logged."""
        step, every = trainer.global_step, trainer.log_every_n_steps
        return step == 0 or step % self.every_n_steps == 0 or bool(every and (step + 1) % every == 0)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.epoch != trainer.current_epoch:  # kept when resuming mid-epoch
            self.epoch, self.sums, self.steps = trainer.current_epoch, torch.zeros(len(STATISTICS)), 0

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        # An epoch shorter than every_n_steps (a few batches, as debug runs train) would otherwise
        # have no measured step, and so no epoch means for the sweep's gradients.md to report.
        module.measure_clip = self.measures(trainer) or not self.steps

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        values, module.clip_statistics = module.clip_statistics, None
        if values is None:
            return
        self.sums = self.sums.to(values.device) + values
        self.steps += 1
        step, every = trainer.global_step - 1, trainer.log_every_n_steps  # the step just taken
        if step == 0 or (every and (step + 1) % every == 0):
            # Written at the step train/loss_step is; straight to the loggers, since Lightning
            # writes step metrics only every log_every_n_steps steps, never at the first.
            metrics = {f"{name}_step": value for name, value in zip(STATISTICS, values.tolist())}
            for logger in trainer.loggers:
                logger.log_metrics({**metrics, "epoch": trainer.current_epoch}, step=step)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.steps:
            means = self.sums / self.steps
            module.log_dict(dict(zip(STATISTICS, means)), on_step=False, on_epoch=True, batch_size=1, sync_dist=True)

    def state_dict(self) -> dict[str, Any]:
        # A run resumed mid-epoch still logs that whole epoch's means.
        return {"epoch": self.epoch, "sums": self.sums.cpu(), "steps": self.steps}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch, self.sums, self.steps = state_dict["epoch"], state_dict["sums"], state_dict["steps"]
