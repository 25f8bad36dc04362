"""Gradient statistics: what the clip leaves and changes, against torch's own clipping functions."""

import pytest
import torch

from vae_lightning.paper.gradients import after_clip_norm, before_clip


def some_gradients() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=generator) * 0.3 for shape in ((40, 78), (40,), (7, 40))]


def global_norm(tensors: list[torch.Tensor]) -> float:
    return torch.linalg.vector_norm(torch.cat([tensor.flatten().double() for tensor in tensors])).item()


def gradient_statistics(gradients: list[torch.Tensor], algorithm: str | None, threshold: float | None) -> torch.Tensor:
    """[norm, norm after the clip, share changed], the way the callback gets them: before Lightning's
    clip, then from the gradients torch's clipping (Lightning's) changed in place."""
    norm, changed = before_clip(gradients, algorithm, threshold)
    clipped = clipped_copies(gradients, algorithm, threshold) if threshold else gradients
    return torch.stack([norm, after_clip_norm(clipped, algorithm, threshold, norm), changed])


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
    from types import SimpleNamespace

    from vae_lightning.paper.gradients import GradientStatistics

    statistics = GradientStatistics(every_n_steps=10)
    measured = [step for step in range(60) if statistics.measures(SimpleNamespace(global_step=step, log_every_n_steps=25))]
    assert measured == [0, 10, 20, 24, 30, 40, 49, 50]  # 24 and 49: the steps train/loss_step is logged at
    every = GradientStatistics(every_n_steps=1)
    assert all(every.measures(SimpleNamespace(global_step=step, log_every_n_steps=50)) for step in range(60))
    with pytest.raises(ValueError, match="callbacks.gradients.every_n_steps=0"):
        GradientStatistics(every_n_steps=0)
