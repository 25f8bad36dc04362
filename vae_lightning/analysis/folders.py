"""The folder a command writes into, checked before any work: one it cannot write to is one line
naming it, never a traceback once the work is done and lost."""

from __future__ import annotations

import tempfile
from pathlib import Path

from vae_lightning.errors import UserInputError


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
