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


@pytest.mark.parametrize("module,arguments,said", [
    (evaluate, ["run", "--nl"], "unrecognized arguments: --nl"),  # was taken for --nll: a long estimate
    (evaluate, ["run", "--k", "abc"], "argument --k: invalid int value: 'abc'"),
    (plot, ["sweep", "other"], "unrecognized arguments: other"),
    (compare, ["a"], "the following arguments are required: sweep_b"),
    (reproduce, ["--rep"], "--rep: no such flag of reproduce"),  # was taken for --replot
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_a_mistaken_argument_is_one_line_and_no_flag_is_guessed(module, arguments: list[str], said: str,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(sys, "argv", [module.__name__, *arguments])
    with pytest.raises(SystemExit) as exit_:
        module.main()
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {said}")
