"""The paper's conclusions judged from three sweeps' summary.json: confirmed, refuted, not separable."""

from pathlib import Path

import pytest
from scipy import stats

from vae_lightning.analysis.verdicts import judge_claims, markdown
from vae_lightning.files import write_json


def write_summary(folder: Path, points: dict[str, list[float]]) -> Path:
    """A summary.json as plot writes it: each point's overrides, label and per-seed final val losses."""
    folder.mkdir(parents=True)
    write_json(folder / "summary.json", {"points": [
        {"label": overrides.split("=")[-1], "overrides": overrides.split(","),
         "values": [{"seed": seed, "val_loss": loss} for seed, loss in enumerate(losses)]}
        for overrides, losses in points.items()]})
    return folder


def sweeps(tmp_path: Path, clip_value: dict, clip_norm: dict, momentum: dict) -> dict[str, Path]:
    return {"clip_value": write_summary(tmp_path / "clip_value", clip_value),
            "clip_norm": write_summary(tmp_path / "clip_norm", clip_norm),
            "momentum": write_summary(tmp_path / "momentum", momentum)}


CLOSE = {"optim.momentum=0.8": [31.0, 31.1, 30.9], "optim.momentum=0.85": [31.05, 31.0, 31.1],
         "optim.momentum=0.9": [31.1, 30.95, 31.05], "optim.momentum=0.95": [31.0, 31.2, 30.9]}


def test_a_best_point_is_confirmed_a_clearly_worse_one_refuted_a_close_one_not_separable(tmp_path: Path) -> None:
    rows = judge_claims(sweeps(
        tmp_path,
        clip_value={"clip.value=1.0": [30.0, 30.1, 29.9], "clip.value=0.1": [33.0, 33.1, 32.9]},
        clip_norm={"clip={algorithm:value,value:1.0}": [31.0, 31.1, 30.9],
                   "clip={algorithm:norm,value:5.0}": [30.0, 30.1, 29.9]},
        momentum={**CLOSE, "optim.momentum=0": [31.2, 30.7, 30.6]}))
    assert [row["verdict"] for row in rows] == [
        "confirmed", "refuted", "not separable at 3 seeds", "consistent: none separable at 3 seeds"]
    assert rows[1]["best"] == "{algorithm:norm,value:5.0}"
    assert rows[1]["p_vs_best"]["{algorithm:value,value:1.0}"] < 0.05
    assert rows[0]["measured"]["1.0"].startswith("30.00 [")
    assert len(markdown(rows)) == 2 + len(rows) + 2


def test_momenta_that_differ_refute_the_claim_of_small_differences(tmp_path: Path) -> None:
    momentum = {**CLOSE, "optim.momentum=0.95": [35.0, 35.1, 34.9]}
    rows = judge_claims(sweeps(tmp_path, {"clip.value=1.0": [30.0, 31.0]},
                               {"clip={algorithm:value,value:1.0}": [30.0, 31.0]}, momentum))
    assert rows[3]["verdict"] == "refuted"
    assert rows[3]["p_vs_best"]["0.95"] < 0.05


def test_a_missing_point_or_sweep_is_said_not_guessed(tmp_path: Path) -> None:
    folders = sweeps(tmp_path, {"clip.value=0.1": [30.0, 31.0]}, {"clip.value=0.1": [30.0]}, CLOSE)
    (folders["momentum"] / "summary.json").unlink()
    verdicts = [row["verdict"] for row in judge_claims(folders)]
    assert verdicts[:2] == ["no completed job: clip.value=1.0", "no completed job: clip={algorithm:value,value:1.0}"]
    assert verdicts[2:] == ["not run: no summary.json"] * 2


def test_the_measured_interval_is_the_mean_and_its_95_percent_t_interval(tmp_path: Path) -> None:
    # 30.0, 30.1, 29.9: mean 30, sd 0.1, t(0.975, 2) = 4.3027, half-width 4.3027 * 0.1 / sqrt(3) = 0.2484.
    rows = judge_claims(sweeps(tmp_path, {"clip.value=1.0": [30.0, 30.1, 29.9], "clip.value=0.1": [33.0, 33.1, 32.9]},
                               {"clip={algorithm:value,value:1.0}": [31.0, 31.1]}, CLOSE))
    assert rows[0]["measured"] == {"1.0": "30.00 [29.75, 30.25]"}


def test_the_seeds_a_claim_is_not_separable_at_are_the_fewest_of_its_points(tmp_path: Path) -> None:
    # One of the momenta has two seeds: "at 3 seeds" would overstate what was run.
    momentum = {**CLOSE, "optim.momentum=0.85": [31.05, 31.0]}
    rows = judge_claims(sweeps(tmp_path, {"clip.value=1.0": [30.0, 31.0]},
                               {"clip={algorithm:value,value:1.0}": [30.0, 31.0]}, momentum))
    assert [row["verdict"] for row in rows[2:]] == ["not separable at 2 seeds", "consistent: none separable at 2 seeds"]


def test_a_named_point_of_one_seed_is_not_tested_and_one_without_completed_jobs_is_named(tmp_path: Path) -> None:
    folders = sweeps(tmp_path, {"clip.value=1.0": [31.0], "clip.value=0.1": [30.0, 30.1]},
                     {"clip={algorithm:value,value:1.0}": [], "clip={algorithm:norm,value:5.0}": [30.0, 30.1]}, CLOSE)
    rows = judge_claims(folders)
    assert rows[0]["verdict"] == "not tested: one seed" and rows[0]["p_vs_best"] == {"1.0": None}
    # Every job of the named point failed: no numbers for it, and the point named (it crashed, KeyError).
    assert rows[1]["verdict"] == "no completed job: clip={algorithm:value,value:1.0}" and "measured" not in rows[1]


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # scipy's, on the constant samples
def test_the_markdown_row_shows_each_corrected_p_and_an_untested_point(tmp_path: Path) -> None:
    # Two constant, different points: Welch's p is exactly 0, shown as 0, not as untested.
    rows = judge_claims(sweeps(tmp_path, {"clip.value=1.0": [31.0, 31.0], "clip.value=0.1": [30.0, 30.0]},
                               {"clip={algorithm:value,value:1.0}": [31.0],
                                "clip={algorithm:norm,value:5.0}": [30.0, 30.1]},
                               CLOSE))
    lines = markdown(rows)
    assert lines[2] == ("| clipping by value 1 gave the best results in experiment 1 | clip_value | "
                        "1.0: 31.00 [31.00, 31.00]; 0.1: 30.00 [30.00, 30.00] | 1.0: 0 (best: 0.1) | refuted |")
    assert lines[3].endswith("| {algorithm:value,value:1.0}: untested (best: {algorithm:norm,value:5.0}) | "
                             "not tested: one seed |")


def test_a_lowest_mean_not_separable_from_the_others_or_of_one_seed_is_not_confirmed(tmp_path: Path) -> None:
    # 1.0 has the lowest mean of experiment 1, but 0.1 lies within the seeds' spread (Welch's p 0.63, as
    # scipy.stats.ttest_ind gives); in experiment 2 the named point is one lucky run, tested against nothing.
    rows = judge_claims(sweeps(
        tmp_path,
        clip_value={"clip.value=1.0": [30.0, 30.1, 29.9], "clip.value=0.1": [30.05, 30.15, 29.95]},
        clip_norm={"clip={algorithm:value,value:1.0}": [29.0], "clip={algorithm:norm,value:5.0}": [30.0, 30.1]},
        momentum=CLOSE))
    assert stats.ttest_ind([30.05, 30.15, 29.95], [30.0, 30.1, 29.9], equal_var=False).pvalue > 0.05
    assert [row["verdict"] for row in rows[:2]] == ["lowest mean, not separable at 3 seeds", "not tested: one seed"]
