"""The LightningModule: the VAE and its loss, trained and evaluated, with every metric logged."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from vae_lightning.loss import LossTerms
from vae_lightning.targets import instantiate_trusted


class VAEModule(L.LightningModule):
    """Wraps the model and loss built from their configs; its hyperparameters are plain containers.

    Keeping the configs (dicts, lists, numbers, strings) as the hyperparameters, instead of built
    objects or OmegaConf nodes, lets every checkpoint load with `torch.load(..., weights_only=True)`
    and rebuild this module with `VAEModule.load_from_checkpoint(path)`.
    """

    def __init__(self, model: dict[str, Any], loss: dict[str, Any], optim: dict[str, Any], eval_seed: int = 0):
        super().__init__()
        # The full run config is logged once by train.py; logging these again would duplicate it.
        self.save_hyperparameters(logger=False)
        self.model = instantiate_trusted(model)
        self.loss = instantiate_trusted(loss)
        self._eval_generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> Any:
        return self.model(x)

    def _loss_terms(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> LossTerms:
        return self.loss(batch, self.model(batch, generator=generator))

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        terms = self._loss_terms(batch)
        self.log("train/loss_step", terms.total, on_step=True, on_epoch=False, prog_bar=True)
        self._log_terms("train", terms, batch_size=len(batch))
        return terms.total

    def _start_eval_epoch(self) -> None:
        # Evaluation draws its own, fixed noise: its losses compare across epochs without sampling
        # noise, and evaluating never moves the random stream that training draws from.
        self._eval_generator = torch.Generator(self.device).manual_seed(self.hparams.eval_seed)

    def on_validation_epoch_start(self) -> None:
        self._start_eval_epoch()

    def on_test_epoch_start(self) -> None:
        self._start_eval_epoch()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._log_terms("val", self._loss_terms(batch, self._eval_generator), batch_size=len(batch))

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._log_terms("test", self._loss_terms(batch, self._eval_generator), batch_size=len(batch))

    def _log_terms(self, stage: str, terms: LossTerms, batch_size: int) -> None:
        metrics = {f"{stage}/loss": terms.total, f"{stage}/reconstruction": terms.reconstruction, f"{stage}/kl": terms.kl}
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=batch_size, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return instantiate_trusted(self.hparams.optim)(self.parameters())
