"""Each command's error is one line, whatever the values it names hold."""

import sys
from pathlib import Path

import pytest

from vae_lightning.analysis import compare, evaluate, plot
from vae_lightning.errors import say_error


def test_an_error_naming_a_value_with_a_newline_is_still_one_line(capsys: pytest.CaptureFixture) -> None:
    say_error("/data/a\nb is not a folder")
    assert capsys.readouterr().err == "error: /data/a\\nb is not a folder\n"


@pytest.mark.parametrize("command", [plot.main, evaluate.main, compare.main])
def test_the_analysis_commands_name_a_folder_with_a_newline_in_one_line(command, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture) -> None:
    # `plot "$(ls -d outputs/sweeps/*)"` with two sweeps there: the line was cut in two at the folder's name.
    folder = f"{tmp_path}/first\n{tmp_path}/second"
    monkeypatch.setattr(sys, "argv", ["command", folder] + ([folder] if command is compare.main else []))
    with pytest.raises(SystemExit) as exit_:
        command()
    (line,) = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and line.startswith(f"error: {tmp_path}/first\\n{tmp_path}/second")
