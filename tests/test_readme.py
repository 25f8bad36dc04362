"""README's `python train.py` commands pass the command-line check as written: a newcomer types them first."""

import re
import shlex
from pathlib import Path

import pytest

from helpers import PROJECT, VAL_IMAGES
from vae_lightning.harness.command_line import check_command_line

README = PROJECT / "README.md"


def readme_commands() -> list[str]:
    """Each `python train.py ...` line of README's bash blocks, its comment dropped, but for Slurm's."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    lines = [line.partition(" #")[0].strip() for block in blocks for line in block.splitlines()]
    # Slurm's need a cluster: tests/cluster/test_slurm.py runs them against a real one.
    return [line for line in lines if line.startswith("python train.py") and "hydra/launcher=slurm" not in line]


def test_readme_shows_the_commands_this_test_checks() -> None:
    commands = readme_commands()
    assert "python train.py" in commands and "python train.py -m clip.value=0.1,0.5,1.0" in commands


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_passes_the_check(command: str, mnist_root: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # MNIST where the tests keep theirs, as conf/local/default.yaml says on a user's machine.
    data = [f"data.root={mnist_root}", "data.download=false", f"data.val_size={VAL_IMAGES}"]
    _, sweep_lock = check_command_line([*shlex.split(command)[2:], *data])  # a refusal exits 2
    if sweep_lock is not None:
        sweep_lock.close()
