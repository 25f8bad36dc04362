"""Ctrl-C (SIGINT), SIGTERM (kill, Slurm's scancel and time limit) and SIGHUP (a closed terminal) stop
a run as an interrupt: status.json says so with the signal, exit 130/143/129, no traceback."""

import json
import signal
import time
from pathlib import Path

import pytest

from helpers import injected, run_train, start_train, tiny_overrides

pytestmark = pytest.mark.slow


def ddp_processes(run_dir: Path) -> list[int]:
    """The further DDP processes Lightning started for the run in `run_dir`, found by their command lines
    (the first, forked by the tests' ForkServer, shows the server's)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:  # not a process, or ended meanwhile
            continue
        if b"hydra.job.name=train_ddp_process_" in command and str(run_dir).encode() in command:
            found.append(int(entry.name))
    return found


# SIGHUP: the terminal closed (an ssh session lost); the run ended without a word, status.json saying running.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_an_interrupt_is_recorded_with_its_signal(signum: signal.Signals, mnist_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run = start_train([*tiny_overrides(mnist_root), *injected("slow", "Slow", seconds=0.2), "trainer.max_epochs=100",
                       f"hydra.run.dir={run_dir}"], tmp_path)
    while not (run_dir / "checkpoints" / "last.ckpt").exists():
        assert run.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
        time.sleep(0.2)
    run.send_signal(signum)
    assert run.wait(timeout=120) == 128 + signum
    status = json.loads((run_dir / "status.json").read_text())
    assert status == {"status": "interrupted", "error": f"interrupted by {signum.name}", "signal": signum.name,
                      "exit_code": 128 + signum}
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


def test_an_interrupt_lost_in_a_weakref_callback_mid_training_stops_the_run(mnist_root: Path, tmp_path: Path) -> None:
    # The run's handler raised it inside a weakref callback, where Python prints it and goes on: the run ignored
    # the Ctrl-C, trained to its end and recorded completed.
    run_dir = tmp_path / "run"
    overrides = [*tiny_overrides(mnist_root), "trainer.max_epochs=3", f"hydra.run.dir={run_dir}"]
    # Step 8, 6 an epoch: in the second epoch, after the first one's last.ckpt, which resume=true continues from.
    done = run_train([*overrides, *injected("fault", "Fault", kind="int_in_weakref", at_step=8)], tmp_path)
    assert "Exception ignored" in done.stderr
    assert done.returncode == 128 + signal.SIGINT, done.stderr[-3000:]
    assert json.loads((run_dir / "status.json").read_text()) == {
        "status": "interrupted", "error": "interrupted by SIGINT", "signal": "SIGINT", "exit_code": 128 + signal.SIGINT}
    assert "interrupted by SIGINT; resume=true continues from the last checkpoint" in done.stdout
    resumed = run_train([*overrides, "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    assert json.loads((run_dir / "status.json").read_text())["results"]["epochs"] == 3


def test_a_ddp_run_interrupted_by_ctrl_c_to_its_command_resumes_to_the_uninterrupted_runs_losses(
        mnist_root: Path, tmp_path: Path) -> None:
    # SIGINT to the command reaches its first process alone (Lightning starts the other from it), which records
    # the interrupt; the other, left without it, must end too, and the run resume exactly.
    ddp = [*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2", "trainer.max_epochs=3"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = run_train([*ddp, f"hydra.run.dir={whole}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = start_train([*ddp, f"hydra.run.dir={cut}", *injected("slow", "Slow", seconds=1)], tmp_path)
    while not (cut / "checkpoints" / "last.ckpt").exists():
        assert run.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
        time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=120) == 128 + signal.SIGINT
    assert json.loads((cut / "status.json").read_text())["status"] == "interrupted"
    deadline = time.monotonic() + 120
    while ddp_processes(cut) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ddp_processes(cut), "the other DDP process outlived the interrupted run"
    resumed = run_train([*ddp, f"hydra.run.dir={cut}", "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    results = [json.loads((folder / "results.json").read_text()) for folder in (whole, cut)]
    assert (results[1]["val"], results[1]["test"]) == (results[0]["val"], results[0]["test"])
