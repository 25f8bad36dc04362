"""The one way the project writes a file: to a temporary file beside it, flushed to disk, renamed; and
the check, before any work, that a folder can be written."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vae_lightning.errors import UserInputError

TEMPORARY_SUFFIX = ".tmp"


def temporary_path(path: Path) -> Path:
    """Hidden and named by the writing process, so two writers never share a temporary file."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")


@contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[bytes]]:
    """`with atomic_file(path) as file: file.write(...)` replaces `path` only once all is on disk. A rename
    within one folder is atomic: a reader (or a resumed run) sees the old file or the new one, never half
    of one, even after `kill -9` or a power cut. A failed write (a full disk) removes its temporary file."""
    path = Path(path)
    temporary = temporary_path(path)
    try:
        with open(temporary, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_file(path) as file:
        file.write(text.encode())


def write_json(path: str | Path, content: Any) -> None:
    write_text(path, json.dumps(content, indent=2) + "\n")


def read_json(path: str | Path) -> Any | None:
    """The file's content, or None when it is missing or not JSON (a run that never wrote it)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def remove_partial_writes(folder: Path) -> list[Path]:
    """Delete temporary files that a killed writer left; they never held a complete file."""
    removed = sorted(folder.glob(f".*{TEMPORARY_SUFFIX}"))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def check_writable(folder: Path, name: str, fix: str) -> None:
    """Raise UserInputError, saying `name` (`--out results`) and `fix`, unless a file can be made in
    `folder`, or, while it is missing, in the nearest folder above it (where the command makes it)."""
    existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
    if not existing.is_dir():
        raise UserInputError(f"{name} is a file: {fix}" if existing == folder else f"{name}: {existing} is a file: {fix}")
    # Trying is the one sure test: os.access answers for the real user from the mode bits, where ACLs
    # and a network file system's server decide for themselves. A temporary file leaves nothing behind.
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserInputError(f"{name} cannot be written ({error.strerror or type(error).__name__}): {fix}") from None
