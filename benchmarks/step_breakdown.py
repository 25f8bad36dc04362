"""Where a step of `python train.py` goes, part by part, beside the plain loop's step.

    python benchmarks/step_breakdown.py --data-root ../shared/data

Runs `python train.py` (its defaults, 2 torch threads) with a callback that, as in epoch_speed.py,
runs one floor step (benchmarks/plain_loop.py) before each project step and times the floor's
phases; the project's step is cut at the hooks Lightning calls on every callback. Prints
milliseconds per training step for each part (epoch-level parts spread over the epoch's steps),
the first epoch left out as a warm-up.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import lightning as L
import torch
from torch import nn

from paired_floor import PairedFloor, epochs_after_warmup, run_train_with
from plain_loop import loss_terms

# The project's parts, in the order Lightning runs them within a step.
STEP_PARTS = {
    "on_before_zero_grad": "training_step, with Lightning's closure around it",
    "on_before_backward": "zero_grad and its hooks",
    "on_after_backward": "backward",
    "on_before_optimizer_step": "hooks after backward",
    "on_train_batch_end": "clipping, optimizer step, their hooks",
}
BETWEEN_STEPS = "next batch and the hooks between steps"
VALIDATION = "validation, image grids"
EPOCH_END = "epoch end: checkpoints, epoch logging"


class StepBreakdown(PairedFloor):
    """Adds up the time between consecutive hooks, and the floor step's phases."""

    def __init__(self, data_root: str, report: str) -> None:
        super().__init__(data_root, report)
        self.project: dict[str, float] = defaultdict(float)
        self.floor: dict[str, float] = defaultdict(float)
        self.steps = 0
        self.last: float | None = None

    def _until_now(self, part: str) -> None:
        now = time.perf_counter()
        if self.last is not None and self.counting:
            self.project[part] += now - self.last
        self.last = now

    @property
    def counting(self) -> bool:
        return self.epoch_started is not None and len(self.floor_seconds) > 1

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._until_now(EPOCH_END)
        super().on_train_epoch_start(trainer, module)
        self.last = time.perf_counter()

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: object,
                             batch_idx: int) -> None:
        self._until_now(BETWEEN_STEPS)
        index = next(self.order, None)
        if index is not None and self.counting:
            self._floor_step(index)
        self.steps += self.counting
        self.last = time.perf_counter()

    def _floor_step(self, index: torch.Tensor) -> None:
        marks = [time.perf_counter()]
        x = self.images[index]
        marks.append(time.perf_counter())
        loss = loss_terms(x, *self.model(x))
        marks.append(time.perf_counter())
        self.optimizer.zero_grad()
        loss.backward()
        marks.append(time.perf_counter())
        nn.utils.clip_grad_value_(self.model.parameters(), 1.0)
        marks.append(time.perf_counter())
        self.optimizer.step()
        marks.append(time.perf_counter())
        phases = ("indexing the batch", "forward and loss", "zero_grad and backward", "clipping", "optimizer step")
        for phase, started, ended in zip(phases, marks, marks[1:]):
            self.floor[phase] += ended - started

    def on_before_zero_grad(self, trainer: L.Trainer, module: L.LightningModule, optimizer: object) -> None:
        self._until_now(STEP_PARTS["on_before_zero_grad"])

    def on_before_backward(self, trainer: L.Trainer, module: L.LightningModule, loss: torch.Tensor) -> None:
        self._until_now(STEP_PARTS["on_before_backward"])

    def on_after_backward(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._until_now(STEP_PARTS["on_after_backward"])

    def on_before_optimizer_step(self, trainer: L.Trainer, module: L.LightningModule, optimizer: object) -> None:
        self._until_now(STEP_PARTS["on_before_optimizer_step"])

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: object) -> None:
        self._until_now(STEP_PARTS["on_train_batch_end"])

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._until_now(EPOCH_END)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._until_now(VALIDATION)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._until_now(EPOCH_END)
        per_step = {side: {part: seconds * 1e3 / self.steps for part, seconds in parts.items()}
                    for side, parts in (("project", self.project), ("floor", self.floor))}
        self.report.write_text(json.dumps(per_step))


def print_table(per_step: dict[str, dict[str, float]]) -> None:
    for side, parts in per_step.items():
        print(f"{side}: {sum(parts.values()):.3f} ms per step")
        for part, milliseconds in sorted(parts.items(), key=lambda item: -item[1]):
            print(f"  {milliseconds:7.3f}  {part}")
    ratio = sum(per_step["project"].values()) / sum(per_step["floor"].values())
    print(f"ratio_project_vs_floor={ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--epochs", type=epochs_after_warmup, default=5, help="the first is a warm-up")
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides")
    args = parser.parse_args()
    data_root = str(Path(args.data_root).resolve())
    print_table(run_train_with("step_breakdown.StepBreakdown", data_root, args.epochs, 2, args.overrides))


if __name__ == "__main__":
    main()
