"""The analysis commands' --help: each prints its module's whole first paragraph and its arguments."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.fake_sweeps import write_sweep
from helpers import importing_torch, interrupted_as_it_started, with_ctrl_c
from vae_lightning.analysis import compare, evaluate, plot, reproduce


@pytest.mark.slow
@pytest.mark.parametrize("module", [plot, evaluate, compare, reproduce], ids=lambda module: module.__name__)
def test_help_prints_the_whole_first_paragraph(module) -> None:
    command = module.__name__.replace(".analysis", "")
    result = subprocess.run([sys.executable, "-m", command, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {command} ")
    assert " ".join(module.__doc__.split("\n\n")[0].split()) in " ".join(result.stdout.split())


@pytest.mark.slow
@pytest.mark.parametrize("module", [plot, evaluate, compare, reproduce], ids=lambda module: module.__name__)
def test_ctrl_c_as_a_command_imports_torch_is_one_line(module) -> None:
    # A traceback through whichever import the interrupt cut short, or an ImportError (exit 1) where a
    # library caught it mid-import.
    command = module.__name__.replace(".analysis", "")
    started = subprocess.Popen([sys.executable, "-m", command, "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=with_ctrl_c)
    while not importing_torch(started.pid):
        assert started.poll() is None, started.communicate()
        time.sleep(0.001)
    started.send_signal(signal.SIGINT)
    stdout, stderr = started.communicate(timeout=120)
    assert started.returncode == 130, stderr[-3000:]
    assert (stdout, stderr.splitlines()) == ("", [interrupted_as_it_started(signal.SIGINT)])


@pytest.mark.parametrize("module", [plot, evaluate, compare, reproduce], ids=lambda module: module.__name__)
def test_help_names_the_command_as_its_usage_and_the_docs_do(module, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    # The description said `python -m vae_lightning.analysis.plot` under `usage: python -m vae_lightning.plot`.
    monkeypatch.setattr(sys, "argv", [module.__name__, "--help"])
    with pytest.raises(SystemExit):
        module.main()
    assert "vae_lightning.analysis." not in capsys.readouterr().out


LONG = "x" * 300  # past a name's 255 bytes


@pytest.mark.parametrize("module,arguments,said", [
    (evaluate, ["run", "--nl"], "unrecognized arguments: --nl"),  # was taken for --nll: a long estimate
    (evaluate, ["run", "--k", "abc"], "argument --k: invalid int value: 'abc'"),
    (plot, ["sweep", "other"], "unrecognized arguments: other"),
    (compare, ["a"], "the following arguments are required: sweep_b"),
    (reproduce, ["--rep"], "--rep: no such flag of reproduce"),  # was taken for --replot
    # A name past 255 bytes: each command's first look at it (is_dir, exists) raised OSError, a traceback.
    (evaluate, ["run", "--out", LONG], f"argument --out: {LONG}: File name too long; give a shorter path"),
    (compare, ["a", "b", "--out", LONG], f"argument --out: {LONG}: File name too long; give a shorter path"),
    (plot, [LONG], f"argument sweep_dir: {LONG}: File name too long; give a shorter path"),
    (reproduce, ["--replot", "--out", LONG], f"argument --out: {LONG}: File name too long; give a shorter path"),
], ids=lambda value: " ".join(value).replace(LONG, "<300 x>") if isinstance(value, list) else None)
def test_a_mistaken_argument_is_one_line_and_no_flag_is_guessed(module, arguments: list[str], said: str,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(sys, "argv", [module.__name__, *arguments])
    with pytest.raises(SystemExit) as exit_:
        module.main()
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {said}")


def test_a_folder_given_after_an_equals_sign_with_a_tilde_is_the_home_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # No shell expands the ~ of `--out=~/cmp`: compare said "--out ~/cmp is not a folder; create it" of a folder that
    # existed, and evaluate and reproduce would have written into a folder named ~ in the working folder.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.3], "1.0": [31.6, 31.4]})
    (tmp_path / "cmp").mkdir()
    monkeypatch.setattr(sys, "argv", ["plot", "--title=t", "~/sweep"])
    plot.main()
    monkeypatch.setattr(sys, "argv", ["compare", "~/sweep", "~/sweep/", "--out=~/cmp"])
    compare.main()
    assert (tmp_path / "cmp" / "comparison.json").is_file()

    given = {}
    monkeypatch.setattr(evaluate, "evaluate", lambda path, data_root, seed, out, *args: given.update(
        path=path, data_root=data_root, out=out) or pytest.fail("reached evaluate"))
    monkeypatch.setattr(sys, "argv", ["evaluate", "~/run", "--out=~/ev", "--data-root=~/data"])
    with pytest.raises(pytest.fail.Exception):
        evaluate.main()
    assert given == {"path": tmp_path / "run", "data_root": str(tmp_path / "data"), "out": tmp_path / "ev"}
    monkeypatch.setattr(reproduce, "check_command_lines", lambda out, overrides: pytest.fail(f"checked {out}"))
    monkeypatch.setattr(sys, "argv", ["reproduce", "--out=~/reproduction"])
    with pytest.raises(pytest.fail.Exception, match=f"checked {tmp_path / 'reproduction'}$"):
        reproduce.main()
    assert not (tmp_path / "~").exists()
