"""A resumed run's earlier TensorBoard points that it logs again, dropped where torch's `purge_step` cannot:
with x_axis=epoch, the epoch-level values sit at the epoch, below the optimizer step that `purge_step` counts."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from vae_lightning.files import TEMPORARY_SUFFIX, atomic_file
from vae_lightning.harness.definition import HPARAMS_SUFFIX

# What x_axis=epoch puts at the epoch (README, "Reading the axes"): the stages' metrics but their `*_step`
# series, and the image grids. Lightning's own `epoch` chart mixes both axes; its points at an epoch are the
# epoch itself, which the resumed run logs again with the same value: it is left as it is.
EPOCH_LEVEL_PREFIXES = ("train/", "val/", "test/")
EPOCH_LEVEL_IMAGES = ("samples", "reconstructions")


def logged_at_the_epoch(tag: str) -> bool:
    """Whether x_axis=epoch puts the values of `tag` at their epoch, not at the optimizer step."""
    return tag in EPOCH_LEVEL_IMAGES or (tag.startswith(EPOCH_LEVEL_PREFIXES) and not tag.endswith("_step"))


def drop_epoch_points(path: Path, first_epoch: int) -> bool:
    """Write the event file at `path` again without its epoch-level values at x >= `first_epoch`; True
    when it held any (otherwise it is left untouched). A record a killed writer cut short is left out."""
    records, dropped = [], False
    for record in RawEventFileLoader(str(path)).Load():
        event = event_pb2.Event.FromString(record)
        if event.HasField("summary") and event.step >= first_epoch:
            kept = [value for value in event.summary.value if not logged_at_the_epoch(value.tag)]
            if len(kept) < len(event.summary.value):
                dropped = True
                if not kept:
                    continue
                del event.summary.value[:]
                event.summary.value.extend(kept)
                record = event.SerializeToString()
        records.append(record)
    if dropped:
        with atomic_file(path) as file:
            writer = RecordWriter(file)
            for record in records:
                writer.write(record)
    return dropped


class EarlierEpochPoints(L.Callback):
    """With x_axis=epoch, drops from a resumed run's earlier event files the epoch-level points it logs
    again: those at its first epoch and past it (an extended run's old test point, at the old number of
    epochs, beside the new one; an epoch validated but not checkpointed before a kill). Its first epoch is
    Lightning's once the checkpoint is restored: as its first epoch starts, or as it tests when no epoch
    is left to train. The step-level points are `purge_step`'s, as with x_axis=step. Only event files that
    were there before this run are rewritten; a TensorBoard started before the resume shows the dropped
    points until it is started again (or reloads the run)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.earlier = sorted(path for path in log_dir.glob("events.out.tfevents.*")
                              if not path.name.endswith(HPARAMS_SUFFIX))
        self.done = False

    def drop(self, trainer: L.Trainer) -> None:
        if self.done or not trainer.is_global_zero:
            return
        self.done = True
        # Of a rewrite that `kill -9` cut short: TensorBoard would read its hidden temporary file as events.
        for partial in self.log_dir.glob(f".events.out.tfevents.*{TEMPORARY_SUFFIX}"):
            partial.unlink(missing_ok=True)
        for path in self.earlier:
            drop_epoch_points(path, trainer.current_epoch)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.drop(trainer)

    def on_test_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.drop(trainer)
