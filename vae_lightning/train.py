"""The `python train.py` entry point: compose the config, train, test, and write results.json."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from omegaconf import DictConfig, OmegaConf

from vae_lightning.errors import ConfigError, UserInputError
from vae_lightning.module import VAEModule
from vae_lightning.rundir import register_resolvers
from vae_lightning.targets import instantiate_trusted

log = logging.getLogger(__name__)
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
STAGES = ("val", "test")
TERMS = ("loss", "reconstruction", "kl")

register_resolvers()


def plain(config: DictConfig) -> Any:
    """A resolved copy made of dicts, lists and scalars, safe to store in checkpoints."""
    return OmegaConf.to_container(config, resolve=True)


def build_module(cfg: DictConfig) -> VAEModule:
    return VAEModule(model=plain(cfg.model), loss=plain(cfg.loss), optim=plain(cfg.optim), eval_seed=cfg.seed)


def check_clip(clip: DictConfig) -> None:
    # Lightning would clip by norm when given a threshold but no algorithm: refuse the ambiguity.
    if clip.algorithm is None and clip.value is not None:
        raise ConfigError(
            f"clip.value={clip.value} has no effect with clip=none; choose clip=value or clip=norm, or drop clip.value"
        )


def build_trainer(cfg: DictConfig) -> L.Trainer:
    check_clip(cfg.clip)
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


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, then score the best checkpoint on val and test; returns what results.json holds."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    log.info("torch uses %d threads", torch.get_num_threads())
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate_trusted(plain(cfg.data))
    module = build_module(cfg)
    trainer = build_trainer(cfg)

    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    train_seconds = time.perf_counter() - started

    checkpoint = best_checkpoint(trainer)
    # Re-scoring val must not add a point to the val curves the loggers already hold.
    loggers, trainer.loggers = trainer.loggers, []
    val = trainer.validate(module, datamodule=datamodule, ckpt_path=checkpoint, verbose=False)
    trainer.loggers = loggers
    test = trainer.test(module, datamodule=datamodule, ckpt_path=checkpoint, verbose=False)
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


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Train one run; returns the val loss so that Hydra sweepers can optimise it."""
    try:
        results = train(cfg)
    except UserInputError as error:
        log.error("%s", error)
        raise SystemExit(2) from None
    return results["val"].get("loss")


if __name__ == "__main__":
    main()
