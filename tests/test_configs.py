"""Configs read back from disk build only the classes the project's configs name, by exact name."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import checkpoint_with
from vae_lightning.errors import ConfigError
from vae_lightning.paper.module import VAEModule
from vae_lightning.configs import check_targets, instantiate_trusted

# A class of an allowed package that acts when built: it starts a process (issue 11, item 1).
SUBPROCESS_HANDLER = "torch.distributed.elastic.multiprocessing.subprocess_handler.subprocess_handler.SubprocessHandler"


def command_running_config(marker: Path) -> dict:
    return {"_target_": SUBPROCESS_HANDLER, "entrypoint": "touch", "args": [str(marker)], "env": {},
            "stdout": None, "stderr": None, "local_rank_id": 0, "numa_options": None}


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "torch.load", "torch.hub.load",
                                    "torch.nn.Linear", SUBPROCESS_HANDLER])
def test_targets_off_the_list_are_refused(target: str) -> None:
    with pytest.raises(ConfigError, match=f"optim._target_={target} is not a class this project's configs name"):
        check_targets({"optim": {"_target_": target, "f": "echo owned"}})


def test_a_target_inside_a_list_is_checked_as_one_in_a_mapping() -> None:
    """A `_target_` in a list (callbacks, a model's layers) is held to the list as any other."""
    with pytest.raises(ConfigError, match=r"callbacks\[1\]._target_=os.system is not a class this project's configs"):
        check_targets({"callbacks": [{"_target_": "vae_lightning.paper.loss.VAELoss"}, {"_target_": "os.system"}]})


@pytest.mark.parametrize("value", [{0.1}, b"0.1", object()])
def test_a_value_that_is_not_plain_data_is_refused(value: object) -> None:
    """A set, bytes or any object in a config is refused: configs hold dicts, lists and scalars only."""
    with pytest.raises(ConfigError, match=rf"^optim.lr is a {type(value).__name__}: "
                                          rf"configs and checkpoints hold plain"):
        check_targets({"optim": {"_target_": "torch.optim.SGD", "lr": value}})


def test_listed_classes_are_built_and_the_list_extends_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(instantiate_trusted({"_target_": "vae_lightning.paper.loss.VAELoss"}), torch.nn.Module)
    with pytest.raises(ConfigError, match="VAE_LIGHTNING_ALLOWED_TARGETS"):
        check_targets({"_target_": "collections.OrderedDict"})
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "collections.OrderedDict, torch.nn.Linear")
    check_targets({"_target_": "collections.OrderedDict"})
    with pytest.raises(ConfigError):  # a name, not a package: the rest of collections stays out
        check_targets({"_target_": "collections.Counter"})


def test_an_allowed_class_whose_module_is_not_on_the_path_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # A run's own model class, evaluated where its module is not importable: three tracebacks.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "mymodel_not_on_this_path.WideVAE")
    with pytest.raises(ConfigError, match=r"^model: _target_ mymodel_not_on_this_path.WideVAE cannot be imported \(No "
                                          r"module named 'mymodel_not_on_this_path'\); put its module on the "
                                          r"PYTHONPATH$"):
        instantiate_trusted({"_target_": "mymodel_not_on_this_path.WideVAE"}, "model")


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
    with pytest.raises(ConfigError, match=f"model._target_={SUBPROCESS_HANDLER} is not a class this project's "
                                          f"configs name"):
        VAEModule.load_from_checkpoint(checkpoint, weights_only=True)
    assert not marker.exists()


class Touch:
    """Unpickled, it touches `marker`: what a pickled checkpoint may run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("weights_only,refusal", [
    (None, r": torch.load\(weights_only=True\) refuses it: not a checkpoint of tensors and plain data$"),
    (True, r": torch.load\(weights_only=True\) refuses it: not a checkpoint of tensors and plain data$"),
    (False, r"^weights_only=False would unpickle the checkpoint, which can run any code it holds; drop it"),
])
def test_load_from_checkpoint_never_unpickles_and_refuses_a_pickle_in_one_line(weights_only: bool | None, refusal: str,
                                                                               tmp_path: Path) -> None:
    # weights_only=False, as torch's multi-line refusal advises, ran the pickle's code.
    marker = tmp_path / "PWNED"
    torch.save({"state_dict": {}, "hyper_parameters": {"payload": Touch(marker)}}, tmp_path / "best.ckpt")
    with pytest.raises(ConfigError, match=refusal):
        VAEModule.load_from_checkpoint(tmp_path / "best.ckpt", weights_only=weights_only)
    assert not marker.exists()


def test_a_checkpoint_cannot_start_a_process_through_evaluate(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    evil_checkpoint(tmp_path / "run" / "checkpoints", marker)
    done = subprocess.run([sys.executable, "-m", "vae_lightning.analysis.evaluate", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"model._target_={SUBPROCESS_HANDLER} is not a class this project's configs name" in done.stderr
    assert not marker.exists()


def interpolation_that_touches(marker: Path) -> str:
    """A string OmegaConf resolves into a node whose `_target_` nothing listed (issue 20, item 1)."""
    return "${oc.create:{_target_: pathlib.Path.touch, self: " + str(marker) + "}}"


@pytest.mark.parametrize("key", ["model__activation", "model__latent_dim", "loss__reconstruction", "optim__lr",
                                 "x_axis"])
def test_an_interpolation_in_a_checkpoint_never_runs(tmp_path: Path, key: str) -> None:
    marker = tmp_path / "PWNED"
    checkpoint = checkpoint_with(tmp_path / "run" / "checkpoints", **{key: interpolation_that_touches(marker)})
    refusal = "expected one of step, epoch" if key == "x_axis" else r"holds an interpolation \$\{\.\.\.\}"
    with pytest.raises(ConfigError, match=refusal):
        VAEModule.load_from_checkpoint(checkpoint, weights_only=True)
    assert not marker.exists()


def test_an_interpolation_in_a_key_or_a_nested_list_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    with pytest.raises(ConfigError, match="not a plain key"):
        check_targets({"model": {interpolation_that_touches(marker): 1, "_target_": "vae_lightning.paper.model.VAE"}})
    with pytest.raises(ConfigError, match=r"model.hidden_dims\[1\]=.* holds an interpolation"):
        instantiate_trusted({"_target_": "vae_lightning.paper.model.VAE",
                             "hidden_dims": [8, interpolation_that_touches(marker)]}, "model")
    assert not marker.exists()


def test_an_interpolation_in_a_checkpoint_never_runs_through_evaluate(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    checkpoint_with(tmp_path / "run" / "checkpoints", model__activation=interpolation_that_touches(marker))
    done = subprocess.run([sys.executable, "-m", "vae_lightning.evaluate", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "holds an interpolation" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["checkpoints"]  # nothing written
