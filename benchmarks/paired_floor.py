"""A Lightning callback that runs the plain-loop floor step by step beside the project's steps,
and `run_train_with`, which runs `python train.py` with such a callback added.

benchmarks/epoch_speed.py adds it to `python train.py`. Before each project training step it
runs one floor step (benchmarks/plain_loop.py: same model size, loss, optimizer, clipping) and
times it; a project epoch is then the epoch's wall time minus the floor steps inside it. The
speed of this shared machine drifts by tens of percent within a minute; interleaving at the step
level puts the project and the floor under the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from plain_loop import PlainVAE, load_mnist, loss_terms

BENCHMARKS = Path(__file__).resolve().parent
PROJECT = BENCHMARKS.parent


def epochs_after_warmup(text: str) -> int:
    """An argparse type for --epochs whose first epoch is a warm-up: at least 2, or nothing is left to time."""
    epochs = int(text)
    if epochs < 2:
        raise argparse.ArgumentTypeError(f"{epochs}: needs at least 2, as the first epoch is a warm-up and is dropped")
    return epochs


def run_train_with(callback: str, data_root: str, epochs: int, threads: int, overrides: list[str]) -> Any:
    """The JSON report of `callback` ("module.Class" in benchmarks/, built with `data_root` and
    `report`) after a `python train.py` run of `epochs` epochs with it added."""
    with tempfile.TemporaryDirectory() as run_dir:
        report = Path(run_dir) / "report.json"
        node = f"{{_target_:{callback},data_root:'{data_root}',report:'{report}'}}"
        name = callback.split(".")[0]
        environment = dict(os.environ, PYTHONPATH=str(BENCHMARKS), VAE_LIGHTNING_ALLOWED_TARGETS=callback)
        subprocess.run(
            [sys.executable, str(PROJECT / "train.py"), f"data.root={data_root}", f"trainer.max_epochs={epochs}",
             f"hydra.run.dir={run_dir}/run", f"torch_threads={threads}", f"+callbacks.{name}={node}", *overrides],
            cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, env=environment,
        )
        return json.loads(report.read_text())


class PairedFloor(L.Callback):
    """Records floor seconds per epoch and project seconds per epoch (validation included)."""

    def __init__(self, data_root: str, report: str, lr: float = 0.01, batch_size: int = 128) -> None:
        self.images, _, _ = load_mnist(data_root)
        self.model = PlainVAE()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.batch_size = batch_size
        self.report = Path(report)
        self.floor_seconds: list[float] = []
        self.project_seconds: list[float] = []
        self.epoch_started: float | None = None

    def _close_epoch(self) -> None:
        if self.epoch_started is not None:
            floor = self.floor_seconds[-1]
            self.project_seconds.append(time.perf_counter() - self.epoch_started - floor)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._close_epoch()
        self.epoch_started = time.perf_counter()
        started = time.perf_counter()
        self.order = iter(torch.randperm(len(self.images)).split(self.batch_size))
        self.floor_seconds.append(time.perf_counter() - started)

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: object,
                             batch_idx: int) -> None:
        started = time.perf_counter()
        index = next(self.order, None)
        if index is not None:
            x = self.images[index]
            loss = loss_terms(x, *self.model(x))
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_value_(self.model.parameters(), 1.0)
            self.optimizer.step()
        self.floor_seconds[-1] += time.perf_counter() - started

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._close_epoch()
        self.report.write_text(json.dumps({"floor": self.floor_seconds, "project": self.project_seconds}))

