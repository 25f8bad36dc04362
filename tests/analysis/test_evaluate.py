"""Figure 4 from a trained run: both grids and the test losses."""

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from helpers import tiny_overrides
from vae_lightning.analysis.evaluate import evaluate, main
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


@pytest.mark.parametrize("content", [b"garbage, not a checkpoint", b""])
def test_a_file_that_is_not_a_checkpoint_is_named_without_unsafe_advice(content: bytes, tmp_path: Path, monkeypatch,
                                                                       capsys) -> None:
    path = tmp_path / "model.ckpt"
    path.write_bytes(content)
    monkeypatch.setattr(sys, "argv", ["evaluate", str(path)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path} is not a checkpoint ("), lines
    assert "weights_only" not in lines[0]
    assert sorted(tmp_path.iterdir()) == [path]
