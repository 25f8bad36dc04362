"""Slurm's time limits on a real one-node cluster: a job requeued at its limit resumes, one past its
requeues is listed interrupted, one cancelled while held for its requeue is said in one line. Apart from
test_slurm.py, so that pytest-xdist runs the two files side by side, each on a cluster of its own: both
mostly wait on Slurm (these on its minute-long limits)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import Slurm
from helpers import injected, run_train, start_train
from slurm_sweeps import slurm_sweep, status, wait_for, what_happened, without_logging_errors

pytestmark = pytest.mark.slow


def test_a_job_cancelled_as_it_waits_to_be_requeued_is_said_in_one_line(slurm: Slurm, mnist_root: Path,
                                                                        tmp_path: Path) -> None:
    """A job that left no result (here: cancelled while Slurm held it after its requeue) ended the command
    with submitit's UncompletedJobError traceback, the sweep's other jobs running on unwatched."""
    sweep_dir = tmp_path / "sweep"
    limit = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60"]
    command = slurm_sweep(slurm, mnist_root, sweep_dir, *injected("slow", "Slow", seconds=0.5), *limit,
                          "trainer.max_epochs=25")
    sweep = start_train(command, tmp_path, env=slurm.env)
    job = sweep_dir / "job0"
    wait_for(job / "run.log", sweep)
    # Held after its requeue: Slurm has ended its first allocation (cancelled before, its end was never logged).
    while "BeginTime" not in slurm.run("squeue", "-h", "-o", "%r"):
        assert sweep.poll() is None, what_happened(tmp_path, job)
        time.sleep(1)
    (slurm_job,) = slurm.run("squeue", "-h", "-o", "%i").split()
    slurm.run("scancel", slurm_job)
    assert sweep.wait(timeout=600) == 1, what_happened(tmp_path, job)
    output = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in output, output[-3000:]
    (line,) = [line for line in output.splitlines() if "ended without a result" in line]
    assert f"Slurm job {slurm_job} ended without a result (state CANCELLED)" in line
    assert line.endswith(f"hydra.sweep.dir={sweep_dir} resume=true continues it")


@pytest.mark.parametrize("tasks", [1, 2])
def test_a_job_at_its_time_limit_is_requeued_and_resumes(tasks: int, slurm: Slurm, mnist_root: Path,
                                                         tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    # About 90 s of training (75 s of it asleep) under a 2-minute limit, warned 60 s before it. Slurm's
    # time-limit pass runs every 30 s and warns up to 30 s early, so an allocation runs 30-60 s: the
    # first is always interrupted, and enough requeues are allowed for allocations of 30 s each. Two
    # DDP tasks each train half an epoch's steps, asleep after each, and each must end its allocation
    # without a result of its own for the requeued job to resume.
    limit = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=8"]
    ddp = ["hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2"] if tasks == 2 else []
    command = slurm_sweep(slurm, mnist_root, sweep_dir, *injected("slow", "Slow", seconds=0.5, after=tasks == 2),
                          *limit, *ddp, f"trainer.max_epochs={25 * tasks}")
    sweep = start_train(command, tmp_path, env=slurm.env)
    while sweep.poll() is None:
        slurm.kick()  # a requeued job starts at once instead of in two minutes
        time.sleep(2)
    job = sweep_dir / "job0"
    assert sweep.returncode == 0, what_happened(tmp_path, job)
    assert status(job)["status"] == "completed" and status(job)["results"]["epochs"] == 25 * tasks
    log = (job / "run.log").read_text()
    # Requeued, then resumed. (Not submitit's own "Requeued job", which its signal handler logs: when the signal
    # lands while the job writes to run.log, logging refuses the reentrant write and the line is lost.)
    requeued = "requeued: it continues from the last checkpoint when Slurm starts it again"
    assert requeued in log and log.index(requeued) < log.index("resuming from")
    # A requeue is no interrupt to act on: the job's log said "resume=true continues from the last checkpoint".
    assert "resume=true" not in log


@pytest.mark.parametrize("tasks", [1, 2])
def test_a_job_past_its_requeues_is_listed_interrupted_with_what_to_raise(tasks: int, slurm: Slurm, mnist_root: Path,
                                                                          tmp_path: Path) -> None:
    """Submitit's refusal to requeue again was a crash: a traceback in the job's log, the job `failed` with
    UncompletedJobError('Job not requeued because: timed-out too many times.'). In a DDP job the task beside
    the first ended as if requeued, without a result: the sweep said the job was killed outright."""
    sweep_dir = tmp_path / "sweep"
    limit = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=0"]
    ddp = ["hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2"] if tasks == 2 else []
    command = slurm_sweep(slurm, mnist_root, sweep_dir, *injected("slow", "Slow", seconds=0.5, after=tasks == 2),
                          *limit, *ddp, f"trainer.max_epochs={25 * tasks}")
    done = run_train(command, tmp_path, env=slurm.env)
    job = sweep_dir / "job0"
    assert done.returncode == 1, what_happened(tmp_path, job)
    said = ("reached its Slurm time limit more times than hydra.launcher.max_num_timeout allows, and is not "
            "requeued: raise hydra.launcher.timeout_min or max_num_timeout")
    assert status(job) == {"status": "interrupted", "error": said, "signal": "SIGUSR2", "exit_code": 1}
    assert "Traceback" not in (job / "run.log").read_text() + done.stdout + done.stderr
    assert (job / "run.log").read_text().count(f"{said}; resume=true continues from the last checkpoint") == 1
    assert [line for line in done.stdout.splitlines() if "interrupted: " in line][0].endswith(f": {said}")
    assert "ended without a result" not in done.stdout + done.stderr
    # Each of the job's tasks left its result, none a traceback.
    submitit_files = list((sweep_dir / ".submitit").rglob("*"))
    assert len([path for path in submitit_files if path.name.endswith("_result.pkl")]) == tasks
    assert not any("Traceback" in without_logging_errors(path.read_text()) for path in submitit_files
                   if path.name.endswith("_log.err"))
    assert (job / "checkpoints" / "last.ckpt").exists()
