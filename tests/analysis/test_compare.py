"""`python -m vae_lightning.compare`: on sweep folders made by hand, and once on two real tiny sweeps."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from analysis.fake_sweeps import (FROM_ENVIRONMENT, SEED_FROM_ENVIRONMENT, record_run_definition, write_job,
                                  write_sweep)
from helpers import run_train, tiny_overrides
from vae_lightning.analysis import compare

# Five seeds a point with a spread of about 0.06 nats: enough to show equivalence within 0.5% of 31 nats.
LOSSES = {"0.1": [31.0, 31.08, 30.95, 31.02, 31.1], "1.0": [31.5, 31.42, 31.55, 31.47, 31.6]}


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *arguments: object) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python -m vae_lightning.compare ARGUMENTS`, in this process."""
    monkeypatch.setattr(sys, "argv", ["compare", *map(str, arguments)])
    try:
        compare.main()
        code = 0
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


def verdicts(out: Path) -> dict[str, str]:
    return {point["label"]: point["verdict"] for point in json.loads((out / "comparison.json").read_text())["points"]}


def test_a_sweep_is_equivalent_to_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    code, out, _ = run(monkeypatch, capsys, sweep, sweep, "--out", tmp_path)
    assert code == 0 and verdicts(tmp_path) == {"0.1": "equivalent", "1.0": "equivalent"}
    assert "| 0.1 | 5 | 31.030 | 5 | 31.030 | 0.000 |" in out
    assert (tmp_path / "comparison.md").read_text() in out


def test_the_interval_is_of_seed_pairs_or_welchs_and_the_margin_half_a_percent_of_as_mean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    shifted = {value: [loss + 0.05 for loss in losses] for value, losses in LOSSES.items()}
    shifted["1.0"][0] += 0.3
    a, b = write_sweep(tmp_path / "a", LOSSES), write_sweep(tmp_path / "b", shifted)
    run(monkeypatch, capsys, a, b, "--out", tmp_path)
    points = {point["label"]: point for point in json.loads((tmp_path / "comparison.json").read_text())["points"]}
    # The same seeds on both sides: the interval of the per-seed differences.
    differences = np.array(shifted["1.0"]) - np.array(LOSSES["1.0"])
    paired = stats.ttest_1samp(differences, 0.0).confidence_interval(0.95)
    assert points["1.0"]["test"] == "paired by seed"
    assert points["1.0"]["ci95"] == pytest.approx(list(paired), rel=1e-9)
    assert points["0.1"]["ci95"] == pytest.approx([0.05, 0.05]) and points["0.1"]["verdict"] == "equivalent"
    for value in LOSSES:
        assert points[value]["margin"] == pytest.approx(0.005 * np.mean(LOSSES[value]), rel=1e-12)
        assert points[value]["difference"] == pytest.approx(np.mean(shifted[value]) - np.mean(LOSSES[value]))
    # Other seeds (one fewer in B): Welch's interval.
    fewer = write_sweep(tmp_path / "fewer", {value: losses[:4] for value, losses in shifted.items()})
    (tmp_path / "welch").mkdir()
    run(monkeypatch, capsys, a, fewer, "--out", tmp_path / "welch")
    points = {point["label"]: point
              for point in json.loads((tmp_path / "welch" / "comparison.json").read_text())["points"]}
    for value in LOSSES:
        welch = stats.ttest_ind(shifted[value][:4], LOSSES[value], equal_var=False)
        assert points[value]["test"] == "Welch"
        assert points[value]["ci95"] == pytest.approx(list(welch.confidence_interval(0.95)), rel=1e-9)


def test_a_shift_beyond_the_margin_is_different_and_few_seeds_inconclusive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    a = write_sweep(tmp_path / "a", LOSSES)
    b = write_sweep(tmp_path / "b", {"0.1": [loss + 2 for loss in LOSSES["0.1"]],
                                     "1.0": [31.0, 32.0, 31.5, 30.6, 32.4]})
    code, _, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    assert code == 1 and verdicts(tmp_path) == {"0.1": "different", "1.0": "inconclusive"}
    # An absolute margin of 3 nats takes the shift of 2 as equivalent.
    code, _, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path, "--margin", "3")
    assert verdicts(tmp_path)["0.1"] == "equivalent"


def test_one_seed_is_inconclusive_and_points_in_one_sweep_are_listed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    a = write_sweep(tmp_path / "a", {"0.1": [31.0], "1.0": [31.5], "0.5": [31.2]})
    b = write_sweep(tmp_path / "b", {"0.1": [31.0], "1.0": [31.5], "2.0": [31.9]})
    code, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    assert code == 1 and set(verdicts(tmp_path).values()) == {"inconclusive"}
    assert "fewer than 2 completed seeds on a side" in out
    assert "Only in A (not compared): 0.5." in out and "Only in B (not compared): 2.0." in out


def test_a_point_not_tested_has_no_margin_in_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    # Its margin cell read "±n/a", as if n/a were a margin's size.
    a = write_sweep(tmp_path / "a", {"0.1": [31.0], "1.0": [31.5]})
    code, out, _ = run(monkeypatch, capsys, a, a, "--out", tmp_path)
    assert code == 1 and "±n/a" not in out
    assert "| 0.1 | 1 | 31.000 | 1 | 31.000 | n/a | n/a | n/a | n/a | n/a | inconclusive (" in out


def test_a_value_written_as_an_integer_is_the_same_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    # clip.value=1 and clip.value=1.0 compose to the same config.
    a = write_sweep(tmp_path / "a", LOSSES)
    b = write_sweep(tmp_path / "b", {"0.1": LOSSES["0.1"], "1": LOSSES["1.0"]})
    code, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    assert code == 0 and verdicts(tmp_path) == {"0.1": "equivalent", "1.0": "equivalent"}
    assert "Only in" not in out


@pytest.mark.parametrize("case", ["run folder", "missing", "no shared point", "bad margin", "zero margin",
                                  "a margin in words", "a job's status a list"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    other = write_sweep(tmp_path / "other", {"0.01": [31.0, 31.1], "0.1": [31.0, 31.1]}, key="optim.lr")
    broken = write_sweep(tmp_path / "broken", LOSSES)
    (broken / "clip.value=0.1,seed=0" / "status.json").write_text("[]")
    arguments, says = {
        "run folder": ([sweep, sweep / "clip.value=0.1,seed=0"], "is a single run's folder, not a sweep's"),
        "missing": ([tmp_path / "nothing", sweep], "is not a folder"),
        "no shared point": ([sweep, other], "share no point (their swept values: clip.value; optim.lr)"),
        "bad margin": ([sweep, sweep, "--margin", "-1"], "--margin -1: give a positive number of nats"),
        # Equivalence within ±0 is no test: no interval lies inside an empty one.
        "zero margin": ([sweep, sweep, "--margin", "0%"], "--margin 0%: give a positive number of nats"),
        "a margin in words": ([sweep, sweep, "--margin", "half%"], "--margin half%: give a positive number of nats"),
        "a job's status a list": ([sweep, broken], f"{broken / 'clip.value=0.1,seed=0' / 'status.json'} holds []"),
    }[case]
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(monkeypatch, capsys, *arguments, "--out", out)
    assert code == 2 and len(err.splitlines()) == 1 and says in err
    assert list(out.iterdir()) == []


def test_another_comparison_in_out_is_kept_and_the_same_ones_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture) -> None:
    a, b = write_sweep(tmp_path / "a", LOSSES), write_sweep(tmp_path / "b", LOSSES)
    out = tmp_path / "out"
    out.mkdir()
    assert run(monkeypatch, capsys, a, b, "--out", out)[0] == 0
    kept = {path.name: path.read_bytes() for path in out.iterdir()}
    code, _, err = run(monkeypatch, capsys, a, a, "--out", out)
    assert (code, err) == (2, f"error: --out {out} holds the comparison of {a} and {b}; give this one another --out, "
                              f"or delete {out / 'comparison.json'} to replace it\n")
    assert {path.name: path.read_bytes() for path in out.iterdir()} == kept
    assert run(monkeypatch, capsys, a, b, "--out", out, "--margin", "0.2")[0] == 0  # the same two: replaced
    assert json.loads((out / "comparison.json").read_text())["margin"] == "0.2"


def test_the_same_comparison_from_another_working_folder_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    # comparison.json named the sweeps as given, `a` and `b`: from tmp_path's parent, `tmp/a` and `tmp/b`
    # were taken for two other sweeps than the ones it compared, and the command refused.
    for name in ("a", "b"):
        write_sweep(tmp_path / name, LOSSES)
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    assert run(monkeypatch, capsys, "a", "b", "--out", "out")[0] == 0
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["a"] == str(tmp_path / "a")
    monkeypatch.chdir(tmp_path.parent)
    folder = tmp_path.name
    code, _, err = run(monkeypatch, capsys, f"{folder}/a", f"{folder}/b", "--out", f"{folder}/out", "--margin", "0.2")
    assert (code, err) == (0, "")
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["margin"] == "0.2"


def test_an_empty_out_is_one_line_not_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    # `--out "$OUT"`, OUT unset: Path("") is ".", and comparison.md and .json were written into the working folder.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, err = run(monkeypatch, capsys, sweep, sweep, "--out", "")
    assert (code, err) == (2, "error: argument --out: an empty path (an unset shell variable?); give the folder or "
                              "file; python -m vae_lightning.compare --help lists what it takes\n")
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("given", ["missing", "notes.md"])
def test_an_out_that_is_no_folder_is_one_line_and_nothing_is_made_or_changed(
        given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # A folder --out names must be there: a mistyped one would hold the comparison where it is never looked for.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    (tmp_path / "notes.md").write_text("mine")
    out = tmp_path / given
    code, _, err = run(monkeypatch, capsys, sweep, sweep, "--out", out)
    assert (code, err) == (2, f"error: --out {out} is not a folder; create it, or pass an existing one\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.md", "sweep"]
    assert (tmp_path / "notes.md").read_text() == "mine"


def test_without_out_the_comparison_goes_under_outputs_and_a_refusal_makes_no_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    a, b = write_sweep(tmp_path / "a", LOSSES), write_sweep(tmp_path / "b", LOSSES)
    work = tmp_path / "checkout"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run(monkeypatch, capsys, a, b, "--margin", "-1")[0] == 2
    assert list(work.iterdir()) == []
    assert run(monkeypatch, capsys, a, b)[0] == 0
    assert sorted(str(path.relative_to(work)) for path in work.rglob("*")) == [
        "outputs", "outputs/comparisons", "outputs/comparisons/a_vs_b", "outputs/comparisons/a_vs_b/comparison.json",
        "outputs/comparisons/a_vs_b/comparison.md"]


def test_an_out_that_cannot_be_written_is_one_line_exit_2(tmpfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    out = tmpfs("read-only", read_only=True)
    code, _, err = run(monkeypatch, capsys, sweep, sweep, "--out", out)
    assert code == 2
    assert err.splitlines() == [f"error: --out {out} cannot be written (Read-only file system): pass a folder you can "
                                f"write to"]


@pytest.mark.slow
def test_real_sweeps_whose_learning_rates_differ_tenfold_are_different(mnist_root: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture) -> None:
    sweeps = {}
    for lr in ("0.01", "0.1"):
        sweeps[lr] = tmp_path / f"lr{lr}"
        done = run_train(["-m", "seed=0,1,2", f"optim.lr={lr}", *tiny_overrides(mnist_root), "trainer.max_epochs=2",
                          "hydra/launcher=parallel", f"hydra.sweep.dir={sweeps[lr]}"], tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    code, out, _ = run(monkeypatch, capsys, sweeps["0.01"], sweeps["0.1"], "--out", tmp_path)
    assert code == 1 and verdicts(tmp_path) == {"all jobs": "different"}, out


def test_sweeps_of_another_loss_than_the_papers_are_compared_under_its_name(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch,
                                                                            capsys: pytest.CaptureFixture) -> None:
    a, b = write_sweep(tmp_path / "a", LOSSES), write_sweep(tmp_path / "b", LOSSES)
    for saved in b.glob("*/.hydra"):
        (saved / "config.yaml").write_text("loss:\n  _target_: mine.BetaVAELoss\n")
    code, out, err = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    assert code == 0 and "Final val loss (A: eq. 20; B: the loss of mine.BetaVAELoss, per image)" in out, err


def test_seeds_are_paired_by_number_not_by_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    # B ran seed=4,3,2,1,0: its jobs come in that order, and each must meet A's job of its own seed.
    shift = [0.01, 0.02, -0.01, 0.03, 0.0]  # B's seed s is A's seed s plus shift[s]
    b_losses = {value: [losses[seed] + shift[seed] for seed in (4, 3, 2, 1, 0)] for value, losses in LOSSES.items()}
    a = write_sweep(tmp_path / "a", LOSSES)
    b = write_sweep(tmp_path / "b", b_losses, seeds=[4, 3, 2, 1, 0])
    run(monkeypatch, capsys, a, b, "--out", tmp_path)
    points = {point["label"]: point for point in json.loads((tmp_path / "comparison.json").read_text())["points"]}
    paired = stats.ttest_1samp(shift, 0.0).confidence_interval(0.95)
    for value in LOSSES:
        assert points[value]["test"] == "paired by seed"
        assert points[value]["ci95"] == pytest.approx(list(paired), rel=1e-6)


def test_as_many_seeds_but_other_ones_are_compared_by_welchs_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    # Seeds 0-4 against seeds 5-9: no job of B began from the weights of a job of A, so nothing pairs them.
    a = write_sweep(tmp_path / "a", LOSSES)
    b_losses = {"0.1": [31.2, 31.0, 31.1, 30.9, 31.05], "1.0": [31.4, 31.5, 31.6, 31.45, 31.55]}
    b = write_sweep(tmp_path / "b", b_losses, seeds=[5, 6, 7, 8, 9])
    run(monkeypatch, capsys, a, b, "--out", tmp_path)
    points = {point["label"]: point for point in json.loads((tmp_path / "comparison.json").read_text())["points"]}
    for value in LOSSES:
        welch = stats.ttest_ind(b_losses[value], LOSSES[value], equal_var=False)
        assert points[value]["test"] == "Welch"
        assert points[value]["ci95"] == pytest.approx(list(welch.confidence_interval(0.95)), rel=1e-9)


def test_one_seed_on_one_side_only_is_inconclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    a = write_sweep(tmp_path / "a", {"0.1": [31.0]})
    b = write_sweep(tmp_path / "b", {"0.1": [31.0, 31.1, 30.9]})
    code, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    (point,) = json.loads((tmp_path / "comparison.json").read_text())["points"]
    assert code == 1 and (point["verdict"], point["reason"]) == ("inconclusive",
                                                                 "fewer than 2 completed seeds on a side")
    assert (point["a"]["n"], point["b"]["n"], point["difference"], point["ci95"]) == (1, 3, None, None)


def test_one_point_not_equivalent_among_equivalent_ones_fails_the_comparison(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    a = write_sweep(tmp_path / "a", LOSSES)
    b = write_sweep(tmp_path / "b", {"0.1": LOSSES["0.1"], "1.0": [loss + 2 for loss in LOSSES["1.0"]]})
    code, _, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    assert code == 1 and verdicts(tmp_path) == {"0.1": "equivalent", "1.0": "different"}


def test_a_percentage_margin_of_a_negative_mean_is_positive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture) -> None:
    # A loss of one's own (a Gaussian decoder with a learned variance, say) can be negative: 0.5% of
    # a mean of -31.03 was a margin of -0.155, and a sweep against itself came out inconclusive, exit 1.
    negative = {value: [-loss for loss in losses] for value, losses in LOSSES.items()}
    sweep = write_sweep(tmp_path / "sweep", negative)
    code, _, _ = run(monkeypatch, capsys, sweep, sweep, "--out", tmp_path)
    points = {point["label"]: point for point in json.loads((tmp_path / "comparison.json").read_text())["points"]}
    assert code == 0 and verdicts(tmp_path) == {"0.1": "equivalent", "1.0": "equivalent"}
    assert points["0.1"]["margin"] == pytest.approx(0.005 * 31.03, rel=1e-12)


def test_a_percentage_margin_of_a_mean_of_zero_is_no_margin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    # A loss of one's own whose mean is 0: the table read a margin of ±0.000 and a TOST p of 0.892.
    a = write_sweep(tmp_path / "a", {"0.1": [-0.1, 0.1, 0.05, -0.05]})
    b = write_sweep(tmp_path / "b", {"0.1": [-0.1, 0.12, 0.05, -0.04]})
    code, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    (point,) = json.loads((tmp_path / "comparison.json").read_text())["points"]
    assert code == 1 and point["margin"] is None and point["p_equivalence"] is None
    assert point["difference"] == pytest.approx(0.0075) and point["verdict"] == "inconclusive"
    assert ("| paired by seed | n/a | n/a | inconclusive (no margin: 0.5% of A's mean of 0 is undefined; give --margin "
            "in nats) |") in out


def test_a_small_loss_is_compared_to_the_digits_its_margin_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    # 0.5% of a loss of one's own of 0.0124 is a margin of 0.000062: at 3 decimals the table read
    # "±0.000", with a difference and an interval of 0.000 too.
    small = {"0.1": [0.01231, 0.01244, 0.01238], "1.0": [0.01262, 0.01270, 0.01258]}
    sweep = write_sweep(tmp_path / "sweep", small)
    _, out, _ = run(monkeypatch, capsys, sweep, sweep, "--out", tmp_path)
    assert "| 0.1 | 3 | 0.012377 | 3 | 0.012377 | 0.000000 | [0.000000, 0.000000] | paired by seed | ±0.000062 |" in out


def test_trials_of_one_setting_at_one_seed_count_once_and_compare_without_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # A search (no grid) ran clip.value=0.1 twice, both of the default seed: keyed by seed, one run of
    # each side was left, and the paired test of one pair ended in a traceback. Counted as two seeds since,
    # the repeat of one seed's run (identical on a CPU) narrowed the interval as if it were another sample.
    losses = {"a": [31.0, 31.2], "b": [31.01, 31.21]}
    for name, found in losses.items():
        for index, loss in enumerate(found):
            write_job(tmp_path / name / f"trial{index}", ["clip.value=0.1"], loss)
            write_job(tmp_path / name / f"trial{index + 2}", ["clip.value=1.0"], loss + 0.5)
    code, _, err = run(monkeypatch, capsys, tmp_path / "a", tmp_path / "b", "--out", tmp_path)
    point = json.loads((tmp_path / "comparison.json").read_text())["points"][0]
    assert code == 1 and "Traceback" not in err
    assert (point["a"], point["b"]) == ({"n": 1, "mean": 31.0, "sd": None}, {"n": 1, "mean": 31.01, "sd": None})
    assert point["reason"] == "fewer than 2 completed seeds on a side"


def test_a_value_written_as_an_interpolation_is_the_point_of_the_value_its_runs_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # B ran `optim.lr=0.01,'${oc.decode:${oc.env:LR}}'` with LR=0.1: its 0.1 was not A's 0.1, compared with
    # nothing, and the command said "Only in B: '${oc.decode:${oc.env:LR}}'".
    a = write_sweep(tmp_path / "a", {"0.01": LOSSES["0.1"], "0.1": LOSSES["1.0"]}, key="optim.lr")
    b = write_sweep(tmp_path / "b", {"0.01": LOSSES["0.1"], FROM_ENVIRONMENT: LOSSES["1.0"]}, key="optim.lr")
    for seed in range(len(LOSSES["1.0"])):
        record_run_definition(b / f"optim.lr={FROM_ENVIRONMENT},seed={seed}", {"optim.lr": 0.1, "seed": seed})
    monkeypatch.setenv("LR", "0.5")  # what the environment says now is not what the runs used
    code, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    assert code == 0 and verdicts(tmp_path) == {"0.01": "equivalent", "0.1": "equivalent"}
    assert "| 0.1 | 5 | 31.508 | 5 | 31.508 | 0.000 |" in out and "Only in" not in out
    assert f"B's optim.lr={FROM_ENVIRONMENT} is compared as the 0.1 its jobs ran with." in out
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    assert comparison["resolved"] == {"a": {}, "b": {f"optim.lr={FROM_ENVIRONMENT}": "optim.lr=0.1"}}
    # The other way round, the point is labelled by its value too.
    (tmp_path / "reversed").mkdir()
    code, out, _ = run(monkeypatch, capsys, b, a, "--out", tmp_path / "reversed")
    assert code == 0 and verdicts(tmp_path / "reversed") == {"0.01": "equivalent", "0.1": "equivalent"}
    assert f"A's optim.lr={FROM_ENVIRONMENT} is compared as the 0.1 its jobs ran with." in out


def test_a_value_that_interpolates_another_key_is_read_from_the_jobs_config_and_one_of_the_environment_is_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # Without checkpoints (deleted), a reference to another key resolves in the job's saved config as in its run;
    # the environment the run had is recorded nowhere else, and today's may differ: that point stays as written.
    a = write_sweep(tmp_path / "a", {**LOSSES, "0.5": LOSSES["0.1"]})
    b = write_sweep(tmp_path / "b", {"0.1": LOSSES["0.1"], "'${optim.lr}'": LOSSES["1.0"],
                                     "'${oc.decode:${oc.env:CLIP}}'": LOSSES["0.1"]})
    for job in b.glob("clip.value=*"):
        written = job.name.partition("=")[2].rpartition(",seed=")[0].strip("'")
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"clip": {"value": written if "${" in written
                                                                             else float(written)},
                                                                    "optim": {"lr": 1.0}}))
    monkeypatch.setenv("CLIP", "0.5")
    code, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    assert verdicts(tmp_path) == {"0.1": "equivalent", "1.0": "equivalent"}
    assert "B's clip.value='${optim.lr}' is compared as the 1.0 its jobs ran with." in out
    assert "Only in A (not compared): 0.5." in out and "Only in B (not compared): '${oc.decode:${oc.env:CLIP}}'." in out


def test_a_seed_written_as_an_interpolation_is_paired_with_the_seed_its_runs_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # B ran `seed=0,1,2,3,'${oc.decode:${oc.env:S}}'` with S=4: its fifth seed was not A's 4, and the two sweeps,
    # which ran the same seeds, were compared by Welch's test, as if their runs were unrelated.
    shifted = {value: [loss + 0.05 for loss in losses] for value, losses in LOSSES.items()}
    shifted["1.0"][0] += 0.3
    a = write_sweep(tmp_path / "a", LOSSES)
    b = write_sweep(tmp_path / "b", shifted, seeds=[0, 1, 2, 3, SEED_FROM_ENVIRONMENT])
    environment_jobs = sorted(b.glob(f"clip.value=*,seed={SEED_FROM_ENVIRONMENT}"))
    for job in environment_jobs:
        record_run_definition(job, {"seed": 4})
    monkeypatch.setenv("S", "0")  # what the environment says now is not what the runs used
    _, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    points = {point["label"]: point for point in comparison["points"]}
    paired = stats.ttest_1samp(np.array(shifted["1.0"]) - np.array(LOSSES["1.0"]), 0.0).confidence_interval(0.95)
    assert points["1.0"]["test"] == points["0.1"]["test"] == "paired by seed"
    assert points["1.0"]["ci95"] == pytest.approx(list(paired), rel=1e-9)
    assert f"B's seed={SEED_FROM_ENVIRONMENT} is compared as the 4 its jobs ran with." in out
    assert comparison["resolved"] == {"a": {}, "b": {f"seed={SEED_FROM_ENVIRONMENT}": "seed=4"}}
    # Without checkpoints, the seed is recorded nowhere but in the environment the runs had, which may not be
    # today's: as written, paired with no seed of A's.
    for job in environment_jobs:
        shutil.rmtree(job / "checkpoints")
        (job / ".hydra" / "config.yaml").write_text("seed: ${oc.decode:${oc.env:S}}\n")
    monkeypatch.setenv("S", "4")
    (tmp_path / "unpaired").mkdir()
    _, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path / "unpaired")
    comparison = json.loads((tmp_path / "unpaired" / "comparison.json").read_text())
    assert [point["test"] for point in comparison["points"]] == ["Welch", "Welch"]
    assert comparison["resolved"] == {"a": {}, "b": {}} and "compared as" not in out


def test_a_point_whose_interpolation_ran_as_another_point_of_its_sweep_is_kept_apart_and_said_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # B ran `clip.value=1,'${oc.decode:${oc.env:CLIP}}'` with CLIP=1.0: two points of 1.0. As one, each seed run
    # at both would be counted twice; compared as 1.0, the interpolation's jobs silently took the place of 1's.
    clip = "'${oc.decode:${oc.env:CLIP}}'"
    a = write_sweep(tmp_path / "a", LOSSES)
    b = write_sweep(tmp_path / "b", {"1": LOSSES["1.0"], clip: [loss + 1 for loss in LOSSES["1.0"]]})
    for seed in range(len(LOSSES["1.0"])):
        record_run_definition(b / f"clip.value={clip},seed={seed}", {"clip.value": 1.0, "seed": seed})
    code, out, _ = run(monkeypatch, capsys, a, b, "--out", tmp_path)
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    assert verdicts(tmp_path) == {"1.0": "equivalent"} and comparison["points"][0]["difference"] == 0
    assert (f"B's {clip} ran with 1.0, as B's point 1 did: kept apart, as written (as one point, each seed run at "
            f"both would be counted twice).") in out
    assert f"Only in B (not compared): {clip}." in out
    assert comparison["apart"] == {"a": {}, "b": {clip: {"ran_with": "1.0", "as": ["1"]}}}
    assert comparison["resolved"] == {"a": {}, "b": {}}
