"""A real PostgreSQL server for the tests of a study on a database server: Debian's binaries run a
throwaway cluster in a temporary folder, reached through a Unix socket there (no TCP port)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

DATABASES = itertools.count()


def postgres_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps each version's apart), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Path]:
    """The socket folder of a PostgreSQL server started for this test session and stopped after it;
    its superuser `postgres` connects without a password."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    # PostgreSQL refuses to run as root: root runs it as the system's user postgres.
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # A short path: a Unix socket's path may not exceed 107 bytes, which pytest's tmp_path can.
    folder = Path(tempfile.mkdtemp(prefix="pg-"))
    if as_owner:
        shutil.chown(folder, "postgres")

    def run(program: str, *arguments: object) -> None:
        done = subprocess.run([*as_owner, str(binaries / program), *map(str, arguments)], capture_output=True,
                              text=True)
        log = folder / "server.log"
        assert done.returncode == 0, done.stderr + (log.read_text() if log.exists() else "")

    data = folder / "data"
    run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync")
    run("pg_ctl", "start", "-w", "-D", data, "-l", folder / "server.log", "-o", f"-k {folder} -c listen_addresses=''")
    try:
        yield folder
    finally:
        run("pg_ctl", "stop", "-w", "-D", data, "-m", "immediate")
        shutil.rmtree(folder)


@pytest.fixture
def postgres_storage(postgres_server: Path) -> str:
    """The URL (as hydra.sweeper.storage takes it) of a new, empty database on the session's server."""
    name = f"study{next(DATABASES)}"
    created = subprocess.run([str(postgres_binaries() / "createdb"), "-h", str(postgres_server), "-U", "postgres",
                              name], capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    return f"postgresql+psycopg://postgres@/{name}?host={postgres_server}"
