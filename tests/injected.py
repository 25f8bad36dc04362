"""Lightning callbacks the tests inject into real runs: faults, as real runs break, and probes."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import weakref
from pathlib import Path

import lightning as L
import torch


class Fault(L.Callback):
    """At training step `at_step`: `raise` an error, `exit` through sys.exit, `kill` -9 the process, `term`
    it (SIGTERM), `poison` the weights with NaN (the loss of that step is then NaN), `fill_disk`: fill the run
    folder's filesystem to its last byte, as another user's job does on a shared disk, or `int_in_weakref`: send
    the process SIGINT from a weakref callback, out of which Python cannot raise what the handler raises;
    `raise_in_validation` raises when a validation starts after step `at_step`, before it saves any checkpoint;
    `kill_as_built` kills -9 the DDP process `rank` as the run builds this callback, before it joins the others.
    With `rank`, in that DDP process alone."""

    def __init__(self, kind: str = "none", at_step: int = 0, rank: int | None = None) -> None:
        self.kind = kind
        self.at_step = at_step
        self.rank = rank
        # Lightning's launcher gives each process it starts its rank on this node.
        if kind == "kill_as_built" and os.environ.get("LOCAL_RANK") == str(rank):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.kind == "raise_in_validation" and trainer.global_step == self.at_step and not trainer.sanity_checking:
            raise RuntimeError(f"injected fault in the validation after step {self.at_step}")

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: object,
                             batch_idx: int) -> None:
        if trainer.global_step != self.at_step or self.kind in ("none", "raise_in_validation", "kill_as_built"):
            return
        if self.rank is not None and trainer.global_rank != self.rank:
            return
        if self.kind == "raise":
            raise RuntimeError(f"injected fault at step {self.at_step}")
        if self.kind == "exit":
            sys.exit(4)
        if self.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.kind == "term":
            os.kill(os.getpid(), signal.SIGTERM)
        if self.kind == "fill_disk":
            fill_disk(Path(trainer.default_root_dir))
        if self.kind == "int_in_weakref":
            owner = Fault()
            weakref.finalize(owner, os.kill, os.getpid(), signal.SIGINT)
            del owner  # the finalizer runs, and the run's SIGINT handler within it
        if self.kind == "poison":
            with torch.no_grad():
                next(module.parameters()).fill_(float("nan"))


def fill_disk(folder: Path) -> None:
    """Write `folder/filler` until its filesystem has no byte left (a tmpfs the test mounted)."""
    with open(folder / "filler", "wb", buffering=0) as filler:
        for block in (65536, 1):  # a short write fills what is left of the last page
            try:
                while filler.write(b"\0" * block):
                    pass
            except OSError:
                pass


class Slow(L.Callback):
    """Sleeps `seconds` before every training step (after it, with `after=true`): a run long enough to be
    signalled mid-way. With `until_requeued=true`, only until Slurm requeues the job: its first allocation
    never ends by itself, however fast the machine, and the requeued one trains at full speed."""

    def __init__(self, seconds: float = 0.5, after: bool = False, until_requeued: bool = False) -> None:
        requeued = int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0
        self.seconds = 0.0 if until_requeued and requeued else seconds
        self.after = after

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: object,
                             batch_idx: int) -> None:
        if not self.after:
            time.sleep(self.seconds)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: object, batch: object,
                           batch_idx: int) -> None:
        if self.after:
            time.sleep(self.seconds)


class SlowToFail(L.Callback):
    """Sleeps `seconds` as a fit fails (`on_exception`) in DDP process `rank`: a busy machine's first
    process, slow to record a failure."""

    def __init__(self, seconds: float = 6.0, rank: int = 0) -> None:
        self.seconds = seconds
        self.rank = rank

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if trainer.global_rank == self.rank:
            time.sleep(self.seconds)


class Probe(L.Callback):
    """Writes what the run's process looks like at the start of training to <run_dir>/probe.json (a
    further DDP process's to probe.<rank>.json), and the row sums of every training batch, by epoch, to
    <run_dir>/batches.jsonl."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        probe = {"deterministic": torch.are_deterministic_algorithms_enabled(), "seed": torch.initial_seed(),
                 "threads": torch.get_num_threads()}
        name = f"probe.{trainer.global_rank}.json" if trainer.global_rank else "probe.json"
        (self.run_dir / name).write_text(json.dumps(probe))

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: torch.Tensor,
                             batch_idx: int) -> None:
        with open(self.run_dir / "batches.jsonl", "a") as file:
            file.write(json.dumps({"epoch": trainer.current_epoch, "rows": batch.sum(dim=1).tolist()}) + "\n")
