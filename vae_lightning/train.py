"""The `python train.py` entry point: check the config, train, test, and record the outcome."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from vae_lightning.checkpoints import checkpoint_to_resume, remove_partial_writes
from vae_lightning.errors import ConfigError, NonFiniteLossError, UserInputError
from vae_lightning.module import VAEModule
from vae_lightning.rundir import register_resolvers
from vae_lightning.schema import check_ranges, register_schemas
from vae_lightning.sweep import read_status, run_isolated, write_status
from vae_lightning.targets import instantiate_trusted

log = logging.getLogger(__name__)
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
TERMS = ("loss", "reconstruction", "kl")
# What a run's exit code says: 2 the input (config, data) is wrong, 3 the loss became NaN or infinite.
EXIT_CODES: dict[type[BaseException], int] = {UserInputError: 2, NonFiniteLossError: 3}

register_resolvers()
register_schemas()
# Lightning 2.6 on torch >= 2.10 warns about its own use of a deprecated torch API, and advertises
# a hosted logger on every run; neither is anything a user of this project can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: "litlogger" not in record.getMessage()
)


def plain(config: DictConfig) -> Any:
    """A resolved copy made of dicts, lists and scalars, safe to store in checkpoints."""
    return OmegaConf.to_container(config, resolve=True)


def build_module(cfg: DictConfig) -> VAEModule:
    return VAEModule(model=plain(cfg.model), loss=plain(cfg.loss), optim=plain(cfg.optim), eval_seed=cfg.seed)


def build_trainer(cfg: DictConfig) -> L.Trainer:
    loggers = [instantiate_trusted(plain(node)) for node in cfg.logger.values()]
    callbacks = [instantiate_trusted(plain(node)) for node in cfg.callbacks.values()]
    if cfg.trainer.get("enable_progress_bar") is False:
        # Lightning refuses a progress-bar callback beside enable_progress_bar=false: honour the flag.
        callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
    trainer = instantiate_trusted(
        plain(cfg.trainer),
        gradient_clip_val=cfg.clip.value,
        gradient_clip_algorithm=cfg.clip.algorithm,
        logger=loggers or False,
        callbacks=callbacks,
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


def stage_metrics(metrics: dict[str, Any], stage: str) -> dict[str, float]:
    return {term: float(metrics[f"{stage}/{term}"]) for term in TERMS if f"{stage}/{term}" in metrics}


def best_checkpoint(trainer: L.Trainer) -> str | None:
    """The best checkpoint by val loss, or None (the final weights) when no validation ran."""
    checkpoint = trainer.checkpoint_callback
    if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_path:
        return checkpoint.best_model_path
    return None


def write_json(path: Path, content: dict[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(temporary, path)


def keep_previous_metrics(run_dir: Path) -> None:
    """Lightning's CSVLogger deletes an existing metrics.csv; on resume, move each one aside first."""
    for metrics in run_dir.rglob("metrics.csv"):
        index = len(list(metrics.parent.glob("metrics.*.csv")))
        metrics.rename(metrics.with_name(f"metrics.{index}.csv"))


def flat(config: Any, prefix: str) -> dict[str, Any]:
    if isinstance(config, dict):
        return {k: v for key, value in config.items() for k, v in flat(value, f"{prefix}.{key}").items()}
    return {prefix: config}


def check_same_run(cfg: DictConfig, checkpoint: Path) -> None:
    """Refuse to resume with a model, loss, optimizer, data or seed other than the run's own."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    module, data = saved["hyper_parameters"], dict(saved.get("datamodule_hyper_parameters", {}))
    then = {**flat(module["model"], "model"), **flat(module["loss"], "loss"), **flat(module["optim"], "optim"),
            **flat(data, "data"), "seed": module["eval_seed"]}
    now = {**flat(plain(cfg.model), "model"), **flat(plain(cfg.loss), "loss"), **flat(plain(cfg.optim), "optim"),
           **flat(plain(cfg.data), "data"), "seed": cfg.seed}
    for key in sorted(then):
        if key not in ("data.root", "data.download") and then[key] != now.get(key):
            raise ConfigError(
                f"resume=true with {key}={now.get(key)}, but the run was trained with {then[key]}: "
                f"resume with the run's own overrides (its .hydra/overrides.yaml)"
            )


def is_first_process() -> bool:
    """False in the processes a distributed launcher (Lightning's DDP, torchrun, SLURM) starts beside
    the first: they train in the first one's run folder, which that one alone checks and records.

    Lightning reads the rank from the launcher's environment before any Trainer exists; a further
    node of Lightning's own multi-node launch is told apart only by NODE_RANK.
    """
    return rank_zero_only.rank == 0 and os.environ.get("NODE_RANK", "0") == "0"


def resume_point(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint to continue from, or None for a fresh run; refuses to overwrite another run."""
    checkpoints = run_dir / "checkpoints"
    first = is_first_process()
    if not cfg.resume:
        if first and (any(checkpoints.glob("*.ckpt")) or (run_dir / "results.json").exists()):
            raise ConfigError(
                f"{run_dir} already holds a run; pass resume=true to continue it, or choose another hydra.run.dir"
            )
        return None
    if first:
        remove_partial_writes(run_dir)
    checkpoint = checkpoint_to_resume(run_dir)
    check_same_run(cfg, checkpoint)
    if first:
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
    datamodule = instantiate_trusted(plain(cfg.data))
    module = build_module(cfg)
    trainer = build_trainer(cfg)

    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    train_seconds = time.perf_counter() - started

    checkpoint = best_checkpoint(trainer)
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
    if trainer.is_global_zero:
        write_json(run_dir / "results.json", results)
        log.info("test loss %.4f; outputs in %s", results["test"].get("loss", float("nan")), run_dir)
    return results


def exit_code(error: BaseException) -> int:
    return next((code for kind, code in EXIT_CODES.items() if isinstance(error, kind)), 1)


def run_job(cfg: DictConfig, run_dir: Path) -> int:
    """Train and record the outcome in run_dir/status.json; returns the exit code, 0 when completed."""
    if not is_first_process():
        train(cfg, run_dir)
        return 0
    previous = read_status(run_dir)
    if previous and not cfg.resume:
        log.error("%s already holds a run; pass resume=true to continue it, or choose another hydra.run.dir", run_dir)
        return EXIT_CODES[UserInputError]
    if previous and previous["status"] == "completed":
        log.info("%s completed already; nothing to resume", run_dir)
        return 0
    write_status(run_dir, "running")
    try:
        results = train(cfg, run_dir)
    except KeyboardInterrupt:
        write_status(run_dir, "failed", error="interrupted (Ctrl-C)")
        raise
    except (Exception, SystemExit) as error:
        description = str(error) if isinstance(error, (UserInputError, NonFiniteLossError)) else repr(error)
        if isinstance(error, (UserInputError, NonFiniteLossError)):
            log.error("%s", error)
        else:
            log.exception("training failed")
        write_status(run_dir, "failed", error=description, exit_code=exit_code(error))
        return exit_code(error)
    write_status(run_dir, "completed", results=results)
    return 0


def val_loss(run_dir: Path) -> float | None:
    status = read_status(run_dir) or {}
    return status.get("results", {}).get("val", {}).get("loss")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    """One job: in this process for a single run, in a process of its own within a sweep.

    Returns the val loss, so that Hydra's optimising sweepers can use it.
    """
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir)
    if hydra_config.mode == RunMode.MULTIRUN:
        run_isolated(run_job, cfg, run_dir, hydra_config.job_logging)
    else:
        code = run_job(cfg, run_dir)
        if code:
            raise SystemExit(code)
    return val_loss(run_dir)


def main() -> None:
    """`python train.py [overrides]`: every job's config is checked before anything is written."""
    from vae_lightning.cli import check_command_line

    check_command_line(sys.argv[1:])
    hydra_main()


if __name__ == "__main__":
    main()
