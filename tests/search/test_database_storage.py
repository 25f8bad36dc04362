"""A study on a database server (hydra_plugins/vae_lightning_optuna/_study.py): one search at a time per
study, kept by the server's own lock on a real PostgreSQL (tests/search/conftest.py), and a database
that has no such lock refused before anything runs."""

import os
import signal
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from harness.test_signals import alive
from helpers import injected, run_train, start_train, tiny_overrides
from hydra_plugins.vae_lightning_optuna._study import INTERRUPTED, lock_key, lock_storage
from search.test_optuna_sweeper import check, trials
from vae_lightning.errors import ConfigError
from vae_lightning.harness.command_line import check_command_line
from vae_lightning.harness.runs import lock_holder

SUPPORTED = ("is not supported: a search keeps other searches off its study by a lock, which the sweeper takes on a "
             "journal file, an SQLite file (sqlite:///<file>), PostgreSQL or MySQL/MariaDB; use one of these")


@pytest.mark.parametrize("storage,expected", [
    ("mssql+pyodbc://sa@db/studies", SUPPORTED),
    ("oracle://scott@db/orcl", SUPPORTED),
    ("sqlite://", SUPPORTED),  # in memory: the trials' processes could not reach it either
    ("postgresql+psycopg://postgres@/studies?host=/nonexistent", "cannot use the database: (psycopg.OperationalError)"),
    ("postgresql ://postgres@db/studies", "is neither a file nor a database URL (dialect://user@host/database)"),
    ("postgresql://postgres@db:54x2/studies", "is neither a file nor a database URL (dialect://user@host/database)"),
])
def test_a_database_the_sweeper_cannot_lock_is_refused_in_one_line_before_anything_is_written(
    storage: str, expected: str, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    line = check(["-m", "search=sgd", *tiny_overrides(mnist_root), f"hydra.sweeper.storage='{storage}'"], capsys)
    assert line.startswith(f"error: hydra.sweeper.storage={storage}") and expected in line
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="hydra.sweeper.storage="):  # and when the sweeper runs
        lock_storage(storage, "sgd")


@pytest.mark.parametrize("dialect", ["mysql+pymysql", "mariadb+mariadbconnector"])
def test_a_mysql_servers_lock_is_named_by_the_database_and_study_within_its_64_characters(dialect: str) -> None:
    # MySQL's GET_LOCK takes a name, server-wide, of at most 64 characters, where PostgreSQL's lock takes a number.
    key = lock_key(make_url(f"{dialect}://alice@db/studies"), "sgd")
    assert isinstance(key, str) and len(key) <= 64
    assert lock_key(make_url(f"{dialect}://bob@db.example.org:3307/studies"), "sgd") == key
    assert key not in (lock_key(make_url(f"{dialect}://alice@db/studies"), "adam"),
                       lock_key(make_url(f"{dialect}://alice@db/others"), "sgd"))


def test_a_storage_urls_password_is_not_shown_in_messages(mnist_root: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    storage = "postgresql+psycopg://postgres:s3cret@/studies?host=/nonexistent"
    line = check(["-m", "search=sgd", *tiny_overrides(mnist_root), f"hydra.sweeper.storage='{storage}'"], capsys)
    assert line.startswith("error: hydra.sweeper.storage=postgresql+psycopg://postgres:***@/studies")
    assert "s3cret" not in line


@pytest.mark.slow
def test_the_servers_lock_is_per_study_and_free_once_its_search_lets_go(postgres_storage: str, mnist_root: Path,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    command = ["-m", "search=sgd", *tiny_overrides(mnist_root), f"hydra.sweeper.storage='{postgres_storage}'",
               f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    lock = lock_storage(postgres_storage, "sgd")
    try:
        assert check(command, capsys) == (
            f"error: hydra.sweeper.storage={postgres_storage} is in use by another search (study sgd); wait for it "
            f"to end, or give this search another hydra.sweeper.study_name")
        # The check takes and lets go of the lock at once: it refuses again, and another study is free.
        assert "is in use by another search (study sgd)" in check(command, capsys)
        check_command_line([*command, "hydra.sweeper.study_name=other"])[1].close()
    finally:
        lock.close()
    check_command_line(command)[1].close()


@pytest.mark.slow
def test_a_searchs_output_never_shows_the_storage_urls_password(postgres_storage: str, mnist_root: Path,
                                                                tmp_path: Path) -> None:
    # The launcher's `#0 : ...` line and the report's `failed: ...` lines printed each trial's overrides,
    # the URL its callback connects with among them. The server trusts its socket: any password does.
    storage = postgres_storage.replace("postgres@", "postgres:s3cret@")
    done = run_train(["-m", "search=sgd", *tiny_overrides(mnist_root), "hydra.sweeper.n_trials=1",
                      f"hydra.sweeper.storage='{storage}'", f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "s3cret" not in done.stdout + done.stderr and "#0 : " in done.stdout + done.stderr
    assert [trial.state for trial in trials(storage)] == [TrialState.COMPLETE]


def state(storage: str) -> list[tuple]:
    # Not the user attributes: the trial's run adds its folder as it starts training, at a moment of its own.
    return [(trial.number, trial.state, trial.params) for trial in trials(storage)]


@pytest.mark.slow
def test_a_second_command_on_a_study_a_search_holds_is_refused_until_the_first_is_killed(postgres_storage: str,
                                                                                         mnist_root: Path,
                                                                                         tmp_path: Path) -> None:
    command = ["-m", "search=sgd", "hydra.sweeper.n_trials=1", f"hydra.sweeper.storage='{postgres_storage}'",
               *tiny_overrides(mnist_root)]
    first_dir = tmp_path / "first"
    # The first search's one trial, 30 s a step, is still running when the second command starts.
    first = start_train([*command, *injected("slow", "Slow", seconds=30), f"hydra.sweep.dir={first_dir}"], tmp_path)
    job = None
    try:
        while not (started := list(first_dir.glob("*/status.json"))):
            assert first.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
            time.sleep(0.2)
        job = lock_holder(started[0].parent)  # the trial's run, forked by the command: it holds the lock too
        running = state(postgres_storage)
        assert [trial[1] for trial in running] == [TrialState.RUNNING]
        second = run_train([*command, "resume=true", f"hydra.sweep.dir={tmp_path / 'second'}"], tmp_path)
        assert first.poll() is None
        assert second.returncode == 2 and second.stderr.strip().splitlines() == [
            f"error: hydra.sweeper.storage={postgres_storage} is in use by another search (study sgd); wait for it "
            f"to end, or give this search another hydra.sweeper.study_name"]
        assert not (tmp_path / "second").exists()
        assert state(postgres_storage) == running  # the first search's trial is left to it
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        if job is not None:
            os.kill(job, signal.SIGKILL)
    while alive(job):
        time.sleep(0.1)

    # The server ended the killed processes' session, and its lock with it.
    third = run_train([*command, "resume=true", f"hydra.sweep.dir={tmp_path / 'third'}"], tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    cut, repeated = trials(postgres_storage)
    assert cut.state == TrialState.FAIL and cut.user_attrs[INTERRUPTED]
    assert repeated.state == TrialState.COMPLETE and repeated.params == cut.params
