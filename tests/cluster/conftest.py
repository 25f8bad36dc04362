"""A one-node Slurm cluster for the session, started by tests/cluster/slurm.sh and stopped by its pids."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CLUSTER = Path(__file__).parent
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol")


@dataclass
class Slurm:
    state_dir: Path
    env: dict[str, str]  # what `python train.py` needs to reach the cluster

    def run(self, *command: str) -> str:
        return subprocess.run(command, env={**os.environ, **self.env}, capture_output=True, text=True,
                              check=True).stdout

    def kick(self) -> None:
        """Start requeued jobs that have waited 10 s: Slurm holds them for about two minutes otherwise."""
        self.run("bash", str(CLUSTER / "slurm.sh"), "kick", str(self.state_dir))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        pytest.skip(f"no Slurm here ({', '.join(missing)} not found): run `bash tests/cluster/slurm.sh install` "
                    f"as root")
    if os.geteuid() != 0:
        pytest.skip("the test cluster's daemons run as root (tests/cluster/README.md)")
    state_dir = tmp_path_factory.mktemp("slurm")
    # Ports of its own, so that another cluster on this machine (another test session) never answers.
    ports = {"SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port())}
    started = subprocess.run(["bash", str(CLUSTER / "slurm.sh"), "start", str(state_dir)], capture_output=True,
                             text=True, env={**os.environ, **ports})
    if started.returncode:
        pytest.fail(f"the test Slurm cluster did not start: {started.stderr.strip()}")
    env = {"SLURM_CONF": str(state_dir / "slurm.conf"), "PATH": f"{CLUSTER / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    try:
        yield Slurm(state_dir, env)
    finally:
        subprocess.run(["bash", str(CLUSTER / "slurm.sh"), "stop", str(state_dir)], check=True)
