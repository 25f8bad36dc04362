"""Configs read back from disk build only the classes the project's configs name, by exact name."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae_lightning.paper.errors import ConfigError
from vae_lightning.paper.module import VAEModule
from vae_lightning.paper.build import check_targets, instantiate_trusted

# A class of an allowed package that acts when built: it starts a process (issue 11, item 1).
SUBPROCESS_HANDLER = "torch.distributed.elastic.multiprocessing.subprocess_handler.subprocess_handler.SubprocessHandler"


def command_running_config(marker: Path) -> dict:
    return {"_target_": SUBPROCESS_HANDLER, "entrypoint": "touch", "args": [str(marker)], "env": {},
            "stdout": None, "stderr": None, "local_rank_id": 0, "numa_options": None}


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "torch.load", "torch.hub.load",
                                    "torch.nn.Linear", SUBPROCESS_HANDLER])
def test_targets_off_the_list_are_refused(target: str) -> None:
    with pytest.raises(ConfigError, match=f"optim._target_={target} is not a class this project builds"):
        check_targets({"optim": {"_target_": target, "f": "echo owned"}})


def test_listed_classes_are_built_and_the_list_extends_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(instantiate_trusted({"_target_": "vae_lightning.paper.loss.VAELoss"}), torch.nn.Module)
    with pytest.raises(ConfigError, match="VAE_LIGHTNING_ALLOWED_TARGETS"):
        check_targets({"_target_": "collections.OrderedDict"})
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "collections.OrderedDict, torch.nn.Linear")
    check_targets({"_target_": "collections.OrderedDict"})
    with pytest.raises(ConfigError):  # a name, not a package: the rest of collections stays out
        check_targets({"_target_": "collections.Counter"})


def evil_checkpoint(path: Path, marker: Path) -> Path:
    module = VAEModule(model={"_target_": "vae_lightning.paper.model.VAE", "hidden_dims": [8], "latent_dim": 2},
                       loss={"_target_": "vae_lightning.paper.loss.VAELoss"},
                       optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})
    checkpoint = {"state_dict": module.state_dict(), "pytorch-lightning_version": "2.6.0",
                  "hyper_parameters": dict(module.hparams, model=command_running_config(marker))}
    path.mkdir(parents=True)
    torch.save(checkpoint, path / "best.ckpt")
    return path / "best.ckpt"


def test_a_checkpoint_cannot_start_a_process_through_load_from_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    checkpoint = evil_checkpoint(tmp_path / "run" / "checkpoints", marker)
    with pytest.raises(ConfigError, match=f"model._target_={SUBPROCESS_HANDLER} is not a class this project builds"):
        VAEModule.load_from_checkpoint(checkpoint, weights_only=True)
    assert not marker.exists()


def test_a_checkpoint_cannot_start_a_process_through_evaluate(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    evil_checkpoint(tmp_path / "run" / "checkpoints", marker)
    done = subprocess.run([sys.executable, "-m", "vae_lightning.analysis.evaluate", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"model._target_={SUBPROCESS_HANDLER} is not a class this project builds" in done.stderr
    assert not marker.exists()
