"""Real signals at the awkward moments of real runs: while a parallel sweep's jobs start, `kill -9`
of one job's process, Ctrl-C while a checkpoint is being written, and `kill -9` of a DDP run's first process."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
import torch

from helpers import (importing_torch, interrupted_as_it_started, injected, process_state, run_train, start_train,
                     states_once, tiny_overrides)
from vae_lightning.files import TEMPORARY_SUFFIX
from vae_lightning.harness.runs import lock_holder

pytestmark = pytest.mark.slow


def children(pid: int, leaders: bool = False) -> set[int]:
    """The processes whose parent is `pid`, read from /proc; with `leaders`, only those that lead a
    process group of their own, as each parallel sweep job does (not a short-lived helper process)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        parent, group = (int(field) for field in stat[stat.rindex(")") + 2 :].split()[1:3])
        if parent == pid and (not leaders or group == int(entry.name)):
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """True while the process runs (a zombie, ended and not yet reaped, is not alive)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def status(run_dir: Path) -> dict | None:
    path = run_dir / "status.json"
    return json.loads(path.read_text()) if path.exists() else None


def output(folder: Path) -> str:
    return (folder / "stdout.txt").read_text() + (folder / "stderr.txt").read_text()


def wait_for(condition, process, folder: Path, pause: float = 0.01) -> None:
    """Poll `condition()` until it holds; fails with the process's output if it ends first."""
    while not condition():
        assert process.poll() is None, output(folder)[-3000:]
        time.sleep(pause)


def third_job_starts(sweep, tmp_path: Path, moment: str) -> set[int]:
    """Wait for the moment the sweep's third job starts (`forked`: its process exists; `folder`:
    Hydra made its folder; `running`: its status.json says running); the job processes seen so far."""
    seen: set[int] = set()
    job = tmp_path / "sweep" / "seed=2"
    while True:
        seen |= children(sweep.pid, leaders=True)
        if {"forked": len(seen) >= 3, "folder": job.is_dir(),
                "running": (status(job) or {}).get("status") == "running"}[moment]:
            return seen
        assert sweep.poll() is None, output(tmp_path)[-3000:]
        time.sleep(0.002)


@pytest.mark.parametrize(("signum", "moment"), [(signal.SIGINT, "forked"), (signal.SIGTERM, "forked"),
                                                (signal.SIGINT, "folder"), (signal.SIGTERM, "running")])
def test_a_signal_while_a_parallel_job_starts_is_recorded_and_keeps_the_finished_jobs(
    signum: signal.Signals, moment: str, mnist_root: Path, tmp_path: Path
) -> None:
    sweep_dir = tmp_path / "sweep"
    # Slow steps: a job trains for about 2 s, so the starting job cannot finish before the signal lands
    sweep = start_train(["-m", *tiny_overrides(mnist_root), *injected("slow", "Slow", seconds=0.3), "seed=0,1,2",
                         "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}"],
                        tmp_path)
    jobs = third_job_starts(sweep, tmp_path, moment)
    finished = {job: (job / "results.json").read_bytes() for job in sweep_dir.glob("seed=*")
                if (status(job) or {}).get("status") == "completed"}
    sweep.send_signal(signum)
    assert sweep.wait(timeout=120) == 128 + signum, output(tmp_path)[-3000:]

    text = output(tmp_path)
    assert f"sweep interrupted by {signum.name}" in text and "Traceback" not in text, text[-3000:]
    interrupted = {"status": "interrupted", "error": f"interrupted by {signum.name}", "signal": signum.name,
                   "exit_code": 128 + signum}
    for job in sweep_dir.glob("seed=*"):
        if job in finished:  # nothing of a job that ended before the signal is lost
            assert status(job)["status"] == "completed" and (job / "results.json").read_bytes() == finished[job]
        elif job.name == "seed=2":  # the job that was starting
            assert status(job) == interrupted
        else:  # one that was training then, or had just ended
            assert status(job) == interrupted or status(job)["status"] == "completed", job.name
    assert not [pid for pid in jobs if alive(pid)]  # no job trains on, orphaned


def test_kill_9_of_a_parallel_job_records_it_failed_and_the_others_finish(mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep = start_train(["-m", *tiny_overrides(mnist_root), *injected("slow", "Slow", seconds=0.2),
                         "trainer.max_epochs=3", "seed=0,1,2", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
                         f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    victim = sweep_dir / "seed=1"
    wait_for(lambda: (victim / "checkpoints" / "last.ckpt").exists(), sweep, tmp_path)
    job = lock_holder(victim)
    assert job in children(sweep.pid)  # the job is the sweep's own forked process, holding its folder
    os.kill(job, signal.SIGKILL)
    assert sweep.wait(timeout=300) == 1, output(tmp_path)[-3000:]

    assert status(victim) == {"status": "failed", "error": "the job's process was killed by SIGKILL", "exit_code": -9}
    assert [status(sweep_dir / f"seed={seed}")["status"] for seed in (0, 2)] == ["completed", "completed"]
    text = output(tmp_path)
    assert "2 of 3 jobs completed" in text
    assert re.search(r"failed: .* seed=1: the job's process was killed by SIGKILL", text)
    assert "Traceback" not in text, text[-3000:]
    assert (sweep_dir / "summary.md").exists() and (sweep_dir / "figure.png").exists()
    assert not alive(job)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_train_py_imports_ends_it_in_one_line(signum: signal.Signals, mnist_root: Path,
                                                             tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # A fresh interpreter, which imports torch and Lightning itself (the ForkServer's children have them).
    run = start_train([*tiny_overrides(mnist_root), f"hydra.run.dir={run_dir}"], tmp_path, env={"FRESH": "1"})
    wait_for(lambda: importing_torch(run.pid), run, tmp_path, pause=0.001)
    run.send_signal(signum)
    assert run.wait(timeout=120) == 128 + signum, output(tmp_path)[-3000:]
    assert output(tmp_path).strip().splitlines() == [
        interrupted_as_it_started(signum)], output(tmp_path)[-3000:]
    assert not run_dir.exists()


def writing(folder: Path, at_least: int) -> bool:
    """True while a checkpoint's temporary file (files.atomic_file's) holds `at_least` bytes."""
    for path in folder.glob(f".*{TEMPORARY_SUFFIX}"):
        try:
            if path.stat().st_size >= at_least:
                return True
        except FileNotFoundError:  # renamed into place meanwhile
            pass
    return False


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_ctrl_c_while_a_checkpoint_is_written_leaves_whole_checkpoints_and_resumes(share: float, mnist_root: Path,
                                                                                   tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # A checkpoint of some 90 MB takes a while to write: long enough to be interrupted within; one
    # every other step (a run's validation may not improve, and write no best.ckpt), 9 in the run.
    command = [*tiny_overrides(mnist_root), "model.hidden_dims=[2000,2000]", "trainer.max_epochs=3",
               "+callbacks.checkpoint.every_n_train_steps=2", f"hydra.run.dir={run_dir}"]
    run = start_train(command, tmp_path)
    folder = run_dir / "checkpoints"
    wait_for(lambda: (folder / "last.ckpt").exists(), run, tmp_path)
    size = (folder / "last.ckpt").stat().st_size
    written = {path.name for path in folder.glob("*.ckpt")}
    # The next write, caught as it starts (share 0) or half written (share 0.5).
    wait_for(lambda: writing(folder, max(1, int(share * size))), run, tmp_path, pause=0.001)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=300) == 130, output(tmp_path)[-3000:]

    assert status(run_dir) == {"status": "interrupted", "error": "interrupted by SIGINT", "signal": "SIGINT",
                               "exit_code": 130}
    assert "Traceback" not in output(tmp_path)
    assert not list(folder.glob(f".*{TEMPORARY_SUFFIX}"))
    # Each checkpoint there before the interrupted write still is, the one it replaces too: without it the
    # loop below would pass, and the resumed run would start from an older checkpoint, or afresh, and complete.
    left = sorted(folder.glob("*.ckpt"))
    assert written <= {path.name for path in left}, (written, left)
    for checkpoint in left:  # the old one or the new one, each whole
        assert torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"] > 0
    resumed = run_train([*command, "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert status(run_dir)["status"] == "completed" and status(run_dir)["results"]["epochs"] == 3


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_as_a_sweeps_first_jobs_are_forked_ends_them_recorded(signum: signal.Signals, mnist_root: Path,
                                                                       tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep = start_train(["-m", *tiny_overrides(mnist_root), "seed=0,1,2", "hydra/launcher=parallel",
                         "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    wait_for(lambda: children(sweep.pid, leaders=True), sweep, tmp_path, pause=0.001)
    jobs = children(sweep.pid, leaders=True)  # Hydra composes their configs now
    sweep.send_signal(signum)
    assert sweep.wait(timeout=120) == 128 + signum, output(tmp_path)[-3000:]
    text = output(tmp_path)
    assert f"sweep interrupted by {signum.name}" in text and "Traceback" not in text, text[-3000:]
    for job in sweep_dir.glob("seed=*"):
        assert status(job) == {"status": "interrupted", "error": f"interrupted by {signum.name}",
                               "signal": signum.name, "exit_code": 128 + signum}, job.name
    assert not [pid for pid in jobs if alive(pid)]


def interrupted_by(signum: signal.Signals) -> dict:
    return {"status": "interrupted", "error": f"interrupted by {signum.name}", "signal": signum.name,
            "exit_code": 128 + signum}


def first_job_training(launcher: str, sweep_dir: Path, mnist_root: Path, tmp_path: Path):
    """A sweep of three slow jobs, one at a time, once its first has written a checkpoint: the sweep's
    process, the first job's folder and the pid of the job's process."""
    sweep = start_train(["-m", *tiny_overrides(mnist_root), *injected("slow", "Slow", seconds=0.2),
                         "trainer.max_epochs=3", "seed=0,1,2", f"hydra/launcher={launcher}",
                         *(["hydra.launcher.n_jobs=1"] if launcher == "parallel" else []),
                         f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    first = sweep_dir / "seed=0"
    wait_for(lambda: (first / "checkpoints" / "last.ckpt").exists(), sweep, tmp_path)
    return sweep, first, lock_holder(first)


@pytest.mark.parametrize(("launcher", "signum"), [("basic", signal.SIGINT), ("basic", signal.SIGTERM),
                                                  ("parallel", signal.SIGHUP)])
def test_a_signal_to_the_sweeps_process_alone_stops_the_sweep_and_its_running_job(
        launcher: str, signum: signal.Signals, mnist_root: Path, tmp_path: Path) -> None:
    # `kill <sweep>` left the basic launcher's job training on, orphaned, and the sweep started no report; a
    # signal that reached the job alone (a background sweep ignores SIGINT) went on to the next job. A closed
    # terminal (SIGHUP) ended a job without a word, its status.json left saying running.
    sweep_dir = tmp_path / "sweep"
    sweep, first, job = first_job_training(launcher, sweep_dir, mnist_root, tmp_path)
    sweep.send_signal(signum)
    assert sweep.wait(timeout=120) == 128 + signum, output(tmp_path)[-3000:]
    text = output(tmp_path)
    assert f"sweep interrupted by {signum.name}" in text and "Traceback" not in text, text[-3000:]
    assert status(first) == interrupted_by(signum)
    assert not (sweep_dir / "seed=1").exists()  # the sweep stopped: no job after it started
    assert not alive(job)


@pytest.mark.parametrize("launcher", ["basic", "parallel"])
def test_ctrl_z_pauses_the_sweep_with_its_running_job_and_fg_continues_both(launcher: str, mnist_root: Path,
                                                                           tmp_path: Path) -> None:
    # A terminal's Ctrl-Z stops its foreground group, the sweep's process alone: its job, in a group of its
    # own, trained on, and its checkpoints changed under a paused sweep.
    sweep_dir = tmp_path / "sweep"
    sweep, first, job = first_job_training(launcher, sweep_dir, mnist_root, tmp_path)
    sweep.send_signal(signal.SIGTSTP)
    stopped = states_once([sweep.pid, job], stopped=True)
    assert set(stopped.values()) == {"T"}, stopped
    last = (first / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    time.sleep(3)  # some 10 steps of the job's, were it training
    assert (first / "checkpoints" / "last.ckpt").stat().st_mtime_ns == last and process_state(job) == "T"
    sweep.send_signal(signal.SIGCONT)  # the shell's `fg`
    continued = states_once([sweep.pid, job], stopped=False)
    assert "T" not in continued.values(), continued
    assert sweep.wait(timeout=300) == 0, output(tmp_path)[-3000:]
    assert [status(sweep_dir / f"seed={seed}")["status"] for seed in range(3)] == ["completed"] * 3


@pytest.mark.parametrize("launcher", ["basic", "parallel"])
def test_kill_9_of_the_sweeps_process_ends_its_job_recorded(launcher: str, mnist_root: Path, tmp_path: Path) -> None:
    # The job trained on, orphaned, holding the sweep's lock under the dead sweep's pid.
    sweep_dir = tmp_path / "sweep"
    sweep, first, job = first_job_training(launcher, sweep_dir, mnist_root, tmp_path)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait(timeout=60)
    deadline = time.monotonic() + 60
    # The lock goes with the job's last thread, which may outlive its first, by which /proc tells it ended.
    while (alive(job) or lock_holder(sweep_dir) or lock_holder(first)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(job)
    assert status(first) == interrupted_by(signal.SIGTERM)
    assert lock_holder(sweep_dir) is None and lock_holder(first) is None


def train_processes_started_by(pid: int) -> set[int]:
    """The `python train.py` processes whose parent is `pid`: the further DDP processes Lightning starts."""
    found = set()
    for child in children(pid):
        with_arguments = Path(f"/proc/{child}/cmdline")
        if with_arguments.exists() and b"train.py" in with_arguments.read_bytes():
            found.add(child)
    return found


@pytest.mark.parametrize("moment", ["setup", "epoch"])
def test_kill_9_of_a_ddp_runs_first_process_is_recorded_by_the_other_which_ends_and_the_run_resumes(
        moment: str, mnist_root: Path, tmp_path: Path) -> None:
    # The first process alone records the run: killed, it left status.json `running`, and the other process
    # waited for it in gloo's setup for half an hour, or ended at its next exchange of gradients, saying nothing.
    run_dir = tmp_path / "run"
    ddp = [*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2", f"hydra.run.dir={run_dir}"]
    first = start_train([*ddp, *injected("probe", "Probe", run_dir=run_dir), *injected("slow", "Slow")], tmp_path)
    wait_for(lambda: train_processes_started_by(first.pid), first, tmp_path)
    (other,) = train_processes_started_by(first.pid)
    try:
        if moment == "epoch":  # the other process trains: it waits for the first in each step
            wait_for(lambda: (run_dir / "probe.1.json").exists(), first, tmp_path)
        first.kill()
        assert first.wait(timeout=60) == -signal.SIGKILL
        deadline = time.monotonic() + 120
        while alive(other) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(other), output(tmp_path)[-3000:]
    finally:
        if alive(other):
            os.kill(other, signal.SIGKILL)
    line = (f"the first process of this DDP run (pid {first.pid}) died without recording its outcome (kill -9, "
            f"out of memory, or a crash); resume=true continues from the last checkpoint")
    assert status(run_dir) == {"status": "failed", "error": line}, output(tmp_path)[-3000:]
    said = (tmp_path / "stderr.txt").read_text().splitlines()
    assert said.count(f"error: {line}") == 1 and lock_holder(run_dir) is None
    resumed = run_train([*ddp, "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert status(run_dir)["status"] == "completed"
