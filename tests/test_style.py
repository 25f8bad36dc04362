"""The code passes ruff's check, with the rules and the line length pyproject.toml sets."""

import subprocess
import sys

from helpers import PROJECT


def test_ruff_finds_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", str(PROJECT)], cwd=PROJECT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
