"""A callback that records when each phase of a sweep job happened, for benchmarks/sweep_speed.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import lightning as L

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_started() -> float:
    """This process's start (for a forked one, its fork), in seconds since the epoch, from /proc (Linux).

    Counted back from now by the uptime, to the clock tick: /proc/stat's boot time is in whole seconds.
    """
    ticks = int(Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return time.time() - (uptime - ticks / CLOCK_TICKS)


class Timeline(L.Callback):
    """Writes <run_dir>/timeline.json: wall-clock times of the job's phases, and each epoch's seconds."""

    def __init__(self, run_dir: str) -> None:
        self.path = Path(run_dir) / "timeline.json"
        # The job's process was forked: under hydra/launcher=parallel from the sweep's, before Hydra
        # composed the job's config and made its folder in it.
        self.times = {"process_started": process_started(), "built": time.time()}
        self.epoch_seconds: list[float] = []

    def _mark(self, name: str) -> None:
        self.times.setdefault(name, time.time())
        self.path.write_text(json.dumps({**self.times, "epoch_seconds": self.epoch_seconds}))

    def setup(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        self._mark(f"setup_{getattr(stage, 'value', stage)}")

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._mark("train_start")

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.epoch_started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # Lightning validates before this hook: an epoch's seconds include its validation, as the plain loop's do.
        self.epoch_seconds.append(time.perf_counter() - self.epoch_started)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._mark("train_end")

    def on_test_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._mark("test_end")
