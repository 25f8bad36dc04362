"""Configs read back from disk build only classes of trusted packages."""

import pytest
import torch

from vae_lightning.errors import ConfigError
from vae_lightning.module import VAEModule
from vae_lightning.targets import check_targets, instantiate_trusted


@pytest.mark.parametrize(
    "target,reason",
    [("os.system", "outside the trusted packages"), ("builtins.eval", "outside the trusted packages"),
     ("torch.load", "is not a class"), ("torch.hub.load", "is not a class")],
)
def test_untrusted_targets_are_refused(target: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        check_targets({"optim": {"_target_": target, "f": "echo owned"}})


def test_trusted_classes_are_built_and_the_allowlist_extends(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(instantiate_trusted({"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 3}),
                      torch.nn.Linear)
    with pytest.raises(ConfigError):
        check_targets({"_target_": "collections.OrderedDict"})
    monkeypatch.setenv("VAE_LIGHTNING_TRUSTED_PACKAGES", "collections")
    check_targets({"_target_": "collections.OrderedDict"})


def test_a_checkpoint_naming_an_untrusted_target_is_refused(tmp_path, monkeypatch) -> None:
    module = VAEModule(model={"_target_": "vae_lightning.model.VAE", "hidden_dims": [8], "latent_dim": 2},
                       loss={"_target_": "vae_lightning.loss.VAELoss"},
                       optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})
    checkpoint = {"state_dict": module.state_dict(), "pytorch-lightning_version": "2.6.0",
                  "hyper_parameters": dict(module.hparams, optim={"_target_": "os.system", "command": "touch owned"})}
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="optim._target_=os.system is outside the trusted packages"):
        VAEModule.load_from_checkpoint(tmp_path / "evil.ckpt", weights_only=True)
    assert not (tmp_path / "owned").exists()
