"""A run folder is held by one process at a time; a resumed sweep keeps its figure and table right."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import INJECTED_ENVIRONMENT, PROJECT, injected, run_train, tiny_overrides
from vae_lightning.harness.runs import lock_holder

pytestmark = pytest.mark.slow


def test_a_second_resume_of_a_busy_folder_exits_2_naming_the_holder(mnist_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [*tiny_overrides(mnist_root), "trainer.max_epochs=3", f"hydra.run.dir={run_dir}"]
    assert run_train(command + injected("fault", "Fault", kind="raise", at_step=8)).returncode == 1
    first = subprocess.Popen([sys.executable, str(PROJECT / "train.py"), *command, "resume=true"], cwd=tmp_path,
                             env=INJECTED_ENVIRONMENT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while lock_holder(run_dir) != first.pid:
            assert first.poll() is None, "the first resume ended before it took the lock"
            time.sleep(0.05)  # each look takes the lock for an instant: never keep it from the run
        os.kill(first.pid, signal.SIGSTOP)  # holds the lock, mid-run, while the second one tries
        second = run_train(command + ["resume=true"], tmp_path)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"error: {run_dir} is in use by process {first.pid}; wait for it to end, or stop it"]
    assert first.wait(timeout=600) == 0
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    epochs = {line.split(",")[0] for line in (run_dir / "csv" / "metrics.csv").read_text().splitlines()[1:]}
    assert epochs >= {"1", "2"}


def test_resuming_a_finished_or_half_finished_sweep_keeps_its_table_and_figure(mnist_root: Path,
                                                                              tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    command = ["-m", "seed=0,1", *tiny_overrides(mnist_root), "trainer.max_epochs=2", f"hydra.sweep.dir={sweep_dir}"]
    assert run_train(command, tmp_path).returncode == 0
    summary = (sweep_dir / "summary.md").read_text()
    assert summary.rstrip().endswith("| 2 | 2 |  |")  # best epoch 2, both seeds, no problems
    assert run_train([*command, "resume=true"], tmp_path).returncode == 0
    assert (sweep_dir / "summary.md").read_text() == summary
    # Half-finished: the seed=1 job as a kill after its last checkpoint, before its results, leaves it.
    job = sweep_dir / "seed=1"
    (job / "results.json").unlink()
    (job / "status.json").write_text(json.dumps({"status": "running"}))
    assert run_train([*command, "resume=true"], tmp_path).returncode == 0
    assert json.loads((job / "status.json").read_text())["status"] == "completed"
    assert (sweep_dir / "summary.md").read_text() == summary
    assert (sweep_dir / "figure.png").stat().st_size > 0


def test_a_second_sweep_into_a_busy_sweep_folder_is_refused_before_it_writes(mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    command = ["-m", "seed=0,1", *tiny_overrides(mnist_root), *injected("slow", "Slow", seconds=0.2),
               "trainer.max_epochs=50", f"hydra.sweep.dir={sweep_dir}"]
    first = subprocess.Popen([sys.executable, str(PROJECT / "train.py"), *command], cwd=tmp_path,
                             env=INJECTED_ENVIRONMENT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (sweep_dir / "multirun.yaml").exists():
            assert first.poll() is None, "the first sweep ended before it started"
            time.sleep(0.1)
        multirun = (sweep_dir / "multirun.yaml").read_bytes()
        second = run_train(command, tmp_path)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: {sweep_dir} is in use by process {first.pid}; wait for it to end, or stop it"]
        assert (sweep_dir / "multirun.yaml").read_bytes() == multirun
    finally:
        first.kill()
        first.wait()
