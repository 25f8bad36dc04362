"""`hydra/sweeper=optuna`: an Optuna study (Optuna >= 4) that prunes trials, under the name Hydra requires
of plugins."""

from hydra_plugins.vae_lightning_optuna.optuna_sweeper import OptunaSweeper

__all__ = ["OptunaSweeper"]
