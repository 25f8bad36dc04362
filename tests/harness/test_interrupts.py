"""Ctrl-C (SIGINT), SIGTERM (kill, Slurm's scancel and time limit) and SIGHUP (a closed terminal) stop
a run as an interrupt: status.json says so with the signal, exit 130/143/129, no traceback."""

import json
import signal
import time
from pathlib import Path

import pytest

from helpers import injected, start_train, tiny_overrides

pytestmark = pytest.mark.slow


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
