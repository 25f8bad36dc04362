"""Slurm's warning (SIGUSR2) held while a submitit job starts, and delivered to the run's handler."""

import signal
import threading
from typing import Any

import pytest

from vae_lightning.startup import hold_slurm_warning, release_slurm_warning


@pytest.mark.parametrize("in_a_submitit_job", [True, False])
def test_a_warning_waits_for_the_release_in_a_submitit_job_alone(in_a_submitit_job: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if in_a_submitit_job:
        monkeypatch.setenv("SUBMITIT_FOLDER", "/cluster/sweep/.submitit/7")
    else:
        monkeypatch.delenv("SUBMITIT_FOLDER", raising=False)
    received: list[int] = []

    def record(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGUSR2, record)
    try:
        hold_slurm_warning()
        # To this thread alone: another thread of the test process would take a signal sent to the process.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR2)
        assert received == ([] if in_a_submitit_job else [signal.SIGUSR2])
        release_slurm_warning()
        assert received == [signal.SIGUSR2]
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
        signal.signal(signal.SIGUSR2, previous)
