"""The LightningModule in real training steps: clipping, logged metrics, loadable checkpoints."""

import csv
import json
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities.model_summary import ModelSummary
from omegaconf import open_dict
from torch.utils.data import DataLoader, TensorDataset

from helpers import tiny_overrides
from vae_lightning.paper.module import VAEModule, process_seed
from vae_lightning.errors import ConfigError
from vae_lightning.harness.run import build_module, build_trainer, run_job, train
from vae_lightning.harness.schema import check_ranges

THRESHOLD = 1e-3  # far below the gradients of a fresh VAE, so clipping always acts


class RecordingSGD(torch.optim.SGD):
    """SGD that keeps a copy of the gradients it is about to apply, after Lightning's clipping."""

    seen: list[list[torch.Tensor]] = []

    def step(self, closure=None):
        loss = closure()  # Lightning's closure: forward, backward, then clipping
        RecordingSGD.seen.append([p.grad.clone() for group in self.param_groups for p in group["params"]])
        super().step()
        return loss


def gradients_at_optimizer_steps(cfg, monkeypatch: pytest.MonkeyPatch) -> list[list[torch.Tensor]]:
    """The gradients that reach the optimizer's update during a few training steps."""
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", f"{__name__}.RecordingSGD")
    RecordingSGD.seen = []
    with open_dict(cfg):
        cfg.optim._target_ = f"{__name__}.RecordingSGD"
    build_trainer(cfg).fit(build_module(cfg), datamodule=instantiate(cfg.data))
    return RecordingSGD.seen


def clip_overrides(root: Path, clip: str) -> list[str]:
    value = [] if clip == "none" else [f"clip.value={THRESHOLD}"]
    return [*tiny_overrides(root), f"clip={clip}", *value, "++trainer.limit_train_batches=3",
            "++trainer.limit_val_batches=0", "~callbacks.checkpoint"]


def test_clip_by_value_bounds_every_entry(compose_config, mnist_root, monkeypatch) -> None:
    steps = gradients_at_optimizer_steps(compose_config(clip_overrides(mnist_root, "value")), monkeypatch)
    assert len(steps) == 3
    # 1 + 1e-6: float32 rounding of 1e-3.
    assert max(g.abs().max().item() for grads in steps for g in grads) <= THRESHOLD * (1 + 1e-6)


def test_clip_by_norm_bounds_the_global_norm(compose_config, mnist_root, monkeypatch) -> None:
    steps = gradients_at_optimizer_steps(compose_config(clip_overrides(mnist_root, "norm")), monkeypatch)
    norms = [torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])).item() for grads in steps]
    assert len(norms) == 3 and max(norms) <= THRESHOLD * (1 + 1e-5)


def test_no_clipping_leaves_gradients_large(compose_config, mnist_root, monkeypatch) -> None:
    steps = gradients_at_optimizer_steps(compose_config(clip_overrides(mnist_root, "none")), monkeypatch)
    assert min(max(g.abs().max().item() for g in grads) for grads in steps) > 100 * THRESHOLD


def logged_steps(run_dir: Path, column: str) -> list[float]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return [float(row[column]) for row in csv.DictReader(file) if row.get(column)]


@pytest.mark.parametrize("clip", ["value", "norm"])
def test_gradient_statistics_see_the_gradient_before_lightning_clips_it(clip, compose_config, mnist_root,
                                                                         monkeypatch) -> None:
    cfg = compose_config([*clip_overrides(mnist_root, clip), "trainer.log_every_n_steps=1"])
    steps = gradients_at_optimizer_steps(cfg, monkeypatch)
    run_dir = Path(cfg.hydra.runtime.output_dir)
    # In float64: float32's sum of ~50,000 equal squares (every entry clipped) is 4e-5 off.
    applied = [torch.linalg.vector_norm(torch.cat([g.flatten().double() for g in grads])).item() for grads in steps]
    assert logged_steps(run_dir, "train/grad_norm_clipped_step") == pytest.approx(applied, rel=1e-5)
    before = logged_steps(run_dir, "train/grad_norm_step")
    assert min(before) > 10 * max(applied)  # the raw gradient, which THRESHOLD shrinks
    # By value: the share of entries the optimizer received at the threshold; by norm: every step.
    at_threshold = torch.tensor(THRESHOLD, dtype=torch.float32)
    clipped = [sum(int((g.abs() == at_threshold).sum()) for g in grads) / sum(g.numel() for g in grads)
               for grads in steps]
    expected = clipped if clip == "value" else [1.0] * 3
    assert logged_steps(run_dir, "train/clip_fraction_step") == pytest.approx(expected, abs=1e-6)
    (epoch_mean,) = logged_steps(run_dir, "train/grad_norm")
    assert epoch_mean == pytest.approx(sum(before) / 3, rel=1e-5)


def test_log_every_n_steps_zero_trains_without_step_metrics(compose_config, mnist_root) -> None:
    cfg = compose_config([*tiny_overrides(mnist_root), "trainer.log_every_n_steps=0"])
    run_dir = Path(cfg.hydra.runtime.output_dir)
    train(cfg, run_dir)
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/loss" in header and "train/loss_step" not in header
    assert "train/grad_norm" in header


def test_run_logs_every_metric_and_writes_loadable_checkpoints(compose_config, mnist_root, tmp_path) -> None:
    cfg = compose_config([*tiny_overrides(mnist_root), "trainer.max_epochs=2", "trainer.log_every_n_steps=1"])
    run_dir = Path(cfg.hydra.runtime.output_dir)
    results = train(cfg, run_dir)
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    for stage in ("train", "val", "test"):
        for term in ("loss", "reconstruction", "kl"):
            assert f"{stage}/{term}" in header
    assert "train/loss_step" in header
    assert results["epochs"] == 2 and results["test"]["loss"] > 0
    for name in ("last.ckpt", "best.ckpt"):
        checkpoint = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert checkpoint["hyper_parameters"]["model"]["latent_dim"] == 4
        assert checkpoint["datamodule_hyper_parameters"]["val_size"] == 64
    module = VAEModule.load_from_checkpoint(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    assert module.model.latent_dim == 4


def test_evaluation_noise_is_fixed_and_leaves_training_noise_alone(compose_config, mnist_root) -> None:
    module = build_module(compose_config(tiny_overrides(mnist_root)))
    batch = torch.rand(8, 784)
    losses = []
    for _ in range(2):
        module.on_validation_epoch_start()
        torch.manual_seed(0)
        module.validation_step(batch, 0)
        losses.append(module._eval_sums[0])  # the batch's loss, times its images
        assert torch.randn(1).item() == pytest.approx(torch.randn(1, generator=torch.Generator().manual_seed(0)).item())
    assert losses[0].item() == losses[1].item()


@pytest.mark.parametrize("clip", ["value", "norm"])
def test_bf16_mixed_precision_clips(compose_config, mnist_root, clip) -> None:
    cfg = compose_config([*clip_overrides(mnist_root, clip), "trainer.precision=bf16-mixed", "optim.fused=false"])
    trainer = build_trainer(cfg)
    trainer.fit(build_module(cfg), datamodule=instantiate(cfg.data))
    assert trainer.global_step == 3


def test_a_fused_optimizer_cannot_clip_under_mixed_precision(compose_config, mnist_root) -> None:
    cfg = compose_config([*clip_overrides(mnist_root, "value"), "trainer.precision=bf16-mixed", "optim.fused=true"])
    with pytest.raises(ConfigError, match="optim.fused=true cannot be clipped under trainer.precision=bf16-mixed"):
        check_ranges(cfg)


@pytest.mark.parametrize("model", ["vae", "linear_ae"])
def test_model_summary_counts_flops_without_moving_the_random_stream(model, compose_config, mnist_root) -> None:
    module = build_module(compose_config([*tiny_overrides(mnist_root), f"model={model}"]))
    torch.manual_seed(0)
    summary = ModelSummary(module)
    assert summary.total_flops > 0
    assert torch.randn(1).item() == torch.randn(1, generator=torch.Generator().manual_seed(0)).item()


@pytest.mark.parametrize("precision", ["bf16-true", "64-true"])
def test_a_model_in_another_precision_trains_and_draws_its_images(precision, compose_config, mnist_root,
                                                                   tmp_path) -> None:
    # Its example input, its prior's draws and its image grids follow the weights' dtype (they were float32).
    run_dir = tmp_path / "run"
    assert run_job(compose_config([*tiny_overrides(mnist_root), f"trainer.precision={precision}"]), run_dir) == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert math.isfinite(results["test"]["loss"])
    assert list(run_dir.glob("events.out.tfevents.*"))


def test_each_process_of_a_run_has_a_seed_of_its_own_and_the_first_the_runs() -> None:
    seeds = {(seed, rank): process_seed(seed, rank) for seed in range(4) for rank in range(4)}
    assert all(seeds[seed, 0] == seed for seed in range(4))
    assert len(set(seeds.values())) == len(seeds)  # not seed + rank: seed 1's first is not seed 0's second
    assert process_seed(3, 2) == process_seed(3, 2) <= 2**32 - 1


def test_batches_a_dataloader_collates_from_a_tensor_dataset_train_and_score_as_tensors(compose_config,
                                                                                        mnist_root) -> None:
    # A data module of one's own over a TensorDataset, PyTorch's usual way: its DataLoader collates each
    # sample's tuple into a list, [images] or [noisy, clean], and the first step failed with a traceback
    # (linear(): argument 'input' must be Tensor, not list), after the run folder was made.
    module = build_module(compose_config(tiny_overrides(mnist_root)))
    images = torch.rand(48, 784, generator=torch.Generator().manual_seed(0))
    noisy = (images + 0.1 * torch.randn(images.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=DataLoader(TensorDataset(noisy, images), batch_size=16),
                val_dataloaders=DataLoader(TensorDataset(images), batch_size=16))
    assert trainer.global_step == 3
    # Each batch weighs by its images, not by len() of the list (1): the same loss as tensor batches.
    (of_lists,) = trainer.test(module, DataLoader(TensorDataset(images), batch_size=20), verbose=False)
    (of_tensors,) = trainer.test(module, DataLoader(images, batch_size=20), verbose=False)
    assert of_lists["test/loss"] == pytest.approx(of_tensors["test/loss"], rel=1e-6)
    with pytest.raises(ConfigError, match=r"^data: its batches are a dict; serve a tensor of images"):
        module.training_step({"image": images}, 0)


def test_batches_of_images_unflattened_or_with_labels_are_refused_naming_data() -> None:
    # A data module of one's own in torchvision's way: (batch, 1, 28, 28) images failed the first step
    # with a traceback of the model's matrix product, and (images, labels) pairs were blamed on the model.
    module = frozen_autoencoder()
    images = torch.rand(16, 784)
    with pytest.raises(ConfigError, match=r"^data: its batches hold images of shape \[16, 1, 28, 28\], .*flatten"):
        module.training_step([images.view(16, 1, 28, 28)], 0)
    with pytest.raises(ConfigError, match=r"^data: the second tensor of its batches, of shape \[16\], .*labels"):
        module.validation_step([images, torch.zeros(16, dtype=torch.long)], 0)


def frozen_autoencoder() -> VAEModule:
    """A deterministic autoencoder whose SGD steps change nothing (lr=0): every epoch's losses can be
    recomputed from its weights afterwards."""
    torch.manual_seed(0)
    return VAEModule(model={"_target_": "vae_lightning.paper.model.Autoencoder", "hidden_dims": [8], "latent_dim": 2},
                     loss={"_target_": "vae_lightning.paper.loss.VAELoss"},
                     optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.0})


def fit_one_epoch(module: VAEModule, train_loader: DataLoader, val_loader: DataLoader) -> dict[str, float]:
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
    return {name: float(value) for name, value in trainer.callback_metrics.items()}


def test_epoch_losses_weigh_each_image_once_over_an_unequal_last_batch() -> None:
    # 40 images in batches of 16, 16 and 8: a mean of the three batch means would weigh each image of
    # the last batch twice. Both epoch means must be the loss of all 40 images at once.
    module = frozen_autoencoder()
    images = torch.rand(40, 784, generator=torch.Generator().manual_seed(0))
    metrics = fit_one_epoch(module, DataLoader(images, batch_size=16), DataLoader(images, batch_size=16))
    with torch.no_grad():
        expected = module.loss(images, module.model(images))
    for stage in ("train", "val"):
        assert metrics[f"{stage}/loss"] == pytest.approx(expected.total.item(), rel=1e-6)
        assert metrics[f"{stage}/reconstruction"] == pytest.approx(expected.reconstruction.item(), rel=1e-6)


def test_a_denoising_pair_trains_the_noisy_input_against_the_clean_target() -> None:
    # (noisy input, clean target): the loss compares the reconstruction of the noisy image with the
    # clean one, not with the noisy input (a plain autoencoder's job), nor the other way round.
    module = frozen_autoencoder()
    clean = torch.rand(32, 784, generator=torch.Generator().manual_seed(0))
    noisy = clean + 0.5 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    metrics = fit_one_epoch(module, DataLoader(TensorDataset(noisy, clean), batch_size=16),
                            DataLoader(TensorDataset(noisy, clean), batch_size=16))
    with torch.no_grad():
        expected = module.loss(clean, module.model(noisy)).total.item()
        assert module.loss(noisy, module.model(noisy)).total.item() != pytest.approx(expected, rel=1e-3)
    assert metrics["train/loss"] == pytest.approx(expected, rel=1e-6)
    assert metrics["val/loss"] == pytest.approx(expected, rel=1e-6)


def test_the_optimizer_is_built_with_the_configs_learning_rate_and_momentum() -> None:
    # Section 4.3's SGD runs differ by optim.lr and optim.momentum alone: both must reach the optimizer.
    module = VAEModule(model={"_target_": "vae_lightning.paper.model.VAE", "hidden_dims": [8], "latent_dim": 2},
                       loss={"_target_": "vae_lightning.paper.loss.VAELoss"},
                       optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.05, "momentum": 0.9})
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD)
    assert [(group["lr"], group["momentum"]) for group in optimizer.param_groups] == [(0.05, 0.9)]
    assert {id(p) for group in optimizer.param_groups for p in group["params"]} == {id(p) for p in module.parameters()}
