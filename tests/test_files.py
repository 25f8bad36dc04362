"""The one atomic writer: a reader sees the old file or the new one; a failed write leaves no junk."""

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from vae_lightning import files


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    files.write_json(path, {"status": "running"})
    files.write_json(path, {"status": "completed"})
    assert files.read_json(path) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    files.write_text(path, "old")
    with pytest.raises(RuntimeError), files.atomic_file(path) as file:
        file.write(b"half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_what_a_killed_writer_left_is_removed(tmp_path: Path) -> None:
    (tmp_path / ".last.ckpt.123.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / "last.ckpt").write_bytes(b"whole")
    assert [p.name for p in files.remove_partial_writes(tmp_path)] == [".last.ckpt.123.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_read_json_of_a_missing_or_broken_file_is_none(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{")
    assert files.read_json(tmp_path / "missing.json") is None and files.read_json(tmp_path / "broken.json") is None


def test_links_placed_in_a_handed_over_folder_are_replaced_not_written_through(tmp_path: Path) -> None:
    # A crafted sweep folder held links at the writer's temporary path (for every pid) and at the
    # file itself, into a file that runs as code (a .pth in site-packages): nothing may reach it.
    target = tmp_path / "site-packages" / "zz.pth"
    target.parent.mkdir()
    target.write_text("untouched")
    folder = tmp_path / "sweep"
    folder.mkdir()
    path = folder / "summary.md"
    files.temporary_path(path).symlink_to(target)
    path.symlink_to(target)
    files.write_text(path, "the table")
    assert target.read_text() == "untouched"
    assert not path.is_symlink() and path.read_text() == "the table"
    assert [p.name for p in folder.iterdir()] == ["summary.md"]


def test_a_failed_write_that_names_no_file_names_the_file_it_was_writing(tmp_path: Path) -> None:
    """An OSError from the file object (a full disk) is raised naming the file the write was for."""
    path = tmp_path / "results.json"
    with pytest.raises(OSError) as raised, files.atomic_file(path) as file:
        file.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert raised.value.filename == str(path) and raised.value.errno == errno.ENOSPC


def test_two_processes_never_share_a_temporary_file(tmp_path: Path) -> None:
    """The temporary path is named by the writing process: another writer of the file uses another."""
    path = tmp_path / "status.json"
    theirs = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from vae_lightning.files "
                             "import temporary_path; print(temporary_path(Path(sys.argv[1])))", str(path)],
                            capture_output=True, text=True, check=True).stdout.strip()
    ours = files.temporary_path(path)
    assert ours.parent == Path(theirs).parent == tmp_path and ours != Path(theirs)


def test_only_the_writers_hidden_temporary_files_are_removed_as_partial_writes(tmp_path: Path) -> None:
    """A file of the user's that merely ends in .tmp is no partial write: it stays."""
    (tmp_path / ".last.ckpt.123.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / "notes.tmp").write_text("the user's")
    assert [p.name for p in files.remove_partial_writes(tmp_path)] == [".last.ckpt.123.tmp"]
    assert (tmp_path / "notes.tmp").read_text() == "the user's"



def test_a_folder_whose_name_is_too_long_is_named_by_its_key(tmp_path: Path) -> None:
    # The command line said "<path>: File name too long; choose another path", naming no key.
    folder = tmp_path / ("x" * 300) / "run"
    with pytest.raises(files.UserInputError, match=r"^hydra.run.dir cannot be made \(File name too long\): choose "
                                                   r"another hydra.run.dir$"):
        files.check_writable(folder, "hydra.run.dir", "choose another hydra.run.dir")
