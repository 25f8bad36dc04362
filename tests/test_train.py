"""`python train.py` as users run it: single runs and multiruns in subprocesses, folders, results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_overrides
from vae_lightning.rundir import create_fresh_dir, job_dir

PROJECT = Path(__file__).resolve().parent.parent


def run_train(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT / "train.py"), *arguments],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


def test_multirun_makes_one_folder_per_job_with_events_and_results(mnist_root: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    done = run_train(["-m", "clip.value=0.1,1.0", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(path for path in sweep.iterdir() if path.is_dir() and not path.name.startswith("."))
    assert [[item for item in job.name.split(",") if item.startswith("clip")] for job in jobs] == [
        ["clip.value=0.1"],
        ["clip.value=1.0"],
    ]
    for job in jobs:
        assert list(job.glob("events.out.tfevents.*"))
        assert (job / "checkpoints" / "last.ckpt").exists()
        results = json.loads((job / "results.json").read_text())
        assert set(results["val"]) == set(results["test"]) == {"loss", "reconstruction", "kl"}
        assert results["epochs"] == 1 and results["train_seconds"] > 0
        assert (job / ".hydra" / "overrides.yaml").exists()
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*.ckpt"))


def test_single_run_goes_to_outputs_runs_and_says_where(mnist_root: Path, tmp_path: Path) -> None:
    done = run_train([*tiny_overrides(mnist_root), "seed=3"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    assert str(run_dir) in done.stdout + done.stderr
    assert json.loads((run_dir / "results.json").read_text())["test"]["loss"] > 0
    assert "seed: 3" in (run_dir / ".hydra" / "config.yaml").read_text()


def test_ddp_on_two_cpu_processes_trains_in_one_run_folder(mnist_root: Path, tmp_path: Path) -> None:
    # Lightning's DDP launcher starts train.py again for rank 1, in the same run folder: that
    # process must train beside rank 0, not refuse the folder rank 0 is writing.
    run_dir = tmp_path / "ddp"
    done = run_train([*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2", f"hydra.run.dir={run_dir}"],
                     tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert json.loads((run_dir / "results.json").read_text())["test"]["loss"] > 0
    assert (run_dir / "checkpoints" / "last.ckpt").exists() and (run_dir / "train_ddp_process_1.log").exists()


def test_missing_data_is_one_clear_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    done = run_train([f"data.root={tmp_path / 'nothing'}", "data.download=false"], tmp_path)
    assert done.returncode != 0
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "put the four IDX files" in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_fresh_dir_never_reuses_a_folder(tmp_path: Path) -> None:
    taken = tmp_path / "runs" / "2026-01-01_00-00-00"
    taken.mkdir(parents=True)  # another run's, started the same second
    made = create_fresh_dir(str(taken))
    assert made == f"{taken}-2" and Path(made).is_dir()
    assert create_fresh_dir(str(taken)) == made  # Hydra resolving the path again: same folder


def test_job_dir_is_named_by_overrides_and_safe(tmp_path: Path) -> None:
    assert job_dir(str(tmp_path), "clip.value=0.5,seed=1", 0) == "clip.value=0.5,seed=1"
    assert job_dir(str(tmp_path), "clip.value=0.5,seed=1", 1) == "clip.value=0.5,seed=1-2"
    assert job_dir(str(tmp_path), "", 4) == "job4"
    assert os.sep not in job_dir(str(tmp_path), "data.root=../x", 5)


def test_every_model_variant_trains_in_one_sweep(mnist_root: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "variants"
    # Untied models run in every other test; here each variant runs tied, in one sweep.
    done = run_train(["-m", "model=vae,ae,linear_ae", "model.tied_weights=true", *tiny_overrides(mnist_root),
                      f"hydra.sweep.dir={sweep}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = {next(part for part in job.name.split(",") if part.startswith("model=")): job for job in sweep.glob("*/")}
    assert sorted(jobs) == ["model=ae", "model=linear_ae", "model=vae"]
    for name, job in jobs.items():
        test = json.loads((job / "results.json").read_text())["test"]
        assert test["reconstruction"] > 0 and (test["kl"] > 0) == (name == "model=vae")  # only the VAE has a KL term
        assert list(job.glob("events.out.tfevents.*"))  # each variant logs to TensorBoard
