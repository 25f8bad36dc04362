"""Sweeps in which jobs fail: the others finish, every job leaves status.json, the sweep says so."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

from helpers import injected, run_train, tiny_overrides

pytestmark = pytest.mark.slow


def sweep(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return run_train(["-m", *arguments], cwd)


def statuses(sweep_dir: Path) -> dict[str, dict]:
    return {job.parent.name: json.loads(job.read_text()) for job in sweep_dir.glob("*/status.json")}


@pytest.mark.parametrize("launcher", ["basic", "parallel"])
def test_a_failing_job_never_stops_the_others(launcher: str, mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    faults = [injected("fault", "Fault")[0], "+callbacks.fault.kind=raise,exit,kill,none"]
    done = sweep([*tiny_overrides(mnist_root), *faults, f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep_dir}"],
                 tmp_path)
    assert done.returncode == 1
    found = {name.split("kind=")[1].split(",")[0]: status for name, status in statuses(sweep_dir).items()}
    assert found["none"]["status"] == "completed" and found["none"]["results"]["test"]["loss"] > 0
    assert "injected fault" in found["raise"]["error"]
    assert "SystemExit(4)" in found["exit"]["error"]
    assert "killed by SIGKILL" in found["kill"]["error"]
    report = [line for line in done.stdout.splitlines() if "failed:" in line]
    assert len(report) == 3 and all("+callbacks.fault.kind=" in line for line in report)
    assert "1 of 4 jobs completed" in done.stdout


def test_same_config_and_seed_give_identical_runs_in_fresh_processes(mnist_root: Path, tmp_path: Path) -> None:
    runs = [tmp_path / "first", tmp_path / "second"]
    for run in runs:
        done = run_train([*tiny_overrides(mnist_root), "seed=7", "trainer.max_epochs=2", f"hydra.run.dir={run}"],
                         tmp_path, fresh=True)
        assert done.returncode == 0, done.stderr[-2000:]
    first, second = (json.loads((run / "results.json").read_text()) for run in runs)
    assert first["val"] == second["val"] and first["test"] == second["test"]
    a, b = (torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"] for run in runs)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_jobs_seed_and_deterministic_flag_never_reach_the_next_job(mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    probe = injected("probe", "Probe", run_dir="${hydra:runtime.output_dir}")
    done = sweep([*tiny_overrides(mnist_root), *probe, "trainer.deterministic=true,false", "seed=11",
                  f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    flags = {}
    for job in sweep_dir.glob("*/probe.json"):
        overrides = (job.parent / ".hydra" / "overrides.yaml").read_text()
        flags["true" if "trainer.deterministic=True" in overrides else "false"] = json.loads(job.read_text())
    assert flags["true"]["deterministic"] is True and flags["false"]["deterministic"] is False
    assert flags["true"]["seed"] == flags["false"]["seed"] == 11
