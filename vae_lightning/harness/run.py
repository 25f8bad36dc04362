"""`python train.py`: check the command line, then run each job: train, test, record the outcome."""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.types import RunMode
from hydra.utils import get_class
from lightning.pytorch.callbacks import EarlyStopping, LambdaCallback, ModelCheckpoint, ProgressBar
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.vae_lightning_launcher import ParallelLauncher, SlurmLauncher
from hydra_plugins.vae_lightning_optuna import OptunaSweeper
from vae_lightning.configs import CONFIG_DIR, instantiate_trusted
from vae_lightning.errors import ConfigError, NonFiniteLossError, say_error
from vae_lightning.harness.checkpoints import RunDefinition, RunFolder, checkpoint_to_resume, with_mid_epoch_checkpoints
from vae_lightning.harness.definition import log_hparams, run_definition
from vae_lightning.harness.event_files import EarlierEpochPoints
from vae_lightning.files import remove, remove_partial_writes, write_json
from vae_lightning.startup import release_slurm_warning, stopped_in_one_line
from vae_lightning.harness.command_line import check_command_line, runs_in_its_own_process
from vae_lightning.harness.schema import drop_local_keys_not_taken
from vae_lightning.harness.runs import (RESULTS_FILE, STATUS_FILE, FirstProcessWatch, RunRecord, first_process_named,
                                       holds_checkpoints, no_room_to_start, raise_lost_interrupt, read_status,
                                       register_resolvers, run_isolated, val_loss, watching_launched_processes)
from vae_lightning.paper.module import VAEModule, divergence_advice, stage_metrics

log = logging.getLogger(__name__)


def resolved(config: DictConfig) -> Any:
    """A resolved copy made of dicts, lists and scalars, safe to store in checkpoints."""
    return OmegaConf.to_container(config, resolve=True)


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Seed, data, model, trainer, fit, then score the best checkpoint: what results.json holds."""
    release_slurm_warning()  # the run's RunRecord is in place to record it
    checkpoint = resume_point(cfg, run_dir)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
        # Lightning's DDP launcher sets a count of its own (the cores over the processes) unless this says one.
        os.environ["OMP_NUM_THREADS"] = str(cfg.torch_threads)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate_trusted(resolved(cfg.data), "data")
    module = build_module(cfg)
    trainer = build_trainer(cfg, run_dir, resumed_at=resumed_step(checkpoint, bool(cfg.resume)))

    started = time.perf_counter()
    with watching_launched_processes(trainer.strategy.launcher, run_dir):
        trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)
    train_seconds = time.perf_counter() - started

    best = best_checkpoint(trainer)
    val, test = score(trainer, module, datamodule, best)
    check_finite(val, test, best, cfg.clip)
    results = {
        "val": val,
        "test": test,
        "epochs": trainer.current_epoch,
        "train_seconds": round(train_seconds, 3),
        # Of the real folder, as Lightning names its checkpoints: not `../../<real>/...` under a symbolic link.
        "checkpoint": os.path.relpath(best, run_dir.resolve()) if best else None,
    }
    # A search's pruner stopped the run after this epoch (hydra_plugins/vae_lightning_optuna/pruning.py).
    pruned = [callback.pruned_epoch for callback in trainer.callbacks if getattr(callback, "pruned_epoch", None)]
    if pruned:
        results["pruned_epoch"] = pruned[0]
    if trainer.current_epoch < trainer.max_epochs and any(
            isinstance(callback, EarlyStopping) and callback.stopping_reason is not EarlyStoppingReason.NOT_STOPPED
            for callback in trainer.callbacks):
        # Resumed with as many epochs, the restored EarlyStopping, its patience spent, would stop the run again
        # after one more epoch: each `resume=true` of the completed run trained it further (nothing_to_resume).
        results["stopped_early"] = {"max_epochs": trainer.max_epochs}
    log_hparams(trainer, cfg, results)
    if trainer.is_global_zero:
        write_json(run_dir / RESULTS_FILE, results)
        log.info("test loss %.4f; outputs in %s", test.get("loss", float("nan")), run_dir)
    return results


def build_module(cfg: DictConfig) -> VAEModule:
    return VAEModule(model=resolved(cfg.model), loss=resolved(cfg.loss), optim=resolved(cfg.optim), eval_seed=cfg.seed,
                     x_axis=cfg.x_axis)


def resumed_step(checkpoint: str | None, resume: bool) -> int | None:
    """The training step a resumed run continues from (None for a fresh run). A run resume=true starts again,
    having no checkpoint yet, continues from step 0: TensorBoard showed its earlier attempt's steps twice."""
    if checkpoint is None:
        return 0 if resume else None
    return torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)["global_step"]


def build_trainer(cfg: DictConfig, run_dir: Path | None = None, resumed_at: int | None = None) -> L.Trainer:
    """The Trainer of `cfg.trainer`, with the run's loggers and callbacks (`~logger`, `~callbacks`:
    none), and its clip (section 3.3), which the module applies in `configure_gradient_clipping`.
    Whatever Lightning writes by default (its own checkpoints, without the checkpoint callback) goes
    into `run_dir`, never the working folder. A run resumed at step `resumed_at` logs again what it
    logged past it: TensorBoard is told to drop those earlier points (torch's `purge_step`), and with
    x_axis=epoch, the epoch-level ones are dropped from the earlier event files (EarlierEpochPoints)."""
    loggers = build_loggers(cfg, resumed_at)
    earlier_points = [EarlierEpochPoints(Path(logger.log_dir)) for logger in loggers
                      if resumed_at is not None and cfg.x_axis == "epoch" and isinstance(logger, TensorBoardLogger)]
    callbacks_config = with_mid_epoch_checkpoints(resolved(cfg.callbacks) if cfg.get("callbacks") else {})
    callbacks = [instantiate_trusted(node, f"callbacks.{name}") for name, node in callbacks_config.items()]
    for flag, kind in (("enable_progress_bar", ProgressBar), ("enable_checkpointing", ModelCheckpoint)):
        if cfg.trainer.get(flag) is False:
            # Lightning refuses such a callback beside the flag that turns it off: honour the flag.
            callbacks = [callback for callback in callbacks if not isinstance(callback, kind)]
    trainer_config = resolved(cfg.trainer)
    plugins = [instantiate_trusted(node, "trainer.plugins") for node in trainer_config.pop("plugins", None) or []]
    if SLURMEnvironment.detect():
        # Hydra's submitit launcher requeues jobs itself, and two requeuers fight over the signal.
        plugins.append(SLURMEnvironment(auto_requeue=False))
    # As each stage starts, Lightning puts its own SIGTERM handler before the run's, which waits for the first
    # process in a broadcast: a DDP process beside the first, signalled alone, waited there forever, and so
    # did the first, in its next exchange of gradients. The run's own (RunRecord's) is put back.
    own_sigterm = signal.getsignal(signal.SIGTERM)

    def keep_own_sigterm(*_: Any) -> None:
        signal.signal(signal.SIGTERM, own_sigterm)

    return instantiate_trusted(
        trainer_config,
        "trainer",
        gradient_clip_val=cfg.clip.value,
        gradient_clip_algorithm=cfg.clip.algorithm,
        logger=loggers or False,
        # Said once training starts, when Lightning's DDP launcher has set its count.
        callbacks=[*callbacks, *earlier_points, RunDefinition(run_definition(cfg)), RunFolder(), LambdaCallback(
            on_fit_start=lambda trainer, module: log.info("torch uses %d threads", torch.get_num_threads()),
            on_sanity_check_start=keep_own_sigterm, on_train_start=keep_own_sigterm,
            on_validation_start=keep_own_sigterm, on_test_start=keep_own_sigterm,
            # An interrupt the run's handler raised in a weakref callback or a __del__, which Python drops.
            on_train_batch_end=raise_lost_interrupt, on_validation_batch_end=raise_lost_interrupt,
            on_test_batch_end=raise_lost_interrupt)],
        plugins=plugins,
        default_root_dir=run_dir,
        # The data module shards each epoch across processes itself.
        use_distributed_sampler=False,
        # Plain dicts and lists, which Lightning tests for (trainer.max_time={hours: 12}), not OmegaConf's.
        _convert_="all",
    )


def build_loggers(cfg: DictConfig, resumed_at: int | None) -> list[Any]:
    """The loggers of `cfg.logger` (`~logger`: none); a TensorBoard logger of a run resumed at step
    `resumed_at` drops its points past it, which the run logs again (torch's `purge_step`)."""
    loggers = []
    for name, node in (cfg.get("logger") or {}).items():
        purge = {"purge_step": resumed_at} if resumed_at is not None and issubclass(
            get_class(node._target_), TensorBoardLogger) else {}
        loggers.append(instantiate_trusted(resolved(node), f"logger.{name}", **purge))
    return loggers


def best_checkpoint(trainer: L.Trainer) -> str | None:
    """The best checkpoint by val loss, or None (the final weights) when no validation ran."""
    checkpoint = trainer.checkpoint_callback
    if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_path:
        return checkpoint.best_model_path
    return None


def score(trainer: L.Trainer, module: VAEModule, datamodule: L.LightningDataModule,
          checkpoint: str | None) -> tuple[dict[str, float], dict[str, float]]:
    """The val and test losses of the best checkpoint's weights (the final weights when it is None)."""
    # Scoring val again must not add a point to the val curves the loggers hold.
    loggers, trainer.loggers = trainer.loggers, []
    val = trainer.validate(module, datamodule=datamodule, ckpt_path=checkpoint, verbose=False, weights_only=True)
    trainer.loggers = loggers
    test = trainer.test(module, datamodule=datamodule, ckpt_path=checkpoint, verbose=False, weights_only=True)
    return stage_metrics(val[0] if val else {}, "val"), stage_metrics(test[0] if test else {}, "test")


def check_finite(val: dict[str, float], test: dict[str, float], checkpoint: str | None, clip: DictConfig) -> None:
    """Raise NonFiniteLossError when the weights scored give a NaN or infinite loss: the last update
    diverged (the next training step would have stopped the run), and no validation kept a finite
    checkpoint to score instead."""
    losses = {"val": val.get("loss", 0.0), "test": test.get("loss", 0.0)}
    if not all(math.isfinite(loss) for loss in losses.values()):
        raise NonFiniteLossError(
            f"val loss {losses['val']}, test loss {losses['test']} with {checkpoint or 'the final weights'}: the "
            f"last update diverged; {divergence_advice(clip.value, clip.algorithm)}"
        )


def is_first_process() -> bool:
    """False in the processes a distributed launcher (Lightning's DDP, torchrun, SLURM) starts beside
    the first: they train in the first one's run folder, which that one alone checks and records.

    Lightning reads the rank from the launcher's environment before any Trainer exists; a further
    node of Lightning's own multi-node launch is told apart only by NODE_RANK.
    """
    return rank_zero_only.rank == 0 and os.environ.get("NODE_RANK", "0") == "0"


def resume_point(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint to continue from, or None for a fresh run."""
    if not cfg.resume:
        return None
    in_a_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    checkpoint = checkpoint_to_resume(run_dir, run_definition(cfg), sweep=in_a_sweep)  # passes over partial writes
    if is_first_process():
        remove_partial_writes(run_dir / "checkpoints")
        keep_previous_metrics(run_dir)
    if checkpoint is None and in_a_sweep:
        # A job a resumed sweep adds, or one it never reached: every such job would warn.
        log.info("%s holds no checkpoint yet: the job starts from its beginning", run_dir)
    elif checkpoint is None:
        # A warning: a misspelt hydra.run.dir reads the same, and the run is then a new one.
        log.warning("resume=true, but %s holds no checkpoint yet: the run starts from its beginning", run_dir)
    if checkpoint is None:
        return None
    log.info("resuming from %s; an epoch that was interrupted restarts from its first batch", checkpoint)
    return str(checkpoint)


def keep_previous_metrics(run_dir: Path) -> None:
    """Lightning's CSVLogger deletes an existing metrics.csv; on resume, move each one aside first."""
    for metrics in run_dir.rglob("metrics.csv"):
        index = len(list(metrics.parent.glob("metrics.*.csv")))
        metrics.rename(metrics.with_name(f"metrics.{index}.csv"))


def nothing_to_resume(cfg: DictConfig, run_dir: Path) -> bool:
    """True, said, for a completed run that `resume=true` has nothing to add to: as many epochs as asked for.
    ConfigError when the run in `run_dir` was trained as another (a changed clip.value): a completed
    run whose checkpoints were deleted has nothing to compare with, and nothing to continue."""
    if not cfg.resume:
        return False
    previous = read_status(run_dir)
    results = (previous or {}).get("results", {})
    epochs, wanted = results.get("epochs", 0), cfg.trainer.get("max_epochs")
    # A run EarlyStopping ended has all the epochs it asked for; only a larger limit gives it more.
    limit = max(epochs, results.get("stopped_early", {}).get("max_epochs", 0))
    completed = bool(previous and previous["status"] == "completed" and wanted not in (None, -1) and wanted <= limit)
    if not completed or holds_checkpoints(run_dir):
        checkpoint_to_resume(run_dir, run_definition(cfg), sweep=HydraConfig.get().mode == RunMode.MULTIRUN)
    if completed:
        log.info("%s completed already (epochs: %s); nothing to resume", run_dir, epochs)
    return completed


def run_job(cfg: DictConfig, run_dir: Path) -> int:
    """Train and record the outcome in run_dir/status.json; returns the exit code, 0 when completed."""
    if int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0:
        # Requeued by submitit at a time limit or on preemption: continue from the last checkpoint.
        with open_dict(cfg):
            cfg.resume = True
    if not is_first_process():
        with FirstProcessWatch(run_dir) as watch:
            with RunRecord(run_dir, first=False) as process:
                train(cfg, run_dir)
            watch.wait_for_the_first(process)
        return watch.final_exit_code(process)
    record = None
    try:
        record = RunRecord(run_dir)
        completed = nothing_to_resume(cfg, run_dir)  # before status.json says anything: it keeps the run's outcome
    except ConfigError as error:
        if record is not None:
            record.release()
        log.error("%s", error)
        return 2
    if completed:
        record.release()
        drop_resumed_config(run_dir)
        return 0
    with record, first_process_named():
        record.complete(train(cfg, run_dir))
    # At once, not when the record is collected: a reference cycle anywhere below train() keeps it, and
    # the folder would stay locked to whatever this process does next (a notebook's evaluate).
    record.release()
    return record.exit_code


def drop_resumed_config(run_dir: Path) -> None:
    """A resume with nothing to do leaves the run as it was, without the config Hydra saved for it
    (`.hydra/resumed-<time>/`, conf/config.yaml's `config_subdir`), which would say it was resumed."""
    saved = HydraConfig.get().output_subdir if HydraConfig.initialized() else None
    if saved and Path(saved).name.startswith("resumed-"):
        remove(run_dir / saved)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> float:
    """One job; returns its val loss, for Hydra's optimising sweepers (inf for a failed job)."""
    quiet_known_warnings()  # a Slurm job's process starts here, not in main()
    hydra_config = HydraConfig.get()
    drop_local_keys_not_taken(cfg, hydra_config)  # as the check did
    run_dir = Path(hydra_config.runtime.output_dir)
    if hydra_config.mode != RunMode.MULTIRUN or runs_in_its_own_process(hydra_config.launcher):
        code = run_job(cfg, run_dir)
        if code and hydra_config.mode != RunMode.MULTIRUN:
            raise SystemExit(code)
        if hydra_config.mode != RunMode.MULTIRUN:
            name_its_sweep(run_dir)
        if code == 128 + signal.SIGUSR2:  # requeued on Slurm: end without a result, the requeue runs it
            raise SystemExit(code)
    else:
        run_isolated(run_job, cfg, run_dir, hydra_config.job_logging)
    loss = val_loss(run_dir)
    return float("inf") if loss is None else loss


def name_its_sweep(run_dir: Path) -> None:
    """Say where to draw a sweep's summary and figures again, which a job of it continued as a single run
    (`hydra.run.dir=<sweep>/<job> resume=true`) leaves as they were drawn: unless drawn since the job's outcome."""
    sweep, summary = run_dir.parent, run_dir.parent / "summary.md"
    if not (sweep / "multirun.yaml").exists() or not is_first_process():
        return
    if not summary.exists() or summary.stat().st_mtime < (run_dir / STATUS_FILE).stat().st_mtime:
        log.warning("%s is a job of the sweep in %s, whose summary.md and figures show the job as it was when they "
                    "were drawn; python -m vae_lightning.plot %s draws them again", run_dir.name, sweep, sweep)


def quiet_known_warnings() -> None:
    """Silence what Lightning says that a user of this project cannot act on, or that is untrue here:
    its own use of a deprecated torch API (torch >= 2.10), an advert for a hosted logger, advice to
    prepend `srun` wherever srun exists (a sweep reaches Slurm through hydra/launcher=slurm), and on
    resume that earlier logs will be deleted (the run moved them aside: metrics.0.csv, ...)."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r".*The `srun` command is available on your system but is not used")
    warnings.filterwarnings("ignore", message=r".*Previous log files in this directory will be deleted")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(not_an_advert)


def not_an_advert(record: logging.LogRecord) -> bool:
    return "litlogger" not in record.getMessage()


def main() -> None:
    """`python train.py [overrides]`: every job's config is checked before anything is written."""
    with stopped_in_one_line():  # until the check has passed, from which on a run records its signals
        register_resolvers()
        # Hydra finds plugins by scanning the hydra_plugins package, which an editable install can hide; it has
        # no public way to add one, and its plugin registry (hydra.core.plugins) is where the scan puts them.
        Plugins.instance().register(ParallelLauncher)
        Plugins.instance().register(SlurmLauncher)
        Plugins.instance().register(OptunaSweeper)
        quiet_known_warnings()
        arguments, sweep_lock = check_command_line(sys.argv[1:], is_first_process())
    sys.argv = [sys.argv[0], *arguments]
    # Hydra says an error of its own work in a traceback: its write of a job's .hydra/ on a full disk, before any
    # code of the project runs in the job. Raised instead (Hydra's own switch), that is said in one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        hydra_main()
    except OSError as error:
        failure = no_room_to_start(error, HydraConfig.instance().cfg, sweep=sweep_lock is not None)
        if failure is None:
            raise
        say_error(str(failure))
        raise SystemExit(1) from None
    if sweep_lock is not None:
        sweep_lock.close()
