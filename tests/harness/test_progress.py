"""The console's progress: a run's bars, and one line per epoch naming the job beside other jobs."""

from pathlib import Path

import pytest

from helpers import run_train, tiny_overrides
from vae_lightning.harness.progress import job_beside_others


def with_bars(root: Path) -> list[str]:
    return [override for override in tiny_overrides(root) if "enable_progress_bar" not in override]


def test_outside_hydra_a_run_is_no_job_beside_others() -> None:
    assert job_beside_others() is None


@pytest.mark.slow
def test_parallel_jobs_print_one_line_per_epoch_naming_the_job_and_no_bars(mnist_root: Path, tmp_path: Path) -> None:
    result = run_train(["-m", "hydra/launcher=parallel", "seed=0,1", *with_bars(mnist_root), "trainer.max_epochs=2",
                        f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert result.returncode == 0, result.stderr
    console = result.stdout + result.stderr
    for job in ("seed=0", "seed=1"):
        for epoch in (0, 1):
            assert f"{job}: Epoch {epoch} of 0-1 validated, val/loss " in console
    assert "Epoch 0:" not in console  # a tqdm bar's description


@pytest.mark.slow
def test_a_single_run_keeps_lightnings_bar(mnist_root: Path, tmp_path: Path) -> None:
    result = run_train([*with_bars(mnist_root), f"hydra.run.dir={tmp_path / 'run'}"])
    assert result.returncode == 0, result.stderr
    console = result.stdout + result.stderr
    assert "Epoch 0:" in console and "validated" not in console
