"""The one way the project writes a file: to a temporary file beside it, flushed to disk, renamed; and
the check, before any work, that a folder can be written."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vae_lightning.errors import UserInputError

TEMPORARY_SUFFIX = ".tmp"

# A full disk and an exhausted quota (a shared cluster's usual limit) are met and fixed alike: free some space.
FULL_DISK = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


def full_disk(error: BaseException) -> str | None:
    """How `error` says the disk is full ("no space left on device", "disk quota exceeded"), or None."""
    return FULL_DISK.get(error.errno) if isinstance(error, OSError) else None  # type: ignore[arg-type]


def temporary_path(path: Path) -> Path:
    """Hidden and named by the writing process, so two writers never share a temporary file."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")


@contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[bytes]]:
    """`with atomic_file(path) as file: file.write(...)` replaces `path` only once all is on disk. A rename
    within one folder is atomic: a reader (or a resumed run) sees the old file or the new one, never half
    of one, even after `kill -9` or a power cut. A failed write (a full disk) removes its temporary file.
    A file or link already at the temporary path (a handed-over folder's) is replaced, never written
    through; so is a link at `path`."""
    path = Path(path)
    temporary = temporary_path(path)
    temporary.unlink(missing_ok=True)
    try:
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666), "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:  # a write to the file object names no file
            error.filename = str(path)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_file(path) as file:
        file.write(text.encode())


def write_json(path: str | Path, content: Any) -> None:
    write_text(path, json.dumps(content, indent=2) + "\n")


def copy_file(source: str | Path, destination: str | Path) -> None:
    """`shutil.copy` through `atomic_file`: a link at `destination` is replaced, never written through."""
    with atomic_file(destination) as file:
        file.write(Path(source).read_bytes())


def read_json(path: str | Path) -> Any | None:
    """The file's content, or None when it is missing or not JSON (a run that never wrote it)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def remove(path: Path) -> None:
    """Delete a file, a link (never what it links to) or a folder and its content; nothing if absent."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def remove_partial_writes(folder: Path) -> list[Path]:
    """Delete temporary files that a killed writer left; they never held a complete file."""
    removed = sorted(folder.glob(f".*{TEMPORARY_SUFFIX}"))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def refuse_links_out(folder: Path, writer: str, advice: str) -> None:
    """Raise UserInputError for a symbolic link in a handed-over `folder` that leads out of it, which
    `writer` would write through (a link to a .pth file in site-packages runs as code). A link within
    the folder (submitit's own in .submitit/) keeps every write in it."""
    inside = folder.resolve()
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            if (link := Path(parent) / name).is_symlink() and not link.resolve().is_relative_to(inside):
                raise UserInputError(f"{link} is a symbolic link out of the folder, which {writer} would write "
                                     f"through; replace it with what it links to (cp -rL), or {advice}")


def check_writable(folder: Path, name: str, advice: str) -> None:
    """Raise UserInputError, saying `name` (`--out results`) and `advice`, unless a file can be made in
    `folder`, or, while it is missing, in the nearest folder above it (where the command makes it)."""
    try:
        existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
    except OSError as error:  # a name past the system's limit: the generic line named the path but not `name`
        raise UserInputError(f"{name} cannot be made ({error.strerror or type(error).__name__}): {advice}") from None
    if not existing.is_dir():
        where = name if existing == folder else f"{name}: {existing}"
        raise UserInputError(f"{where} is a file: {advice}")
    # Trying is the one sure test: os.access answers for the real user from the mode bits, where ACLs
    # and a network file system's server decide for themselves. A temporary file leaves nothing behind.
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserInputError(f"{name} cannot be written ({error.strerror or type(error).__name__}): {advice}") from None
