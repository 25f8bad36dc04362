"""The one atomic writer: a reader sees the old file or the new one; a failed write leaves no junk."""

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
