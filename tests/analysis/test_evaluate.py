"""Figure 4 from a trained run: both grids and the test losses."""

import json
from pathlib import Path

from PIL import Image

from helpers import tiny_overrides
from vae_lightning.analysis.evaluate import evaluate
from vae_lightning.harness.run import run_job


def test_evaluate_writes_both_grids_and_the_test_losses(compose_config, mnist_root, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root)), run_dir) == 0
    results = evaluate(run_dir, data_root=str(mnist_root))
    trained = json.loads((run_dir / "results.json").read_text())["test"]
    assert results["test"]["loss"] == trained["loss"]
    assert json.loads((run_dir / "evaluation.json").read_text())["test"] == results["test"]
    side = 8 * 28 + 9 * 2  # 8 images of 28 pixels and 9 two-pixel borders
    assert Image.open(run_dir / "samples.png").size == (side, side)
    assert Image.open(run_dir / "reconstructions.png").size == (side, side)  # 4 pairs of rows of 8


def test_evaluate_on_a_denoising_autoencoder(compose_config, mnist_root, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root) + ["model=ae", "data.noise_std=0.5"]), run_dir) == 0
    results = evaluate(run_dir, data_root=str(mnist_root))
    assert results["written"] == ["reconstructions.png", "denoising.png"]  # no prior: no samples
    assert results["test"]["kl"] == 0
    side, height = 8 * 28 + 9 * 2, 9 * 28 + 10 * 2  # 3 rows (noisy, clean, output) x 3 groups of 8
    assert Image.open(run_dir / "denoising.png").size == (side, height)
