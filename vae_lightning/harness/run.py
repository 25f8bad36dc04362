"""`python train.py`: check the command line, then run each job: train, test, record the outcome."""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.types import RunMode
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.vae_lightning_launcher import ParallelLauncher
from vae_lightning.harness.checkpoints import checkpoint_to_resume, with_mid_epoch_checkpoints
from vae_lightning.harness.command_line import check_command_line
from vae_lightning.harness.files import remove_partial_writes, write_json
from vae_lightning.harness.folders import register_resolvers
from vae_lightning.harness.hparams import METRICS, log_comparison
from vae_lightning.harness.jobs import run_isolated, runs_jobs_in_their_own_processes
from vae_lightning.harness.runs import RESULTS_FILE, hold, read_status, val_loss, write_status
from vae_lightning.configs import CONFIG_DIR, instantiate_trusted
from vae_lightning.harness.schema import check_ranges, register_schemas
from vae_lightning.errors import ConfigError, NonFiniteLossError, UserInputError
from vae_lightning.paper.module import VAEModule, stage_metrics

log = logging.getLogger(__name__)
# What a run's exit code says: 2 the input (config, data) is wrong, 3 the loss became NaN or infinite.
EXIT_CODES: dict[type[BaseException], int] = {UserInputError: 2, NonFiniteLossError: 3}


def plain(config: DictConfig) -> Any:
    """A resolved copy made of dicts, lists and scalars, safe to store in checkpoints."""
    return OmegaConf.to_container(config, resolve=True)


def build_module(cfg: DictConfig) -> VAEModule:
    return VAEModule(model=plain(cfg.model), loss=plain(cfg.loss), optim=plain(cfg.optim), eval_seed=cfg.seed,
                     x_axis=cfg.x_axis)


def build_plugins(cfg: DictConfig) -> list[Any]:
    """The trainer's plugins; in a Slurm job also Lightning's SLURM environment, with its auto-requeue
    off: Hydra's submitit launcher requeues jobs itself, and two requeuers fight over the signal."""
    plugins = [instantiate_trusted(node, "trainer.plugins") for node in plain(cfg.trainer).get("plugins") or []]
    if SLURMEnvironment.detect():
        plugins.append(SLURMEnvironment(auto_requeue=False))
    return plugins


def build_trainer(cfg: DictConfig) -> L.Trainer:
    loggers = [instantiate_trusted(plain(node), f"logger.{name}") for name, node in cfg.logger.items()]
    callbacks_config = with_mid_epoch_checkpoints(plain(cfg.callbacks))
    callbacks = [instantiate_trusted(node, f"callbacks.{name}") for name, node in callbacks_config.items()]
    if cfg.trainer.get("enable_progress_bar") is False:
        # Lightning refuses a progress-bar callback beside enable_progress_bar=false: honour the flag.
        callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
    trainer = instantiate_trusted(
        plain(cfg.trainer),
        "trainer",
        gradient_clip_val=cfg.clip.value,
        gradient_clip_algorithm=cfg.clip.algorithm,
        logger=loggers or False,
        callbacks=callbacks,
        plugins=build_plugins(cfg),
        # The data module shards each epoch across processes itself.
        use_distributed_sampler=False,
    )
    for logger in trainer.loggers:
        logger.log_hyperparams(run_hyperparameters(cfg))
    return trainer


def run_hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    """What identifies a run in TensorBoard's HPARAMS tab: the config minus loggers and callbacks."""
    config = plain(cfg)
    return {key: value for key, value in config.items() if key not in ("logger", "callbacks", "hydra")}


def best_checkpoint(trainer: L.Trainer) -> str | None:
    """The best checkpoint by val loss, or None (the final weights) when no validation ran."""
    checkpoint = trainer.checkpoint_callback
    if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_path:
        return checkpoint.best_model_path
    return None


def holds_the_weights_in_memory(trainer: L.Trainer, checkpoint: str | None) -> bool:
    """True when `checkpoint` was written at the step training ended on: it holds the weights in memory."""
    if checkpoint is None:
        return False
    # Memory-mapped: only the step is read, not the weights.
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    return saved.get("global_step") == trainer.global_step


def keep_previous_metrics(run_dir: Path) -> None:
    """Lightning's CSVLogger deletes an existing metrics.csv; on resume, move each one aside first."""
    for metrics in run_dir.rglob("metrics.csv"):
        index = len(list(metrics.parent.glob("metrics.*.csv")))
        metrics.rename(metrics.with_name(f"metrics.{index}.csv"))


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
    if is_first_process():
        remove_partial_writes(run_dir / "checkpoints")
    checkpoint = checkpoint_to_resume(run_dir, plain(cfg))
    if checkpoint is None:
        log.info("resume=true, but %s holds no checkpoint yet: the run starts from its beginning", run_dir)
        return None
    if is_first_process():
        keep_previous_metrics(run_dir)
    log.info("resuming from %s; an epoch that was interrupted restarts from its first batch", checkpoint)
    return str(checkpoint)


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Fit, then score the best checkpoint on val and test; returns what results.json holds."""
    check_ranges(cfg)
    ckpt_path = resume_point(cfg, run_dir)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    log.info("torch uses %d threads", torch.get_num_threads())
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate_trusted(plain(cfg.data), "data")
    module = build_module(cfg)
    trainer = build_trainer(cfg)

    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    train_seconds = time.perf_counter() - started
    last_val_loss = trainer.callback_metrics.get(METRICS[0])

    checkpoint = best_checkpoint(trainer)
    if holds_the_weights_in_memory(trainer, checkpoint):
        # The last validation scored these very weights: no reload, no second validation.
        val = [{name: value for name, value in trainer.callback_metrics.items() if name.startswith("val/")}]
        test = trainer.test(module, datamodule=datamodule, verbose=False)
    else:
        # Re-scoring val must not add a point to the val curves the loggers already hold.
        loggers, trainer.loggers = trainer.loggers, []
        val = trainer.validate(module, datamodule=datamodule, ckpt_path=checkpoint, verbose=False, weights_only=True)
        trainer.loggers = loggers
        test = trainer.test(module, datamodule=datamodule, ckpt_path=checkpoint, verbose=False, weights_only=True)
    results = {
        "val": stage_metrics(val[0] if val else {}, "val"),
        "test": stage_metrics(test[0] if test else {}, "test"),
        "epochs": trainer.current_epoch,
        "train_seconds": round(train_seconds, 3),
        "checkpoint": os.path.relpath(checkpoint, run_dir) if checkpoint else None,
    }
    if last_val_loss is not None and "loss" in results["test"]:
        # val/loss: the last epoch's, as in summary.md; test/loss: the best checkpoint's, as in results.json.
        x = trainer.current_epoch if cfg.x_axis == "epoch" else trainer.global_step
        log_comparison(trainer, cfg, {METRICS[0]: float(last_val_loss), METRICS[1]: results["test"]["loss"]}, x)
    if trainer.is_global_zero:
        write_json(run_dir / RESULTS_FILE, results)
        log.info("test loss %.4f; outputs in %s", results["test"].get("loss", float("nan")), run_dir)
    return results


def full_disk(error: BaseException) -> OSError | None:
    """The 'no space left on device' error behind `error` (Lightning may wrap it), if that is what it is."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return error
        error = error.__cause__ or error.__context__
    return None


def failure_message(error: BaseException) -> str | None:
    """One line for a failure the user can act on (bad input, a NaN, a full disk); None for a crash."""
    if isinstance(error, (UserInputError, NonFiniteLossError)):
        return str(error)
    disk = full_disk(error)
    if disk is not None:
        return f"no space left on device writing {disk.filename or 'a file'}: free some space, then resume=true"
    return None


def exit_code(error: BaseException) -> int:
    return next((code for kind, code in EXIT_CODES.items() if isinstance(error, kind)), 1)


class Interrupted(BaseException):
    """The run was stopped by a signal: Ctrl-C (SIGINT), or SIGTERM (`kill`, Slurm's `scancel`
    and time limit). A BaseException, as KeyboardInterrupt, so that nothing on the way catches it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signal = signal.Signals(signum)
        self.exit_code = 128 + signum  # what a shell reports for a process a signal stopped


def raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `Interrupted`. Lightning would turn Ctrl-C into
    `sys.exit(1)` and delay SIGTERM to the next batch; its own SIGTERM handler still runs first."""
    previous = {signum: signal.signal(signum, raise_interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def requeued_by_slurm() -> bool:
    """True in a Slurm job that was requeued (submitit requeues a job at its time limit or on
    preemption): it then continues from its last checkpoint, as with resume=true."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0


@contextmanager
def requeue_interrupts() -> Iterator[None]:
    """In a job of Hydra's submitit launcher, submitit's SIGUSR2 handler (the warning before a time
    limit, or preemption) requeues the job, then calls sys.exit; within the block that exit becomes
    `Interrupted(SIGUSR2)`, which run_job records like any interrupt."""
    requeue = signal.getsignal(signal.SIGUSR2)
    if not callable(requeue):
        yield
        return

    def requeue_then_interrupt(signum: int, frame: Any) -> None:
        # Requeueing makes Slurm send this job SIGTERM: once requeued, that is no interrupt of its own.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            requeue(signum, frame)
        except SystemExit:
            raise Interrupted(signum) from None

    signal.signal(signal.SIGUSR2, requeue_then_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR2, requeue)


def run_job(cfg: DictConfig, run_dir: Path) -> int:
    """Train and record the outcome in run_dir/status.json; returns the exit code, 0 when completed."""
    if requeued_by_slurm():
        with open_dict(cfg):
            cfg.resume = True
    if not is_first_process():
        train(cfg, run_dir)
        return 0
    try:
        lock = hold(run_dir)
    except ConfigError as error:
        log.error("%s", error)
        return EXIT_CODES[UserInputError]
    with lock:
        previous = read_status(run_dir)
        if cfg.resume and previous and previous["status"] == "completed":
            log.info("%s completed already; nothing to resume", run_dir)
            return 0
        write_status(run_dir, "running")
        try:
            with interrupts_raised():
                results = train(cfg, run_dir)
        except Interrupted as interrupt:
            log.error("interrupted by %s; resume=true continues from the last checkpoint", interrupt.signal.name)
            write_status(run_dir, "interrupted", error=f"interrupted by {interrupt.signal.name}",
                         signal=interrupt.signal.name, exit_code=interrupt.exit_code)
            return interrupt.exit_code
        except (Exception, SystemExit) as error:
            code, message = exit_code(error), failure_message(error)
            if message is None:
                log.exception("training failed")
            else:
                log.error("%s", message)
            # On a full disk the failed write removed its temporary file: the few bytes of status.json fit.
            write_status(run_dir, "failed", error=message or repr(error), exit_code=code)
            return code
        write_status(run_dir, "completed", results=results)
        return 0


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> float:
    """One job: in this process for a single run, in a process of its own within a sweep.

    Returns the val loss, so that Hydra's optimising sweepers can use it.
    """
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir)
    if hydra_config.mode != RunMode.MULTIRUN:
        code = run_job(cfg, run_dir)
        if code:
            raise SystemExit(code)
    elif runs_jobs_in_their_own_processes(hydra_config.launcher):
        # A Slurm job is a process of its own already, which Slurm's signals reach directly.
        with requeue_interrupts():
            code = run_job(cfg, run_dir)
        if code == Interrupted(signal.SIGUSR2).exit_code:
            # Requeued: end without a result, or the launcher would take this run's as the job's.
            raise SystemExit(code)
    else:
        run_isolated(run_job, cfg, run_dir, hydra_config.job_logging)
    loss = val_loss(run_dir)
    # An optimising sweeper (Optuna) records a failed or diverged job as the worst value and goes on.
    return float("inf") if loss is None else loss


def quiet_known_warnings() -> None:
    """Lightning 2.6 on torch >= 2.10 warns about its own use of a deprecated torch API, and
    advertises a hosted logger on every run; neither is anything a user of this project can act on."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage()
    )


def main() -> None:
    """`python train.py [overrides]`: every job's config is checked before anything is written."""
    register_resolvers()
    register_schemas()
    # Hydra finds plugins by scanning the hydra_plugins package, which an editable install can hide.
    Plugins.instance().register(ParallelLauncher)
    quiet_known_warnings()
    if is_first_process():  # the others are started by it, with its checked command line
        sys.argv = [sys.argv[0], *check_command_line(sys.argv[1:])]
    hydra_main()
