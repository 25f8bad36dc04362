"""Gradient statistics: what the module's clip (section 3.3) leaves and changes, against torch's own clipping."""

from types import SimpleNamespace

import lightning as L
import pytest
import torch

from vae_lightning.paper.gradients import GradientStatistics
from vae_lightning.paper.module import VAEModule


def module_with_gradients() -> tuple[VAEModule, list[torch.Tensor]]:
    """A small VAE attached to a Trainer, every parameter holding a random gradient (also returned)."""
    module = VAEModule(model={"_target_": "vae_lightning.paper.model.VAE", "hidden_dims": [2], "latent_dim": 2},
                       loss={"_target_": "vae_lightning.paper.loss.VAELoss"},
                       optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})
    module.trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    generator = torch.Generator().manual_seed(0)
    gradients = [torch.randn(parameter.shape, generator=generator) * 0.3 for parameter in module.parameters()]
    for parameter, gradient in zip(module.parameters(), gradients):
        parameter.grad = gradient.clone()
    return module, gradients


def global_norm(tensors: list[torch.Tensor]) -> float:
    return torch.linalg.vector_norm(torch.cat([tensor.flatten().double() for tensor in tensors])).item()


def gradient_statistics(gradients: list[torch.Tensor], algorithm: str | None, threshold: float | None) -> torch.Tensor:
    """[norm, norm after the clip, share changed], as the module measures them where it clips."""
    module, _ = module_with_gradients()
    for parameter, gradient in zip(module.parameters(), gradients):
        parameter.grad = gradient.clone()
    module.measure_clip = True
    module.configure_gradient_clipping(module.configure_optimizers(), threshold, algorithm)
    return module.clip_statistics


def some_gradients() -> list[torch.Tensor]:
    return module_with_gradients()[1]


def clipped_copies(gradients: list[torch.Tensor], clip: str, threshold: float) -> list[torch.Tensor]:
    """The gradients after torch.nn.utils' clipping, the functions Lightning clips with."""
    parameters = [torch.nn.Parameter(torch.zeros_like(gradient)) for gradient in gradients]
    for parameter, gradient in zip(parameters, gradients):
        parameter.grad = gradient.clone()
    if clip == "value":
        torch.nn.utils.clip_grad_value_(parameters, threshold)
    else:
        torch.nn.utils.clip_grad_norm_(parameters, threshold)
    return [parameter.grad for parameter in parameters]


def test_the_module_clips_its_gradients_in_place_as_torch_does() -> None:
    for algorithm, threshold in (("value", 0.05), ("norm", 1.0)):
        module, gradients = module_with_gradients()
        module.configure_gradient_clipping(module.configure_optimizers(), threshold, algorithm)
        expected = clipped_copies(gradients, algorithm, threshold)
        assert all(torch.equal(parameter.grad, clipped) for parameter, clipped in zip(module.parameters(), expected))
        assert module.clip_statistics is None  # not asked to measure


@pytest.mark.parametrize("threshold", [0.05, 0.3, 10.0])
def test_clip_by_value_statistics_match_torchs_clip(threshold: float) -> None:
    gradients = some_gradients()
    norm, clipped_norm, fraction = gradient_statistics(gradients, "value", threshold).tolist()
    clipped = clipped_copies(gradients, "value", threshold)
    changed = sum(int((before != after).sum()) for before, after in zip(gradients, clipped))
    assert norm == pytest.approx(global_norm(gradients), rel=1e-6)
    assert clipped_norm == pytest.approx(global_norm(clipped), rel=1e-6)
    assert fraction * sum(gradient.numel() for gradient in gradients) == pytest.approx(changed, abs=1e-3)
    assert (fraction == 0) == (threshold == 10.0)


@pytest.mark.parametrize("threshold,rescaled", [(1.0, 1.0), (1e3, 0.0)])
def test_clip_by_norm_statistics_match_torchs_clip(threshold: float, rescaled: float) -> None:
    gradients = some_gradients()
    norm, clipped_norm, fraction = gradient_statistics(gradients, "norm", threshold).tolist()
    assert norm == pytest.approx(global_norm(gradients), rel=1e-6)
    assert clipped_norm == pytest.approx(global_norm(clipped_copies(gradients, "norm", threshold)), rel=1e-6)
    assert fraction == rescaled


@pytest.mark.parametrize("algorithm,threshold", [(None, None), ("value", 0.0), ("norm", None)])
def test_without_a_clip_nothing_changes(algorithm: str | None, threshold: float | None) -> None:
    gradients = some_gradients()
    norm, clipped_norm, fraction = gradient_statistics(gradients, algorithm, threshold).tolist()
    assert norm == clipped_norm == pytest.approx(global_norm(gradients), rel=1e-6) and fraction == 0


def test_the_steps_measured_are_the_first_every_nth_and_every_logged_one() -> None:
    statistics = GradientStatistics(every_n_steps=10)
    measured = [step for step in range(60)
                if statistics.measures(SimpleNamespace(global_step=step, log_every_n_steps=25))]
    assert measured == [0, 10, 20, 24, 30, 40, 49, 50]  # 24 and 49: the steps train/loss_step is logged at
    every = GradientStatistics(every_n_steps=1)
    assert all(every.measures(SimpleNamespace(global_step=step, log_every_n_steps=50)) for step in range(60))
    with pytest.raises(ValueError, match="callbacks.gradients.every_n_steps=0"):
        GradientStatistics(every_n_steps=0)


def test_an_epoch_shorter_than_the_interval_still_has_a_measured_step() -> None:
    # Epochs of 5 steps, every 10th measured: the second epoch (steps 5-9) holds no 10th step.
    statistics = GradientStatistics(every_n_steps=10)
    trainer = SimpleNamespace(global_step=5, log_every_n_steps=50, loggers=[], current_epoch=1)
    module = SimpleNamespace(measure_clip=False)
    statistics.on_train_epoch_start(trainer, module)
    statistics.on_train_batch_start(trainer, module)
    assert module.measure_clip
    take_step(statistics, trainer, [3.0, 2.0, 1.0])
    statistics.on_train_batch_start(trainer, module)
    assert not module.measure_clip


class RecordingLogger:
    """Keeps what GradientStatistics writes to a logger: (step, metrics)."""

    def __init__(self) -> None:
        self.logged: list[tuple[int, dict]] = []

    def log_metrics(self, metrics: dict, step: int) -> None:
        self.logged.append((step, metrics))


def take_step(statistics, trainer, values: list[float]) -> None:
    """One measured optimizer step as Lightning runs it: the module holds its statistics after the clip,
    and global_step has counted the step by the time the batch ends."""
    trainer.global_step += 1
    statistics.on_train_batch_end(trainer, SimpleNamespace(clip_statistics=torch.tensor(values)))


def test_the_initial_gradient_is_logged_at_step_0_whatever_the_logging_interval() -> None:
    # Step 0 is the initialisation's gradient, what Figures 1 and 2 start from: logged even when
    # log_every_n_steps (50) would first write at step 49. Step 10 is measured for the means only.
    logger = RecordingLogger()
    trainer = SimpleNamespace(global_step=0, log_every_n_steps=50, loggers=[logger], current_epoch=0)
    statistics = GradientStatistics(every_n_steps=10)
    statistics.on_train_epoch_start(trainer, None)
    take_step(statistics, trainer, [3.0, 2.0, 1.0])
    trainer.global_step = 10
    take_step(statistics, trainer, [5.0, 4.0, 0.0])
    assert logger.logged == [(0, {"train/grad_norm_step": 3.0, "train/grad_norm_clipped_step": 2.0,
                                  "train/clip_fraction_step": 1.0, "epoch": 0})]


def test_each_epochs_means_are_of_its_own_steps_alone() -> None:
    # The sums start again at each new epoch: epoch 1's mean gradient norm must not carry epoch 0's steps.
    trainer = SimpleNamespace(global_step=0, log_every_n_steps=0, loggers=[], current_epoch=0)
    logged = []
    module = SimpleNamespace(log_dict=lambda metrics, **_: logged.append({k: float(v) for k, v in metrics.items()}))
    statistics = GradientStatistics(every_n_steps=1)
    for epoch, norms in enumerate([[10.0, 20.0], [1.0, 2.0, 3.0]]):
        trainer.current_epoch = epoch
        statistics.on_train_epoch_start(trainer, module)
        for norm in norms:
            take_step(statistics, trainer, [norm, norm, 0.0])
        statistics.on_train_epoch_end(trainer, module)
    assert [means["train/grad_norm"] for means in logged] == [15.0, 2.0]
