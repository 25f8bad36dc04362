"""The gradient while training: its global norm before and after clipping, and what the clip changed,
logged every `trainer.log_every_n_steps` steps and as epoch means (what explains Figures 1 and 2)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

# Logged as `<name>_step` at single steps and as `<name>` for the epoch's mean, like train/loss.
STATISTICS = ("train/grad_norm", "train/grad_norm_clipped", "train/clip_fraction")
# torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6); the same sum gives the same rescaling.
NORM_EPSILON = 1e-6


def squared_sum(tensor: torch.Tensor) -> torch.Tensor:
    flat = tensor.reshape(-1)
    return torch.dot(flat, flat)


def clipped_by_value(gradients: list[torch.Tensor], norm: torch.Tensor, threshold: float) -> torch.Tensor:
    """[norm, norm after clamping every entry to [-threshold, threshold], share of entries clamped]."""
    clipped = [gradient.clamp(-threshold, threshold) for gradient in gradients]
    # +-1 where the clamp changed an entry, 0 elsewhere: its squared sum counts them, exactly
    # (integers below 2**24 add up exactly in float32), and faster than a boolean mask does.
    changed = sum(squared_sum((gradient - kept).sign()) for gradient, kept in zip(gradients, clipped))
    entries = sum(gradient.numel() for gradient in gradients)
    return torch.stack([norm, torch.nn.utils.get_total_norm(clipped), changed / entries])


def clipped_by_norm(norm: torch.Tensor, threshold: float) -> torch.Tensor:
    """[norm, norm after rescaling to at most `threshold`, 1 if it was rescaled else 0]."""
    scale = torch.clamp(threshold / (norm + NORM_EPSILON), max=1.0)
    return torch.stack([norm, norm * scale, (scale < 1).to(norm.dtype)])


def gradient_statistics(gradients: list[torch.Tensor], algorithm: str | None, threshold: float | None) -> torch.Tensor:
    """[global L2 norm, the norm the clip leaves, share the clip changed] of gradients not yet clipped,
    for Lightning's clipping (`gradient_clip_algorithm`, `gradient_clip_val`); no clip changes nothing."""
    norm = torch.nn.utils.get_total_norm(gradients)
    if not threshold or threshold <= 0:
        return torch.stack([norm, norm, torch.zeros_like(norm)])
    if algorithm == "norm":
        return clipped_by_norm(norm, threshold)
    return clipped_by_value(gradients, norm, threshold)


class GradientStatistics(L.Callback):
    """Logs STATISTICS of every optimizer step: the step's values at step 0 (the initialisation) and
    every `trainer.log_every_n_steps` steps, and the epoch's means at its end.

    Lightning calls `on_before_optimizer_step` after the backward pass and before it clips
    (`Precision._after_closure` in Lightning 2.6), so the gradient seen here is the raw one, and
    what the clip makes of it is computed, not observed: the same clamp or rescaling, once more.
    """

    def __init__(self) -> None:
        self.epoch = -1
        self.sums = torch.zeros(len(STATISTICS))
        self.steps = 0

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.epoch != trainer.current_epoch:  # kept when resuming mid-epoch
            self.epoch, self.sums, self.steps = trainer.current_epoch, torch.zeros(len(STATISTICS)), 0

    def on_before_optimizer_step(self, trainer: L.Trainer, module: L.LightningModule, optimizer: Any) -> None:
        gradients = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not gradients:
            return
        values = gradient_statistics(gradients, trainer.gradient_clip_algorithm, trainer.gradient_clip_val).detach()
        self.sums = self.sums.to(values.device) + values
        self.steps += 1
        step, every = trainer.global_step, trainer.log_every_n_steps
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
