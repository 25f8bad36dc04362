"""Slurm's warning (SIGUSR2) kept while a submitit job loads the project, and sent again to the run's handler;
Ctrl-Z in a session of its own."""

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from vae_lightning import startup
from vae_lightning.startup import hold_slurm_warning, paused_by_ctrl_z, release_slurm_warning


@pytest.fixture
def sigusr2() -> Iterator[None]:
    """SIGUSR2 as a new process has it (its default action ends the process), and put back after the test."""
    previous = signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGUSR2, previous)
    startup.held_warnings.clear()


def test_a_warning_as_a_submitit_job_loads_is_kept_then_sent_to_the_runs_handler(
        sigusr2: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBMITIT_FOLDER", "/cluster/sweep/.submitit/7")
    hold_slurm_warning()
    signal.raise_signal(signal.SIGUSR2)  # would end this process, unkept
    received: list[int] = []

    def record(signum: int, frame: Any) -> None:
        received.append(signum)

    signal.signal(signal.SIGUSR2, record)  # submitit's handler, then the run's
    assert received == []
    release_slurm_warning()
    assert received == [signal.SIGUSR2]
    release_slurm_warning()  # sent once
    assert received == [signal.SIGUSR2]


def test_outside_a_submitit_job_the_warning_is_left_alone(sigusr2: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUBMITIT_FOLDER", raising=False)
    hold_slurm_warning()
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL


def test_a_handler_in_place_before_the_project_loads_is_kept(sigusr2: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job's own code that imports the project after submitit has put its handler in place."""
    monkeypatch.setenv("SUBMITIT_FOLDER", "/cluster/sweep/.submitit/7")
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    hold_slurm_warning()
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_IGN


@pytest.mark.parametrize("leads_its_session", [True, False])
def test_ctrl_z_has_a_handler_in_a_session_leader_alone(leads_its_session: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Reproduce's sweep leads its own session; a DDP process of a run in a terminal keeps the kernel's stop."""
    monkeypatch.setattr(os, "getsid", lambda pid: os.getpid() if leads_its_session else os.getpid() + 1)
    previous = signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    try:
        paused_by_ctrl_z()
        assert callable(signal.getsignal(signal.SIGTSTP)) is leads_its_session
    finally:
        signal.signal(signal.SIGTSTP, previous)
