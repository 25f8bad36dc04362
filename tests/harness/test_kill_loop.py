"""Kill -9 at random moments of a run with mid-epoch checkpoints, then resume: as if never stopped."""

from pathlib import Path

import pytest

from helpers import tiny_overrides
from kill_loop import describe, difference, finish, kill_loop

pytestmark = pytest.mark.slow


def test_every_kill_then_resume_ends_as_the_uninterrupted_run(mnist_root: Path, tmp_path: Path) -> None:
    overrides = tiny_overrides(mnist_root) + ["trainer.max_epochs=3", "+callbacks.checkpoint.every_n_train_steps=4"]
    outcomes = list(kill_loop(overrides, tmp_path, kills=3, seed=1))
    assert all(outcome.same for outcome in outcomes), [describe(outcome) for outcome in outcomes]
    assert any(outcome.killed for outcome in outcomes)


def test_the_comparison_sees_a_different_run(mnist_root: Path, tmp_path: Path) -> None:
    overrides = tiny_overrides(mnist_root)
    list(kill_loop(overrides, tmp_path, kills=0))
    other = tmp_path / "other"
    assert finish([*overrides, "seed=1"], other) == 0
    assert difference(tmp_path / "whole", other).startswith("results.json val")
