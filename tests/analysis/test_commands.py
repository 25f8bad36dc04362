"""The analysis commands' --help: each prints its module's whole first paragraph and its arguments."""

import subprocess
import sys

import pytest

from vae_lightning.analysis import compare, evaluate, plot, reproduce


@pytest.mark.slow
@pytest.mark.parametrize("module", [plot, evaluate, compare, reproduce], ids=lambda module: module.__name__)
def test_help_prints_the_whole_first_paragraph(module) -> None:
    command = module.__name__.replace(".analysis", "")
    result = subprocess.run([sys.executable, "-m", command, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {command} ")
    assert " ".join(module.__doc__.split("\n\n")[0].split()) in " ".join(result.stdout.split())
