"""Real signals at the awkward moments of real runs: while a parallel sweep's jobs start, `kill -9`
of one job's process, and Ctrl-C while a checkpoint is being written."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from helpers import injected, start_train, tiny_overrides
from vae_lightning.harness.runs import lock_holder

pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid`, read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
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
        seen |= children(sweep.pid)
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
    sweep = start_train(["-m", *tiny_overrides(mnist_root), "seed=0,1,2", "hydra/launcher=parallel",
                         "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    jobs = third_job_starts(sweep, tmp_path, moment)
    finished = {job: (job / "results.json").read_bytes() for job in sweep_dir.glob("seed=*")
                if (status(job) or {}).get("status") == "completed"}
    sweep.send_signal(signum)
    assert sweep.wait(timeout=120) == 128 + signum, output(tmp_path)[-3000:]

    text = output(tmp_path)
    assert f"sweep interrupted by {signum.name}" in text and "Traceback" not in text, text[-3000:]
    for job in sweep_dir.glob("seed=*"):
        if job in finished:  # nothing of a job that ended before the signal is lost
            assert status(job)["status"] == "completed" and (job / "results.json").read_bytes() == finished[job]
        else:
            assert status(job) == {"status": "interrupted", "error": f"interrupted by {signum.name}",
                                   "signal": signum.name, "exit_code": 128 + signum}, job.name
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
