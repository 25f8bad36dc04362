"""`python -m vae_lightning.reproduce`'s refusals of where it would write and of what it reads, in this
process and before anything trains."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.fake_sweeps import write_sweep
from helpers import importing_torch, refusal, states_once, tiny_overrides
from vae_lightning.analysis import reproduce
from vae_lightning.analysis.plot import SweepError, plot_sweep
from vae_lightning.harness import sweeps

OUT_FIX = "give a folder you can write to for the sweeps, figures and results.md (made if missing)"


@pytest.mark.parametrize("case", ["a file", "read-only", "within a read-only folder"])
def test_an_out_that_cannot_hold_the_reproduction_is_one_line_exit_2(
        case: str, tmpfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    if case == "a file":
        out = tmp_path / "results.md"
        out.write_text("mine")
        says = f"--out {out} is a file: {OUT_FIX}"
    else:
        read_only = tmpfs("read-only", read_only=True)
        out = read_only / "reproduction" if case == "within a read-only folder" else read_only
        says = f"--out {out} cannot be written (Read-only file system): {OUT_FIX}"
    monkeypatch.setattr(reproduce, "run_all", lambda *args: pytest.fail("ran the sweeps"))
    monkeypatch.setattr(sys, "argv", ["reproduce", "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:
        reproduce.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {says}"]
    assert case != "a file" or out.read_text() == "mine"


def test_the_best_run_is_not_sought_past_a_status_json_that_is_no_jobs_status(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.3], "1.0": [31.6, 31.4]})
    status = sweep / "clip.value=1.0,seed=1" / "status.json"
    status.write_text("3")
    with pytest.raises(SweepError, match=rf"^{re.escape(str(status))} holds 3, not a job's status"):
        reproduce.best_run([sweep])


def test_replot_without_a_reproduction_to_replot_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(sys, "argv", ["reproduce", "--replot", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        reproduce.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --replot needs --out, a folder where reproduce already ran (with timings.json)"]


def test_replot_with_an_override_it_would_ignore_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "timings.json").write_text(TIMINGS)
    assert refusal(reproduce.main, ["reproduce", "--replot", "--out", str(tmp_path), "trainer.max_epochs=2"],
                   monkeypatch, capsys) == [
        "error: trainer.max_epochs=2: --replot trains nothing, so this would change nothing; drop it (it takes "
        "data.root=<folder> only, where Figure 4's evaluation finds MNIST)"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["timings.json"]


def test_replot_of_a_folder_handed_over_with_a_link_out_of_it_is_refused_and_its_target_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # A figure's copy would have followed the link: text in a .pth file runs at the next Python start.
    target = tmp_path / "site-packages" / "zz-rep.pth"
    target.parent.mkdir()
    target.write_text("untouched")
    out = tmp_path / "reproduction"
    (out / "sweeps" / "clip_value").mkdir(parents=True)
    (out / "timings.json").write_text('{"clip_value": [60.0, 0], "clip_norm": [60.0, 0], "momentum": [60.0, 0]}')
    (out / "sweeps" / "clip_value" / "figure.png").write_text('import os; os.system("touch marker")')
    link = out / "figure1_clip_value.png"
    link.symlink_to(target)
    assert refusal(reproduce.main, ["reproduce", "--replot", "--out", str(out)], monkeypatch, capsys) == [
        f"error: {link} is a symbolic link out of the folder, which reproduce would write through; replace it with "
        f"what it links to (cp -rL), or give another --out"]
    assert target.read_text() == "untouched" and not (out / "results.md").exists()


TIMINGS = '{"clip_value": [60.0, 0], "clip_norm": [60.0, 0], "momentum": [60.0, 0]}'


@pytest.mark.parametrize("file,content,says", [
    ("timings.json", '{"clip_value": "x"}', "{out}/timings.json is not the timings reproduce writes (ValueError: "),
    ("timings.json", '{"clip_value": [1], "clip_norm": [1, 0], "momentum": [1, 0]}',
     "{out}/timings.json is not the timings reproduce writes (IndexError"),
    ("overrides.json", '{"debug": "fast"}', "{out}/overrides.json is not the list of overrides reproduce writes; "),
    ("overrides.json", "debug=fast", "{out}/overrides.json is not the list of overrides reproduce writes; "),
    ("sweeps/momentum/summary.json", "[1, 2]", "{out}/sweeps/momentum/summary.json is not a summary as plot writes it "
                                               "(TypeError: "),
    ("sweeps/momentum/summary.json", '{"points": [{"label": 5, "mean": "x"}]}',
     "{out}/sweeps/momentum/summary.json is not a summary as plot writes it (KeyError: "),
])
def test_replot_of_files_that_are_not_reproduces_is_one_line_naming_the_file(
        file: str, content: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "reproduction"
    (out / "sweeps" / "momentum").mkdir(parents=True)
    (out / "timings.json").write_text(TIMINGS)
    (out / file).write_text(content)
    (line,) = refusal(reproduce.main, ["reproduce", "--replot", "--out", str(out)], monkeypatch, capsys)
    assert line.startswith("error: " + says.format(out=out)), line
    assert not (out / "results.md").exists()


def sweeps_not_run(out: Path, overrides: list[str]) -> dict[str, tuple[float, int]]:
    """run_all's stand-in: timings.json as the three sweeps would leave it, and no sweep trained."""
    (out / "timings.json").write_text(TIMINGS)
    return reproduce.read_timings(out / "timings.json")


@pytest.mark.parametrize("overrides,says", [
    (["hydra/launcher=parallel", "debug=fast", "seed=0"],
     "The sweeps ran with these overrides of the paper's settings, given to each `python train.py experiment=<name>`: "
     "`hydra/launcher=parallel debug=fast seed=0`."),
    ([], "The sweeps ran with the paper's settings: reproduce was given no overrides of train.py's."),
], ids=["reduced", "the paper's"])
def test_results_md_names_the_overrides_the_sweeps_ran_with_and_so_does_its_replot(
        overrides: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "reproduction"
    monkeypatch.setattr(reproduce, "check_command_lines", lambda out, overrides: None)
    monkeypatch.setattr(reproduce, "run_all", sweeps_not_run)
    for argv in (["reproduce", "--out", str(out), *overrides], ["reproduce", "--replot", "--out", str(out)]):
        monkeypatch.setattr(sys, "argv", argv)
        reproduce.main()
        assert (out / "results.md").read_text().splitlines()[:3] == ["# Reproduction of the paper's experiments", "",
                                                                     says]


def test_replot_of_a_folder_that_recorded_no_overrides_says_they_are_unknown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "reproduction"
    out.mkdir()
    (out / "timings.json").write_text(TIMINGS)  # all an older reproduce left beside the sweeps
    monkeypatch.setattr(sys, "argv", ["reproduce", "--replot", "--out", str(out)])
    reproduce.main()
    assert (out / "results.md").read_text().splitlines()[2] == (
        "The overrides the sweeps ran with were not recorded (an older reproduce wrote this folder): each job's "
        "`.hydra/overrides.yaml` holds its own.")


FLAG = "no such flag of reproduce (it takes --out and --replot); give train.py's overrides as key=value"
OWN = ("reproduce runs the grid sweeps experiment=clip_value, clip_norm and momentum itself, into "
       "<--out>/sweeps/<name>; drop it, or run one sweep with python train.py experiment=<name>")


@pytest.mark.parametrize("argument,refusal", [
    ("--bogus", FLAG), ("-m", FLAG),
    # Keys reproduce sets for each sweep: given again, the command line's would win in all three.
    ("experiment=momentum", OWN), ("+experiment=clip_norm", OWN), ("search=sgd", OWN), ("hydra.sweep.dir=x", OWN),
])
def test_an_argument_reproduce_does_not_take_is_one_line_exit_2(argument: str, refusal: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "reproduction"
    monkeypatch.setattr(reproduce, "run_all", lambda *args: pytest.fail("ran the sweeps"))
    monkeypatch.setattr(sys, "argv", ["reproduce", "--out", str(out), argument, "trainer.max_epochs=1"])
    with pytest.raises(SystemExit) as exit_:
        reproduce.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {argument}: {refusal}"]
    assert not out.exists()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int] | None]:
    """Every file of `folder` with its bytes and modification time, and every folder (None)."""
    return {str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns) if path.is_file() else None
            for path in folder.rglob("*")}


def a_reproduction(out: Path) -> Path:
    """`out` as a completed reproduce leaves it, in what a refusal must not touch: its three sweeps (each
    with a job that holds its results), timings.json, overrides.json, results.md and best/."""
    for name in reproduce.EXPERIMENTS:
        sweep = write_sweep(out / "sweeps" / name, {"0.1": [31.0], "1.0": [31.6]})
        (sweep / "clip.value=0.1,seed=0" / "results.json").write_text('{"val": {"loss": 31.0}}')
    (out / "timings.json").write_text(TIMINGS)
    (out / "overrides.json").write_text('["debug=fast", "seed=0"]')
    (out / "results.md").write_text("# Reproduction of the paper's experiments\n")
    (out / "best").mkdir()
    (out / "best" / "evaluation.json").write_text("{}")
    return out


class Ran(Exception):
    """run_all's stand-in was reached: reproduce went on to run the sweeps."""


def sweeps_reached(out: Path, overrides: list[str]) -> dict[str, tuple[float, int]]:
    raise Ran


SWEEPS_FIX = "pass resume=true to continue reproduce's sweeps, --replot to plot them again, or give another --out"


def test_an_out_that_holds_its_sweeps_is_one_line_exit_2_and_untouched_unless_resume_true_continues_them(
        mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # Run again after it completed, reproduce let train.py refuse each sweep, then replaced timings.json,
    # results.md and best/ of the completed run with those of the three refusals.
    out = a_reproduction(tmp_path / "reproduction")
    before = snapshot(out)
    monkeypatch.setattr(reproduce, "run_all", sweeps_reached)
    overrides = [*tiny_overrides(mnist_root), "debug=fast", "seed=0"]
    assert refusal(reproduce.main, ["reproduce", "--out", str(out), *overrides], monkeypatch, capsys) == [
        f"error: {out}/sweeps/clip_value already holds a sweep; {SWEEPS_FIX}"]
    assert snapshot(out) == before
    monkeypatch.setattr(sys, "argv", ["reproduce", "--out", str(out), *overrides, "resume=true"])
    with pytest.raises(Ran):
        reproduce.main()


@pytest.mark.parametrize("kind,made", [("a run's", ".hydra/config.yaml"), ("a sweep's", "multirun.yaml"),
                                       ("a sweep's", "seed=0/.hydra/config.yaml")],
                         ids=["a run", "a sweep", "a sweep without multirun.yaml"])
@pytest.mark.parametrize("replot", [False, True], ids=["", "--replot"])
def test_an_out_that_is_a_runs_or_a_sweeps_own_folder_is_one_line_exit_2_and_untouched(
        kind: str, made: str, replot: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    # reproduce wrote its sweeps, figures and results.md among the run's own files.
    out = tmp_path / "run"
    (out / made).parent.mkdir(parents=True)
    (out / made).write_text("{}")
    (out / "timings.json").write_text(TIMINGS)  # what --replot asks of a folder first
    before = snapshot(out)
    monkeypatch.setattr(reproduce, "check_command_lines", lambda *args: None)
    monkeypatch.setattr(reproduce, "run_all", sweeps_reached)
    argv = ["reproduce", "--out", str(out), *(["--replot"] if replot else [])]
    assert refusal(reproduce.main, argv, monkeypatch, capsys) == [
        f"error: --out {out} is {kind} folder, among whose files reproduce would write its sweeps, figures and "
        f"results.md; give a folder of its own, or drop --out for a new one under outputs/reproduce/"]
    assert snapshot(out) == before


def test_a_sweep_train_py_refuses_ends_reproduce_at_once_with_exit_2_and_keeps_what_out_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # reproduce ran the other sweeps, then replaced timings.json and results.md with the refusals' and ended with
    # exit 1, "the sweeps of ... did not complete", below train.py's one line on what to fix.
    out = a_reproduction(tmp_path / "reproduction")
    before = snapshot(out)
    started = []

    def refused(name: str, sweep_dir: Path, overrides: list[str]) -> tuple[float, int]:
        started.append(name)
        return 0.5, 2

    monkeypatch.setattr(reproduce, "check_command_lines", lambda *args: None)
    monkeypatch.setattr(reproduce, "run_experiment", refused)
    monkeypatch.setattr(sys, "argv", ["reproduce", "--out", str(out), "resume=true"])
    with pytest.raises(SystemExit) as exit_:
        reproduce.main()
    assert (exit_.value.code, started) == (2, ["clip_value"])
    assert snapshot(out) == before


def test_a_first_sweep_train_py_refuses_leaves_no_empty_output_folder(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # On a full disk, reproduce made its folder and then train.py refused the first sweep, which wrote nothing.
    monkeypatch.setattr(reproduce, "check_command_lines", lambda *args: None)
    monkeypatch.setattr(reproduce, "run_experiment", lambda name, sweep_dir, overrides: (0.5, 2))
    monkeypatch.setattr(sys, "argv", ["reproduce", "--out", str(tmp_path / "reproduction")])
    with pytest.raises(SystemExit) as exit_:
        reproduce.main()
    assert exit_.value.code == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["r,p", "a=b", "it's", "back\\", "two words", "50% [x] {y}", "a$b"])
def test_an_out_whose_path_holds_hydras_grammar_is_given_to_train_py_as_that_one_folder(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # --out "runs/lr=0.1,clip" reached train.py as hydra.sweep.dir=runs/lr=0.1,clip, which it refused as a sweep of
    # hydra's own settings, or as an override it cannot read, naming a folder the user never typed as an override.
    commands = []

    class Sweep:
        pid = 0

        def __init__(self, command: list[str], **options: object) -> None:
            commands.append(command)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(reproduce.subprocess, "Popen", Sweep)
    sweep_dir = tmp_path / name / "sweeps" / "clip_value"
    reproduce.run_experiment("clip_value", sweep_dir, ["seed=0"])
    [folder] = [override for override in sweeps.parse(commands[0][2:]) if override.key_or_group == "hydra.sweep.dir"]
    assert not folder.is_sweep_override() and folder.value() == str(sweep_dir)


def test_an_out_whose_path_holds_an_interpolation_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture) -> None:
    # Hydra would resolve the ${...} in hydra.sweep.dir, and train in another folder than --out.
    out = tmp_path / "a${now:%H}"
    monkeypatch.setattr(reproduce, "run_all", lambda *args: pytest.fail("ran the sweeps"))
    assert refusal(reproduce.main, ["reproduce", "--out", str(out)], monkeypatch, capsys) == [
        f"error: --out {out}: Hydra reads '${{' in a folder's path as an interpolation, and the sweeps would run in "
        f"another folder; give a folder whose path holds no '${{'"]
    assert not out.exists()


@pytest.mark.parametrize("given,name", [("data.root=${oc.env:MNIST_HOME}", "my data, v=1"),
                                        ("data.root='{folder}'", "my data, v=1"), ("data.root={folder}", "my data")])
def test_figure_4_is_evaluated_on_the_data_root_train_py_read(given: str, name: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Figure 4's evaluation took the override's text as the folder: after an hour of sweeps that read MNIST from
    # ${oc.env:MNIST_HOME}, it refused "data.root='${oc.env:MNIST_HOME}' holds an interpolation", and wrote no
    # results.md; a quoted folder's quotes were taken for part of its name.
    folder = tmp_path / name
    monkeypatch.setenv("MNIST_HOME", str(folder))
    out = a_reproduction(tmp_path / "reproduction")
    completed_with_val_loss(out / "sweeps" / "clip_value" / "clip.value=0.1,seed=0", 31.0)
    evaluated = []
    monkeypatch.setattr(reproduce, "evaluate", lambda best, data_root, out: evaluated.append(data_root) or
                        pytest.fail("evaluated"))
    override = given.replace("{folder}", str(folder))
    monkeypatch.setattr(sys, "argv", ["reproduce", "--replot", "--out", str(out), override])
    with pytest.raises(pytest.fail.Exception, match="evaluated"):
        reproduce.main()
    assert evaluated == [str(folder)]


def test_sweeps_with_failed_jobs_are_named_after_results_md_is_written_and_reproduce_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    out = a_reproduction(tmp_path / "reproduction")
    codes = {"clip_value": 0, "clip_norm": 1, "momentum": 1}  # train.py's exit 1: a job of the sweep failed
    monkeypatch.setattr(reproduce, "check_command_lines", lambda *args: None)
    monkeypatch.setattr(reproduce, "run_experiment", lambda name, sweep_dir, overrides: (0.5, codes[name]))
    monkeypatch.setattr(reproduce, "best_run", lambda sweeps: None)  # Figure 4's evaluation is tested on its own
    monkeypatch.setattr(sys, "argv", ["reproduce", "--out", str(out), "resume=true"])
    with pytest.raises(SystemExit) as exit_:
        reproduce.main()
    assert exit_.value.code == ("error: the sweeps of clip_norm, momentum did not complete; results.md says which "
                                "jobs")
    assert capsys.readouterr().out.startswith(f"wrote {out / 'results.md'}")
    assert json.loads((out / "timings.json").read_text())["momentum"] == [60.5, 1]


def test_a_data_root_of_an_unset_variable_is_one_line_naming_it_and_exit_2(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("NO_MNIST_HOME", raising=False)
    out = a_reproduction(tmp_path / "reproduction")
    completed_with_val_loss(out / "sweeps" / "clip_value" / "clip.value=0.1,seed=0", 31.0)
    monkeypatch.setattr(reproduce, "evaluate", lambda *args, **kwargs: pytest.fail("evaluated"))
    monkeypatch.setattr(sys, "argv", ["reproduce", "--replot", "--out", str(out), "data.root=${oc.env:NO_MNIST_HOME}"])
    with pytest.raises(SystemExit) as exit_:
        reproduce.main()
    # OmegaConf's message went on over two more lines.
    (line,) = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and line.startswith("error: data.root=${oc.env:NO_MNIST_HOME}: ")
    assert "Environment variable 'NO_MNIST_HOME' not found" in line
    assert line.endswith("; give the folder that holds MNIST/raw")


def test_a_resumed_reproductions_wall_times_add_to_the_earlier_passes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # results.md said "0.1 min on this machine" for sweeps that had trained for an hour before the resume.
    monkeypatch.setattr(reproduce, "run_experiment", lambda name, sweep_dir, overrides: (6.0, 0))
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    fresh.mkdir()
    resumed.mkdir()
    (resumed / "timings.json").write_text(TIMINGS)
    assert reproduce.run_all(fresh, []) == {name: (6.0, 0) for name in reproduce.EXPERIMENTS}
    assert reproduce.run_all(resumed, ["resume=true"]) == {name: (66.0, 0) for name in reproduce.EXPERIMENTS}
    assert reproduce.read_timings(resumed / "timings.json") == {name: (66.0, 0) for name in reproduce.EXPERIMENTS}


def test_an_interrupted_sweep_ends_reproduce_with_its_status_and_keeps_the_passes_times(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # timings.json was written once all three sweeps had ended: a reproduction interrupted after an hour of
    # training kept none of it, and its resumed pass said "0.6 min on this machine" in results.md.
    ran = []
    outcomes = {"clip_value": (5.0, 0), "clip_norm": (3.0, 130)}  # 130: train.py's sweep stopped by Ctrl-C
    monkeypatch.setattr(reproduce, "run_experiment", lambda name, sweep_dir, overrides: ran.append(name) or
                        outcomes[name])
    out = tmp_path / "my reproduction"
    out.mkdir()
    (out / "timings.json").write_text(TIMINGS)
    with pytest.raises(SystemExit) as exit_:
        reproduce.run_all(out, ["resume=true"])
    assert exit_.value.code == 130 and ran == ["clip_value", "clip_norm"]
    assert capsys.readouterr().err.splitlines() == [
        f"error: reproduce interrupted by SIGINT in the clip_norm sweep, whose running jobs recorded themselves as "
        f"interrupted; the same command with --out '{out}' resume=true continues it"]
    # The sweep not reached keeps its earlier time, and is not said to have completed.
    assert reproduce.read_timings(out / "timings.json") == {"clip_value": (65.0, 0), "clip_norm": (63.0, 130),
                                                            "momentum": (60.0, 130)}


def command_of(pid: str) -> bytes:
    """The command line of process `pid`, or nothing if it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.slow
def test_a_signal_to_reproduce_stops_its_sweep_whose_jobs_record_it(mnist_root: Path, tmp_path: Path) -> None:
    # `kill <reproduce>` ended reproduce alone: its sweep went on training, with nothing to gather it.
    out = tmp_path / "reproduction"
    with open(tmp_path / "stderr.txt", "w") as stderr:
        reproduction = subprocess.Popen([sys.executable, "-m", "vae_lightning.reproduce", "--out", str(out),
                                         *tiny_overrides(mnist_root), "seed=0", "trainer.max_epochs=1000"],
                                        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
    sweep = out / "sweeps" / "clip_value"
    while not any(json.loads(path.read_text())["status"] == "running" for path in sweep.glob("*/status.json")):
        assert reproduction.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
        time.sleep(0.05)
    reproduction.terminate()
    assert reproduction.wait(timeout=120) == 128 + signal.SIGTERM
    assert (tmp_path / "stderr.txt").read_text().splitlines()[-1] == (
        f"error: reproduce interrupted by SIGTERM in the clip_value sweep, whose running jobs recorded themselves as "
        f"interrupted; the same command with --out {out} resume=true continues it")
    [job] = [path.parent for path in sweep.glob("*/status.json")]
    assert json.loads((job / "status.json").read_text())["status"] == "interrupted"
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and str(out).encode() in command_of(pid)]
    timings = json.loads((out / "timings.json").read_text())
    assert timings["clip_value"][0] > 0 and timings["clip_value"][1] == timings["momentum"][1] == 143


def pause_and_continue(reproduction: subprocess.Popen, pids: list[str]) -> None:
    """Ctrl-Z, then `fg`, as a shell sends them to reproduce: each of `pids` stops, then each goes on."""
    reproduction.send_signal(signal.SIGTSTP)
    stopped = states_once(pids, stopped=True)
    assert set(stopped.values()) == {"T"}, stopped
    reproduction.send_signal(signal.SIGCONT)
    continued = states_once(pids, stopped=False)
    assert "T" not in continued.values(), continued


@pytest.mark.slow
def test_ctrl_z_pauses_reproduce_its_sweep_and_the_sweeps_job_and_fg_continues_them(mnist_root: Path,
                                                                                    tmp_path: Path) -> None:
    # The sweep runs in a session of its own (reproduce passes its signals on): Ctrl-Z stopped reproduce alone.
    out = tmp_path / "reproduction"
    reproduction = subprocess.Popen([sys.executable, "-m", "vae_lightning.reproduce", "--out", str(out),
                                     *tiny_overrides(mnist_root), "seed=0", "trainer.max_epochs=1000"],
                                    cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sweep = out / "sweeps" / "clip_value"

    def processes() -> list[str]:
        """reproduce's, its sweep's, and the sweep's forked jobs' (the same command line as the sweep's)."""
        return [pid for pid in os.listdir("/proc") if pid.isdigit() and str(out).encode() in command_of(pid)]

    # As the sweep starts, before it has jobs: a session's own SIGTSTP stop is dropped, and it went on to start them.
    while not (started := [pid for pid in processes() if b"train.py" in command_of(pid)]) or \
            not importing_torch(int(started[0])):
        assert reproduction.poll() is None
        time.sleep(0.05)
    pause_and_continue(reproduction, processes())
    while not any(json.loads(path.read_text())["status"] == "running" for path in sweep.glob("*/status.json")):
        assert reproduction.poll() is None
        time.sleep(0.05)
    pids = processes()
    assert len(pids) == 3, pids
    pause_and_continue(reproduction, pids)
    reproduction.terminate()
    assert reproduction.wait(timeout=120) == 128 + signal.SIGTERM


@pytest.mark.slow
def test_train_pys_refusal_of_a_sweep_is_reproduces_one_line_and_exit_2(
        mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture) -> None:
    # A sweep's folder that holds a single run passes reproduce's own checks; train.py refuses it.
    out = a_reproduction(tmp_path / "reproduction")
    single_run = out / "sweeps" / "clip_value"
    for path in sorted(single_run.iterdir()):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    (single_run / ".hydra").mkdir()
    before = snapshot(out)
    argv = ["reproduce", "--out", str(out), *tiny_overrides(mnist_root), "debug=fast", "seed=0", "resume=true"]
    assert refusal(reproduce.main, argv, monkeypatch, capfd) == [
        f"error: {single_run} holds a single run, not a sweep; continue it without -m (hydra.run.dir={single_run} "
        f"resume=true), or choose another hydra.sweep.dir"]
    assert snapshot(out) == before


def completed_with_val_loss(job: Path, loss: float) -> None:
    """The job's status.json as train.py leaves a completed run: its best checkpoint's val loss in results."""
    (job / "status.json").write_text(json.dumps({"status": "completed", "results": {"val": {"loss": loss}}}))


def test_the_best_run_is_the_lowest_val_loss_across_the_sweeps(tmp_path: Path) -> None:
    first = write_sweep(tmp_path / "first", {"0.1": [31.0, 31.3], "1.0": [31.6, 31.4]})
    second = write_sweep(tmp_path / "second", {"0.5": [31.2, 31.5]})
    for job, loss in [(first / "clip.value=0.1,seed=0", 31.0), (first / "clip.value=1.0,seed=1", 31.4),
                      (second / "clip.value=0.5,seed=1", 30.7), (second / "clip.value=0.5,seed=0", 32.0)]:
        completed_with_val_loss(job, loss)
    # The other jobs' status.json hold no results (val_loss None): they are not candidates.
    assert reproduce.best_run([first, second]) == second / "clip.value=0.5,seed=1"
    assert reproduce.best_run([first]) == first / "clip.value=0.1,seed=0"


def test_wall_times_are_minutes_to_one_decimal() -> None:
    assert (reproduce.minutes(61.0), reproduce.minutes(90.0), reproduce.minutes(3600.0)) == (
        "1.0 min", "1.5 min", "60.0 min")


def test_results_md_numbers_the_figures_says_which_sweeps_failed_and_holds_each_table(tmp_path: Path) -> None:
    out = tmp_path / "reproduction"
    for name in reproduce.EXPERIMENTS:
        (out / "sweeps" / name).mkdir(parents=True)
        (out / "sweeps" / name / "figure.png").write_bytes(b"png of " + name.encode())
        (out / "sweeps" / name / "summary.md").write_text(f"# {name}'s title\n\nexplanation of {name}\n\n| table |\n")
    timings = {"clip_value": (61.0, 0), "clip_norm": (120.0, 1), "momentum": (30.0, 0)}
    best = out / "sweeps" / "momentum" / "optim.momentum=0.9,seed=0"
    results = reproduce.gather(out, timings, [], best, {"loss": 31.23456, "kl": 7.0}).read_text()
    for index, name in enumerate(reproduce.EXPERIMENTS, start=1):
        assert (out / f"figure{index}_{name}.png").read_bytes() == b"png of " + name.encode()
        assert f"](figure{index}_{name}.png)" in results
        assert f"\nexplanation of {name}\n\n| table |\n" in results and f"# {name}'s title" not in results
    assert "`python train.py experiment=clip_value`: 1.0 min on this machine; all jobs completed." in results
    assert ("`python train.py experiment=clip_norm`: 2.0 min on this machine; some jobs failed (see the table)."
            in results)
    assert ("Best run by val loss: `momentum/optim.momentum=0.9,seed=0`; its test losses: loss 31.235, kl 7.000."
            in results)


def test_results_md_says_a_sweep_whose_failed_job_was_resumed_since_completed(tmp_path: Path) -> None:
    # timings.json keeps the exit code of the sweep's first pass: --replot after `train.py ... resume=true` said
    # "some jobs failed (see the table)" beside a table in which every job had completed.
    out = tmp_path / "reproduction"
    for name in reproduce.EXPERIMENTS:
        failed = {("0.1", 1): {"status": "failed", "error": "loss is nan"}} if name == "clip_value" else None
        plot_sweep(write_sweep(out / "sweeps" / name, {"0.1": [31.0, 31.2], "1.0": [31.5, 31.4]}, statuses=failed))
    timings = {"clip_value": (60.0, 1), "clip_norm": (60.0, 1), "momentum": (60.0, 0)}
    results = reproduce.gather(out, timings, [], None, {}).read_text()
    assert ("`python train.py experiment=clip_value`: 1.0 min on this machine; some jobs failed (see the table)."
            in results)
    assert "`python train.py experiment=clip_norm`: 1.0 min on this machine; all jobs completed." in results


def test_results_md_says_a_sweep_an_interrupted_reproduction_never_reached_was_not_run(tmp_path: Path) -> None:
    # --replot of a reproduction interrupted in its first sweep said of the two others "some jobs failed".
    out = tmp_path / "reproduction"
    plot_sweep(write_sweep(out / "sweeps" / "clip_value", {"0.1": [31.0, 31.2], "1.0": [31.5, 31.4]}))
    timings = {"clip_value": (60.0, 143), "clip_norm": (0.0, 143), "momentum": (0.0, 143)}
    results = reproduce.gather(out, timings, [], None, {}).read_text()
    assert "`python train.py experiment=clip_norm`: 0.0 min on this machine; not run." in results
    assert "`python train.py experiment=momentum`: 0.0 min on this machine; not run." in results


def test_results_md_links_no_figure_a_sweep_did_not_draw(tmp_path: Path) -> None:
    """A sweep none of whose jobs completed has no figure.png: results.md says so, and links none."""
    out = tmp_path / "reproduction"
    for name in reproduce.EXPERIMENTS:
        (out / "sweeps" / name).mkdir(parents=True)
    timings = {name: (60.0, 1) for name in reproduce.EXPERIMENTS}
    best = out / "sweeps" / "momentum" / "optim.momentum=0.9,seed=0"
    results = reproduce.gather(out, timings, [], best, {"loss": 31.0, "kl": 7.0}).read_text()
    assert not [name for index, name in enumerate(reproduce.EXPERIMENTS, start=1) if f"figure{index}_" in results]
    assert results.count("(no figure: no job of this sweep completed)") == len(reproduce.EXPERIMENTS)


def test_a_figure_an_earlier_pass_gathered_goes_once_its_sweep_draws_none(tmp_path: Path) -> None:
    # --replot once no job of a sweep was left to draw: figure2_clip_norm.png and .pdf, and Figure 4's images,
    # stayed in --out from the pass before, beside a results.md saying there was no figure; so did best/.
    out = tmp_path / "reproduction"
    for name in reproduce.EXPERIMENTS:
        (out / "sweeps" / name).mkdir(parents=True)
    earlier = ["figure2_clip_norm.png", "figure2_clip_norm.pdf", "figure4_samples.png", "figure4_reconstructions.png",
               "figure4_samples_grid.png", "figure4_reconstructions_grid.png"]
    earlier.append("best/evaluation.json")
    (out / "best").mkdir()
    for name in earlier:
        (out / name).write_bytes(b"an earlier pass's")
    reproduce.gather(out, {name: (60.0, 1) for name in reproduce.EXPERIMENTS}, [], None, {})
    assert [name for name in earlier if (out / name).exists()] == [] and not (out / "best").exists()
