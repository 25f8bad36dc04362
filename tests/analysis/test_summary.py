"""summary.json, summary.md and figure.png of sweep folders made by hand (no training): the statistics
against scipy, one and many seeds, ties, failed jobs, NaN losses, labels, bad folders and a full disk."""

import contextlib
import errno
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from matplotlib import font_manager
from matplotlib.collections import LineCollection
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from omegaconf import OmegaConf
from scipy import stats

from analysis.fake_sweeps import (FROM_ENVIRONMENT, SEED_FROM_ENVIRONMENT, check_against_scipy, record_run_definition,
                                  summary_points, write_job, write_sweep)
from helpers import refusal
from vae_lightning.analysis import plot
from vae_lightning.analysis.plot import NoSpaceLeft, collect, draw, draw_curves, plot_sweep, seeds_title
from vae_lightning.analysis.report import SweepReport
from vae_lightning.harness.runs import lock_run_dir
from vae_lightning.paper.gradients import STATISTICS

LOSSES = {"0.1": [31.0, 31.3, 30.9], "1.0": [31.6, 31.4, 31.9]}


def test_the_statistics_are_scipys(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    plot_sweep(sweep)
    check_against_scipy(sweep)
    assert summary_points(sweep)["1.0"]["verdict"] == "worse"
    assert summary_points(sweep)["0.1"]["values"] == [{"seed": "0", "val_loss": 31.0}, {"seed": "1", "val_loss": 31.3},
                                                      {"seed": "2", "val_loss": 30.9}]


def test_the_figure_is_also_a_vector_pdf_that_plots_again_to_the_same_bytes(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    written = plot_sweep(sweep)
    assert sweep / "figure.pdf" in written
    pdf = (sweep / "figure.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf  # lines and text, no raster
    assert b"/CreationDate" not in pdf  # which would differ from one plot to the next
    plot_sweep(sweep)
    assert (sweep / "figure.pdf").read_bytes() == pdf


def test_the_pdf_embeds_truetype_fonts_which_journals_accept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # matplotlib's default, Type 3, fails IEEE's and ACM's checks.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    with caplog.at_level(logging.INFO):
        plot_sweep(sweep)
    pdf = (sweep / "figure.pdf").read_bytes()
    assert b"/Subtype /CIDFontType2" in pdf and b"/Subtype /Type3" not in pdf  # Type 42: TrueType
    assert not [record for record in caplog.records if record.name.startswith("fontTools")]  # its subsetting's report


def test_labels_holding_dollar_signs_are_drawn_as_written(tmp_path: Path) -> None:
    # matplotlib read a label between two `$` as mathtext: a swept interpolation failed the sweep's plot.
    sweep = write_sweep(tmp_path / "sweep$1$", {"'${oc.decode:${oc.env:LR}}'": [31.0, 31.3], "0.1": [31.6, 31.4]},
                        key="optim.lr")
    assert sweep / "figure.png" in plot_sweep(sweep)
    assert set(summary_points(sweep)) == {"'${oc.decode:${oc.env:LR}}'", "0.1"}


def test_a_value_written_as_an_interpolation_is_labelled_by_the_value_its_runs_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `optim.lr=0.01,'${oc.decode:${oc.env:LR}}'` run with LR=0.1 was tabled and drawn as the interpolation, which
    # does not say what the runs used; compare already read it as 0.1, from the runs' checkpoints.
    sweep = write_sweep(tmp_path / "sweep", {"0.01": [31.0, 31.3], FROM_ENVIRONMENT: [31.6, 31.4]}, key="optim.lr",
                        gradients=True)
    for seed in range(2):
        record_run_definition(sweep / f"optim.lr={FROM_ENVIRONMENT},seed={seed}", {"optim.lr": 0.1, "seed": seed})
    monkeypatch.setenv("LR", "0.5")  # what the environment says now is not what the runs used
    plot_sweep(sweep)
    points = summary_points(sweep)
    assert set(points) == {"0.01", "0.1"} and points["0.1"]["overrides"] == ["optim.lr=0.1"]
    note = f"optim.lr={FROM_ENVIRONMENT} is shown as the 0.1 its jobs ran with."
    assert (sweep / "summary.md").read_text().endswith(f"\n\n{note}\n")
    assert "| 0.1 | 31.5 |" in (sweep / "gradients.md").read_text() and note in (sweep / "gradients.md").read_text()
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["resolved"] == {f"optim.lr={FROM_ENVIRONMENT}": "optim.lr=0.1"} and summary["apart"] == {}
    keys, groups = collect(sweep)
    used, _ = plot.as_used(groups)
    assert [text.get_text() for text in draw(used, keys, "t").legends[0].get_texts()] == ["0.01", "0.1"]


def test_a_seed_written_as_an_interpolation_is_the_seed_its_run_used(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES, seeds=[0, 1, SEED_FROM_ENVIRONMENT])
    for value in LOSSES:
        record_run_definition(sweep / f"clip.value={value},seed={SEED_FROM_ENVIRONMENT}", {"seed": 2})
    plot_sweep(sweep)
    assert [found["seed"] for found in summary_points(sweep)["0.1"]["values"]] == ["0", "1", "2"]
    assert f"seed={SEED_FROM_ENVIRONMENT} is shown as the 2 its jobs ran with." in (sweep / "summary.md").read_text()


def test_a_point_whose_interpolation_ran_as_another_point_is_kept_apart_and_said_so(tmp_path: Path) -> None:
    # `optim.lr=0.1,'${oc.decode:${oc.env:LR}}'` run with LR=0.1: both points ran 0.1. As one point, each seed run
    # at both would be counted twice, its interval that of twice the seeds; as two of one label, which is which?
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.3], FROM_ENVIRONMENT: [31.0, 31.3]}, key="optim.lr")
    for seed in range(2):
        record_run_definition(sweep / f"optim.lr={FROM_ENVIRONMENT},seed={seed}", {"optim.lr": 0.1, "seed": seed})
    plot_sweep(sweep)
    points = summary_points(sweep)
    assert set(points) == {"0.1", FROM_ENVIRONMENT} and [point["n"] for point in points.values()] == [2, 2]
    assert (f"{FROM_ENVIRONMENT} ran with 0.1, as the point 0.1 did: kept apart, as written (as one point, each "
            f"seed run at both would be counted twice).") in (sweep / "summary.md").read_text()
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["apart"] == {FROM_ENVIRONMENT: {"ran_with": "0.1", "as": ["0.1"]}} and summary["resolved"] == {}


@pytest.mark.parametrize("given", [".", "./", "jobs/..", "link"])
def test_a_sweep_given_as_dot_or_through_a_link_is_titled_by_its_own_folders_name(
        given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `cd SWEEP; python -m vae_lightning.plot .` titled the figure and summary.md ": clip.value".
    sweep = write_sweep(tmp_path / "my_sweep", LOSSES)
    (sweep / "jobs").mkdir()
    (tmp_path / "link").symlink_to(sweep)
    monkeypatch.chdir(sweep if given != "link" else tmp_path)
    plot_sweep(Path(given))
    assert (sweep / "summary.md").read_text().splitlines()[0] == "# my_sweep: clip.value"


def test_null_is_shown_as_none_only_where_it_is_the_value(tmp_path: Path) -> None:
    # Every `null` within a value was replaced: data.root=/data/nullable was labelled /data/noneable.
    sweep = write_sweep(tmp_path / "sweep", {"/data/nullable": [31.0, 31.3], "null": [31.6, 31.4]}, key="data.root")
    plot_sweep(sweep)
    assert set(summary_points(sweep)) == {"/data/nullable", "none"}
    assert plot.readable("clip={algorithm:norm,value:null}") == "clip=norm none"


def test_a_title_of_two_lines_heads_the_tables_in_one(tmp_path: Path) -> None:
    # `--title $'Figure 1\nclipping'` headed summary.md with "# Figure 1", its second line a paragraph of its own.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    plot_sweep(sweep, "Figure 1\nclipping")
    assert (sweep / "summary.md").read_text().splitlines()[:2] == ["# Figure 1 clipping", ""]


def test_a_chinese_title_is_drawn_in_an_installed_font_that_has_its_characters(tmp_path: Path) -> None:
    # matplotlib's own font has no Chinese: `--title "图3: 动量"` drew a box for each character, with a warning for
    # each character of each figure.
    if "WenQuanYi Micro Hei" not in {entry.name for entry in font_manager.fontManager.ttflist}:
        pytest.skip("no Chinese font here: apt-get install fonts-wqy-microhei (as .ci/run does)")
    sweep = write_sweep(tmp_path / "sweep", LOSSES, gradients=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_sweep(sweep, "图3: 动量")
    assert not [warning for warning in caught if "missing from font" in str(warning.message)]
    for figure in ("figure.pdf", "gradients.pdf"):
        assert b"+WenQuanYiMicroHei" in (sweep / figure).read_bytes(), figure


def test_a_character_no_installed_font_has_is_said_in_one_line(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    # U+0378 is no character yet: no font has it, and matplotlib warned once for each figure it was drawn in.
    sweep = write_sweep(tmp_path / "sweep", LOSSES, gradients=True)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_sweep(sweep, "Figure \u0378")
    assert not [warning for warning in caught if "missing from font" in str(warning.message)]
    assert [record.getMessage() for record in caplog.records] == [
        "no font installed here has \u0378 (in the title or the labels): the figures show a box for each; install a "
        "font that has them (Debian: apt-get install fonts-noto-cjk for Chinese, Japanese or Korean), then python -m "
        "vae_lightning.plot again"]
    assert (sweep / "figure.png").exists()


def test_a_label_holding_a_pipe_stays_in_its_cell(tmp_path: Path) -> None:
    # Markdown ends a table's cell at `|`: data.root=/data|2's row had a column too many, every cell after it shifted.
    sweep = write_sweep(tmp_path / "sweep", {"/data|2": [31.0, 31.3], "/data": [31.6, 31.4]}, key="data.root")
    plot_sweep(sweep)
    lines = [line for line in (sweep / "summary.md").read_text().splitlines() if line.startswith("|")]
    assert len({len(re.split(r"(?<!\\)\|", line)) for line in lines}) == 1
    assert any(line.startswith("| /data\\|2 | ") for line in lines)


def test_more_points_than_colours_are_told_apart_by_marker_and_dashes(tmp_path: Path) -> None:
    # Matplotlib's 10 colours repeat: points 0.001 and 0.011 were drawn alike, in the figure and its legend.
    values = [f"{0.001 * step:g}" for step in range(1, 13)]
    sweep = write_sweep(tmp_path / "sweep", {value: [31.0 + float(value), 31.1] for value in values})
    keys, groups = collect(sweep)
    lines = draw(groups, keys, "title").axes[0].get_lines()
    looks = [(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines]
    assert len(looks) == 12 and len(set(looks)) == 12


def test_a_point_no_job_of_which_completed_is_named_in_the_figures_legend(tmp_path: Path) -> None:
    # `-m optim.lr=0.01,1e6`, every job of 1e6 diverged: its figure's legend listed 0.01 alone, a sweep of one value.
    failed = {("1e6", seed): {"status": "failed", "error": "loss is nan"} for seed in (0, 1)}
    sweep = write_sweep(tmp_path / "sweep", {"0.01": [31.0, 31.2], "1e6": [31.0, 31.2]}, key="optim.lr",
                        statuses=failed)
    keys, groups = collect(sweep)
    (shown,) = draw(groups, keys, "title").legends
    assert [text.get_text() for text in shown.get_texts()] == ["0.01", "1e+06: no job completed"]


def test_a_completed_job_whose_metrics_hold_no_val_loss_is_excluded_and_named(tmp_path: Path) -> None:
    # Its csv/ cut to its header (a disk that filled as it was written, a copy cut short).
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    metrics = sweep / "clip.value=0.1,seed=1" / "csv" / "metrics.csv"
    metrics.write_text(metrics.read_text().splitlines()[0] + "\n")
    plot_sweep(sweep)
    assert summary_points(sweep)["0.1"]["excluded"] == ["seed 1: completed, but its csv/metrics.csv holds no val loss"]
    assert summary_points(sweep)["1.0"]["excluded"] == []


def test_a_status_json_that_is_not_json_is_named_as_such_not_as_missing(tmp_path: Path) -> None:
    # An emptied status.json was listed as "seed 1: no status.json", beside the file.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    (sweep / "clip.value=0.1,seed=1" / "status.json").write_text("")
    (sweep / "clip.value=1.0,seed=1" / "status.json").unlink()
    plot_sweep(sweep)
    assert summary_points(sweep)["0.1"]["excluded"] == ["seed 1: its status.json is not JSON"]
    assert summary_points(sweep)["1.0"]["excluded"] == ["seed 1: no status.json"]


@pytest.mark.parametrize("title", ["", " ", "\n"])
def test_a_blank_title_is_the_default_one(title: str, tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    plot_sweep(sweep, title)
    assert (sweep / "summary.md").read_text().splitlines()[0] == "# sweep: clip.value"


def table(sweep: Path) -> dict[str, list[str]]:
    lines = (sweep / "summary.md").read_text().splitlines()
    header = lines.index(next(line for line in lines if line.startswith("|---")))
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in lines[header + 1:] if line.startswith("|")]
    return {row[0]: row for row in rows}


def test_two_seeds_and_many(tmp_path: Path) -> None:
    two = write_sweep(tmp_path / "two", {"0.1": [31.0, 31.2], "1.0": [31.1, 31.5]})
    many = write_sweep(tmp_path / "many", {value: [31.0 + 0.1 * seed + (value == "1.0") for seed in range(8)]
                                           for value in ("0.1", "1.0")})
    for sweep in (two, many):
        plot_sweep(sweep)
        check_against_scipy(sweep)
    assert table(many)["1.0"][5:8] == ["worse", "3", "8"]


def test_indistinguishable_points_say_how_many_seeds_would_separate_them(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.3, 30.9], "1.0": [31.1, 31.4, 31.0]})
    plot_sweep(sweep)
    point = summary_points(sweep)["1.0"]
    assert point["verdict"] == "indistinguishable"
    pooled_sd = math.sqrt((np.var([31.0, 31.3, 30.9], ddof=1) + np.var([31.1, 31.4, 31.0], ddof=1)) / 2)
    needed = point["seeds_for_80pct_power"]

    def power(n: int) -> float:  # two-sided; the far tail, below -t, adds nothing at this size
        df, shift = 2 * n - 2, 0.1 / pooled_sd * math.sqrt(n / 2)
        return stats.nct.sf(stats.t.ppf(0.975, df), df, shift)

    assert power(needed) >= 0.8 > power(needed - 1)
    assert f"- 1.0: 0.100 above 0.1; about {needed} seeds per point" in (sweep / "summary.md").read_text()


def test_one_seed_shows_no_spread_no_interval_and_no_band(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0], "1.0": [31.5]})
    plot_sweep(sweep)
    text = (sweep / "summary.md").read_text()
    assert "± 0.000" not in text
    assert table(sweep)["0.1"][1:6] == ["31.000", "none: 1 seed", "none: 1 seed", "", "best"]
    assert table(sweep)["1.0"][4:6] == ["no test: 1 seed", "untested"]
    point = summary_points(sweep)["1.0"]
    assert (point["n"], point["sd"], point["ci95"], point["p_vs_best"], point["verdict"]) == (1, None, None, None, None)
    _, groups = collect(sweep)
    assert seeds_title(groups, "t") == "t: one seed per point, so no band"


def test_a_sweep_continued_with_a_setting_it_does_not_vary_keeps_its_jobs(tmp_path: Path) -> None:
    # Hydra writes the continuing command to multirun.yaml; each job keeps its first overrides.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    multirun = OmegaConf.load(sweep / "multirun.yaml")
    multirun.hydra.overrides.task += ["trainer.max_epochs=5", "resume=true"]
    OmegaConf.save(multirun, sweep / "multirun.yaml")
    plot_sweep(sweep)
    check_against_scipy(sweep)


def test_a_tie_keeps_one_best(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.2, 31.1], "1.0": [31.2, 31.0, 31.1]})
    plot_sweep(sweep)
    points = summary_points(sweep)
    assert [points[value]["verdict"] for value in ("0.1", "1.0")] == ["best", "indistinguishable"]
    assert points["1.0"]["p_vs_best"] == pytest.approx(1.0)
    assert points["1.0"]["seeds_for_80pct_power"] is None
    assert "equal means: no number of seeds separates them" in (sweep / "summary.md").read_text()


def test_a_failed_job_and_a_nan_loss_are_excluded_and_listed(tmp_path: Path) -> None:
    failed = {"status": "failed", "error": "loss is nan at step 3 (epoch 0)", "exit_code": 3}
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.3, 30.9], "1.0": [31.6, math.nan, 31.9]},
                        statuses={("0.1", 2): failed})
    plot_sweep(sweep)
    points = summary_points(sweep)
    assert [value["seed"] for value in points["0.1"]["values"]] == ["0", "1"]
    assert points["0.1"]["mean"] == pytest.approx(31.15)
    assert points["0.1"]["excluded"] == ["seed 2: failed (loss is nan at step 3 (epoch 0))"]
    assert points["1.0"]["mean"] == pytest.approx(31.75)
    assert points["1.0"]["excluded"] == ["seed 1: final val loss is nan"]
    assert table(sweep)["1.0"][-1] == "seed 1: final val loss is nan"
    assert "NaN" not in (sweep / "summary.json").read_text()  # strict JSON


def test_a_running_job_whose_process_is_gone_says_it_was_killed(tmp_path: Path) -> None:
    running = {"status": "running"}
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.2, 31.1], "1.0": [31.5, 31.6, 31.4]},
                        statuses={("0.1", 0): running, ("0.1", 1): running})
    lock = lock_run_dir(sweep / "clip.value=0.1,seed=0")  # this process runs seed 0; seed 1's died
    try:
        plot_sweep(sweep)
    finally:
        lock.close()
    assert summary_points(sweep)["0.1"]["excluded"] == [
        "seed 0: running", "seed 1: running when its process was killed; resume=true continues it"]


def test_a_sweep_without_seeds_names_a_points_failed_job_as_its_job(tmp_path: Path) -> None:
    # `-m clip.value=0.1,1.0` (one job a point) listed a failure as "seed default: failed".
    sweep = tmp_path / "sweep"
    write_job(sweep / "clip.value=0.1", ["clip.value=0.1"], 31.0, {"status": "failed", "error": "boom"})
    write_job(sweep / "clip.value=1.0", ["clip.value=1.0"], 31.5)
    plot_sweep(sweep)
    assert summary_points(sweep)["0.1"]["excluded"] == ["its job: failed (boom)"]


def test_a_point_whose_jobs_all_failed_is_listed_last(tmp_path: Path) -> None:
    failed = {"status": "failed", "error": "boom"}
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.2], "1.0": [31.5, 31.6]},
                        statuses={("0.1", 0): failed, ("0.1", 1): failed})
    plot_sweep(sweep)
    assert list(summary_points(sweep)) == ["1.0", "0.1"]
    assert table(sweep)["0.1"][1:9] == ["n/a", "n/a", "n/a", "n/a", "untested", "n/a", "0",
                                        "seed 0: failed (boom); seed 1: failed (boom)"]
    assert summary_points(sweep)["1.0"]["verdict"] == "best"


def test_the_band_is_the_final_losses_95_percent_interval_and_one_epoch_shows(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES, epochs=1)
    _, groups = collect(sweep)
    axis = Figure().subplots()
    draw_curves(axis, groups, "val")
    assert all(line.get_marker() not in ("", "None", None) for line in axis.lines)  # a one-point line is a marker
    assert all(tick == round(tick) for tick in axis.get_xticks())  # no fractional epochs around it
    band = axis.collections[0].get_paths()[0].vertices[:, 1]
    interval = stats.t.interval(0.95, 2, loc=np.mean(LOSSES["0.1"]), scale=stats.sem(LOSSES["0.1"]))
    assert (band.min(), band.max()) == pytest.approx(interval, rel=1e-9)
    assert seeds_title(groups, "t") == "t\nmean over 3 seeds, band: 95% confidence interval of the mean (Student's t)"


def test_a_points_curve_ends_where_its_first_seed_stopped_and_its_legend_says_so(tmp_path: Path) -> None:
    # Seed 1 stopped early (EarlyStopping) after 3 of 6 epochs: past it the mean was seed 0's alone, and rose from
    # 32.6 at epoch 3 to 33.0 at epoch 4, with no band and nothing to say so.
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.2], "1.0": [31.5, 31.7]}, epochs=6)
    shutil.rmtree(sweep / "clip.value=0.1,seed=1")
    write_job(sweep / "clip.value=0.1,seed=1", ["clip.value=0.1", "seed=1"], 31.2, epochs=3)
    keys, groups = collect(sweep)
    axis = Figure().subplots()
    draw_curves(axis, groups, "val")
    stopped, together = axis.lines
    assert list(stopped.get_xdata()) == [1, 2, 3] and list(stopped.get_ydata()) == pytest.approx([34.6, 33.6, 32.6])
    assert list(together.get_xdata()) == [1, 2, 3, 4, 5, 6]
    (shown,) = draw(groups, keys, "title").legends
    assert [text.get_text() for text in shown.get_texts()] == [
        "0.1 (to epoch 3, where the first of its 2 seeds stopped)", "1.0"]
    plot_sweep(sweep)  # the table is still of each seed's own final val loss
    assert summary_points(sweep)["0.1"]["values"][1] == {"seed": "1", "val_loss": 31.2}


def test_the_gradient_tables_last_epoch_is_the_last_all_seeds_reached() -> None:
    # Its "last epoch" column was the longest seed's alone, where the other had stopped two epochs before.
    group = plot.Group("0.1")
    for name in STATISTICS:
        group.curves[name] = [{-1: 4.0, 0: 2.0, 1: 1.0, 2: 9.0, 3: 9.0}, {-1: 4.0, 0: 2.0, 1: 4.0}]
    group.finals = [("0", 31.0), ("1", 31.2)]
    row = plot.summarise_gradients({("0.1",): group}, ["clip.value"], "t").splitlines()[-1]
    assert row == "| 0.1 | 4 | 2 | 2 | 200 | 250 |"


def test_a_band_over_one_epoch_is_drawn_as_a_bar(tmp_path: Path) -> None:
    # fill_between over one x has no width: the title's band would not show.
    _, groups = collect(write_sweep(tmp_path / "sweep", LOSSES, epochs=1))
    axis = Figure().subplots()
    draw_curves(axis, groups, "val")
    bars = [collection.get_segments()[0] for collection in axis.collections if isinstance(collection, LineCollection)]
    intervals = [stats.t.interval(0.95, 2, loc=np.mean(losses), scale=stats.sem(losses)) for losses in LOSSES.values()]
    assert [tuple(bar[:, 1]) for bar in bars] == [pytest.approx(interval, rel=1e-9) for interval in intervals]


def test_the_gradient_bands_stay_within_what_a_norm_and_a_share_can_be() -> None:
    """Two seeds far apart: mean ± t(0.975, 1)·sd/√2 reaches below zero for the norm and the share,
    which neither can; the norm's band is its logarithms' interval mapped back, the share's is cut at 0."""
    norms, fractions = [0.5, 3.0], [0.001, 0.05]
    group = plot.Group("0.1")
    group.curves["train/grad_norm"] = [{0: norm} for norm in norms]
    group.curves["train/clip_fraction"] = [{0: fraction} for fraction in fractions]
    group.finals = [("0", 31.0), ("1", 31.2)]
    axis = Figure().subplots()
    draw_curves(axis, {("0.1",): group}, "train/grad_norm", geometric=True)
    band = axis.collections[0].get_paths()[0].vertices[:, 1]
    low, high = stats.t.interval(0.95, 1, loc=np.mean(np.log(norms)), scale=stats.sem(np.log(norms)))
    assert (band.min(), band.max()) == pytest.approx((math.exp(low), math.exp(high)), rel=1e-9)
    assert axis.lines[0].get_ydata()[0] == pytest.approx(math.sqrt(0.5 * 3.0))  # the geometric mean
    axis = Figure().subplots()
    draw_curves(axis, {("0.1",): group}, "train/clip_fraction", scale=100.0, within=(0.0, 100.0))
    band = axis.collections[0].get_paths()[0].vertices[:, 1]
    high = stats.t.interval(0.95, 1, loc=np.mean(fractions), scale=stats.sem(fractions))[1]
    assert (band.min(), band.max()) == pytest.approx((0.0, 100 * high), rel=1e-9)
    assert seeds_title({("0.1",): group}, "t", plot.GRADIENT_BANDS).startswith("t\nover 2 seeds: norms' geometric mean")


def test_an_optuna_sweeps_labels_are_short_and_in_one_key_order(tmp_path: Path) -> None:
    sweep = tmp_path / "optuna"  # no grid: the jobs found are the points
    write_job(sweep / "0", ["optim.lr=0.012341234567890123", "optim.momentum=0.91234567890123456"], 31.0)
    write_job(sweep / "1", ["optim.momentum=0.5", "optim.lr=0.012348765432109876"], 32.0)
    _, groups = collect(sweep)
    assert sorted(group.label for group in groups.values()) == [
        "0.01234, 0.912", "0.01235, 0.5"]


def test_two_trials_of_a_search_at_one_point_are_each_counted_once(tmp_path: Path) -> None:
    # A search asks a point twice (choice(...)): the table counted the second trial's folder twice, so a
    # point whose first trial completed and second was pruned showed "pruned; pruned" and no val loss.
    sweep = tmp_path / "optuna"  # no grid: the jobs found are the points
    write_job(sweep / "0_optim.lr=0.01", ["optim.lr=0.01"], 31.0)
    write_job(sweep / "1_optim.lr=0.01", ["optim.lr=0.01"], 33.0, {"status": "pruned", "epoch": 1})
    write_job(sweep / "2_optim.lr=0.1", ["optim.lr=0.1"], 32.0)
    _, groups = collect(sweep)
    assert [(group.label, group.finals, group.problems) for group in groups.values()] == [
        ("0.01", [("default", 31.0)], ["its job: pruned"]), ("0.1", [("default", 32.0)], [])]


def test_runs_put_in_one_folder_by_hand_are_apart_where_one_gives_a_key_another_leaves_at_its_default(
        tmp_path: Path) -> None:
    # `plot outputs/runs`: with no multirun.yaml, only keys given two values told runs apart, and a run at
    # lr 0.1 without clipping was counted as a second seed of the run it otherwise matched.
    runs = tmp_path / "runs"
    write_job(runs / "a", ["trainer.max_epochs=2"], 31.0)
    write_job(runs / "b", ["trainer.max_epochs=2", "clip=none", "optim.lr=0.1"], 35.0)
    write_job(runs / "c", ["trainer.max_epochs=3", "trainer.enable_progress_bar=false"], 30.0)
    keys, groups = collect(runs)
    assert keys == ["trainer.max_epochs", "clip", "optim.lr"]  # a progress bar does not set a run apart
    assert sorted((group.label, group.finals) for group in groups.values()) == [
        ("2, default, default", [("default", 31.0)]), ("2, none, 0.1", [("default", 35.0)]),
        ("3, default, default", [("default", 30.0)])]


def test_runs_put_in_one_folder_by_hand_are_one_point_where_one_gives_the_value_another_ran_with_by_default(
        tmp_path: Path) -> None:
    # A run that gave clip.value=1 and one that left it at its default 1.0 were two points, `1` and `default`; a run
    # that set clip=none and left clip.value out was `default` beside them too.
    runs = tmp_path / "runs"
    for name, overrides, final, seed, clip in [("a", ["seed=1"], 31.0, 1, "value"),
                                               ("b", ["clip.value=1"], 31.5, 0, "value"),
                                               ("c", ["clip.value=0.5"], 33.0, 0, "value"),
                                               ("d", ["clip=none"], 35.0, 0, "none")]:
        job = write_job(runs / name, overrides, final)
        value = 0.5 if name == "c" else 1.0 if clip == "value" else None
        config = {"seed": seed, "clip": {"algorithm": None if value is None else "value", "value": value}}
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": {"clip": clip}}}}))
    keys, groups = collect(runs)
    assert keys == ["clip", "clip.value"]
    assert sorted((group.label, group.finals) for group in groups.values()) == [
        ("none, none", [("0", 35.0)]), ("value, 0.5", [("0", 33.0)]), ("value, 1", [("1", 31.0), ("0", 31.5)])]


def test_runs_put_in_one_folder_by_hand_count_a_seed_once_read_a_key_as_set_last_and_apart_by_processes(
        tmp_path: Path) -> None:
    # A run whose command gave data.root twice set data.root apart as a key swept; three runs of one config at one
    # seed were three seeds of it (an interval over one run's repeats); a DDP run was a seed of the one-process run.
    runs = tmp_path / "runs"
    for name, overrides, final, processes in [("a", ["data.root=/none", "data.root=/data"], 31.0, 1),
                                              ("b", ["data.root=/data"], 31.5, 1), ("c", [], 31.2, 1),
                                              ("d", ["trainer.devices=2"], 32.0, 2)]:
        job = write_job(runs / name, overrides, final)
        (job / "checkpoints").mkdir()
        torch.save({"callbacks": {"RunDefinition": {"definition": {"processes": processes, "seed": 0}}}},
                   job / "checkpoints" / "last.ckpt")
    keys, groups = collect(runs)
    assert keys == ["processes"]
    assert [(group.label, group.finals, group.problems) for group in groups.values()] == [
        ("1", [("default", 31.0)], ["b: the default seed again, as a; counted once",
                                    "c: the default seed again, as a; counted once"]),
        ("2", [("default", 32.0)], [])]


def test_a_run_folder_or_an_empty_one_is_refused_in_one_line_and_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    run = write_job(tmp_path / "run", ["optim.lr=0.1"], 31.0)
    (tmp_path / "empty").mkdir()
    for folder, says in [(run, "is a single run's folder, not a sweep's"), (tmp_path / "empty", "holds no sweep"),
                         (tmp_path / "nothing", "is not a folder")]:
        before = sorted(tmp_path.rglob("*"))
        monkeypatch.setattr(sys, "argv", ["plot", str(folder)])
        with pytest.raises(SystemExit) as exit:
            plot.main()
        assert exit.value.code == 2
        assert capsys.readouterr().err.splitlines() == [
            f"error: {folder} {says}; pass the folder of a sweep (its hydra.sweep.dir), which holds multirun.yaml "
            "and a folder per job"]
        assert sorted(tmp_path.rglob("*")) == before


def test_a_sweep_handed_over_with_a_link_out_of_it_is_refused_and_its_target_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # Links at the writer's temporary path, into a .pth file that would run as code at the next start.
    target = tmp_path / "site-packages" / "zz.pth"
    target.parent.mkdir()
    target.write_text("untouched")
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    link = sweep / ".summary.md.300.tmp"
    link.symlink_to(target)
    assert refusal(plot.main, ["plot", str(sweep)], monkeypatch, capsys) == [
        f"error: {link} is a symbolic link out of the folder, which plot would write through; replace it with what it "
        f"links to (cp -rL), or plot a copy of the sweep"]
    assert target.read_text() == "untouched" and not (sweep / "summary.md").exists()


@pytest.mark.parametrize("content", [
    "hydra: [unclosed",
    # Parsed, but not as Hydra writes it: a traceback where the command line or the params were read.
    "hydra: {overrides: {task: 5}, sweeper: {_target_: BasicSweeper}}",
    "hydra: {overrides: {task: [seed=0]}, sweeper: {_target_: BasicSweeper, params: [1]}}",
])
def test_an_unreadable_multirun_yaml_is_one_line(content: str, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    (sweep / "multirun.yaml").write_text(content)
    monkeypatch.setattr(sys, "argv", ["plot", str(sweep)])
    with pytest.raises(SystemExit) as exit:
        plot.main()
    assert exit.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {sweep / 'multirun.yaml'} cannot be read")
    assert not (sweep / "figure.png").exists()


@pytest.mark.parametrize("row,error", [("x,9,1.0,2.0", "ValueError"), ("inf,9,1.0,2.0", "OverflowError"),
                                       ("0,9,1.0,abc", "ValueError")])
def test_a_metrics_csv_that_is_not_numbers_is_one_line_naming_its_line(
        row: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    metrics = next(sweep.glob("*/csv/metrics.csv"))
    metrics.write_text(f"epoch,step,train/loss,val/loss\n{row}\n")
    (line,) = refusal(plot.main, ["plot", str(sweep)], monkeypatch, capsys)
    assert line.startswith(f"error: {metrics}, line 2: not a CSVLogger's numbers ({error}: ")
    assert line.endswith("restore it, or delete it to leave the job out")
    assert not (sweep / "figure.png").exists()


def test_a_metrics_csv_that_cannot_be_read_is_one_line_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # A folder in its place (or, for another user, a file without read permission) ended plot in a traceback.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    metrics = sweep / "clip.value=0.1,seed=2" / "csv" / "metrics.csv"
    metrics.unlink()
    metrics.mkdir()
    (line,) = refusal(plot.main, ["plot", str(sweep)], monkeypatch, capsys)
    assert line == f"error: {metrics} cannot be read (Is a directory); restore it, or delete it to leave the job out"
    assert not (sweep / "summary.json").exists()


def test_a_metrics_csv_cut_short_is_one_line_not_a_final_val_loss(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its last line cut within the val loss, which CSVLogger's columns, in name order, put before
    # val/reconstruction: 30.9 was read as 3, and the point's mean taken from it.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    metrics = sweep / "clip.value=0.1,seed=2" / "csv" / "metrics.csv"
    metrics.write_text("epoch,step,train/loss,val/loss,val/reconstruction\n0,9,32.4,31.9,31.0\n1,19,31.4,3")
    (line,) = refusal(plot.main, ["plot", str(sweep)], monkeypatch, capsys)
    assert line == (f"error: {metrics}, line 3: not as many fields as its header, as in a file cut short; restore "
                    "it, or delete it to leave the job out")
    assert not (sweep / "summary.json").exists()


def test_a_line_cut_short_by_an_interrupted_run_that_resumed_since_is_left_out(tmp_path: Path) -> None:
    # An interrupted run's last write, cut short in its metrics file, which its resumption moved aside
    # (metrics.0.csv) before logging that epoch again: plot refused the whole sweep, and the resumed
    # sweep's report exited 1.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    folder = sweep / "clip.value=0.1,seed=2" / "csv"
    header = "epoch,step,train/loss,val/loss,val/reconstruction\n"
    (folder / "metrics.0.csv").write_text(header + "0,9,32.4,31.9,31.0\n1,19,31.4,3")
    (folder / "metrics.csv").write_text(header + "1,19,31.4,30.9,30.1\n")
    plot_sweep(sweep)
    assert 30.9 in [found["val_loss"] for found in summary_points(sweep)["0.1"]["values"]]


@pytest.mark.parametrize("content,kind", [("- [seed=0]\n", "list"), ("[unclosed", "ParserError"),
                                          ("seed: 0\n", "dict")])
def test_overrides_that_are_not_hydras_list_are_one_line_naming_the_file(
        content: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    overrides = next(sweep.glob("*/.hydra/overrides.yaml"))
    overrides.write_text(content)
    assert refusal(plot.main, ["plot", str(sweep)], monkeypatch, capsys) == [
        f"error: {overrides} is not the list of overrides Hydra writes ({kind}); restore it, or move the job's folder "
        f"out of the sweep"]


NOT_A_STATUS = ', not a job\'s status (an object such as {"status": "completed"}): restore it, or delete it to leave ' \
               'the job out as one without an outcome'


@pytest.mark.parametrize("content", ["[]", "3", '"completed"', "{}", '{"status": null}'])
def test_a_status_json_that_is_no_jobs_status_is_one_line_naming_it(
        content: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    status = sweep / "clip.value=1.0,seed=2" / "status.json"
    status.write_text(content)
    monkeypatch.setattr(sys, "argv", ["plot", str(sweep)])
    with pytest.raises(SystemExit) as exit:
        plot.main()
    assert exit.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {status} holds {content}{NOT_A_STATUS}"]
    assert not (sweep / "figure.png").exists()


def test_a_sweep_ending_with_a_status_json_that_is_no_jobs_status_lists_the_job_as_failed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    status = sweep / "clip.value=1.0,seed=2" / "status.json"
    status.write_text("3")
    with pytest.raises(SystemExit) as exit:
        SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert exit.value.code == 1
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    problem = f"{status} holds 3{NOT_A_STATUS}"
    assert errors == [problem, f"failed: clip.value=1.0 seed=2: {problem}"]
    assert not any(record.exc_info for record in caplog.records)


def test_a_sweep_ending_with_a_job_that_could_not_record_its_outcome_names_its_file_and_the_fix(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A disk too full for status.json leaves it saying running; the report listed the job with "no error recorded".
    sweep = write_sweep(tmp_path / "sweep", LOSSES, statuses={("1.0", 2): {"status": "running"}})
    with pytest.raises(SystemExit) as exit:
        SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert exit.value.code == 1
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert errors == [f"failed: clip.value=1.0 seed=2: {sweep}/clip.value=1.0,seed=2/status.json still says running: "
                      f"the job ended without recording its outcome, as on a disk too full to write it; free some "
                      f"space, then the same command with hydra.sweep.dir={sweep} resume=true"]


@pytest.mark.parametrize("rate,statuses,exits", [
    (None, ["failed"], True),  # Hydra's basic sweeper has no such setting: any failure fails the sweep
    (0.0, ["failed"], True),
    (0.2, ["failed"], False),  # 1 of the 6 jobs
    (0.2, ["failed", "failed"], True),
    (0.5, ["failed", "interrupted"], True),  # an interrupt is never a trial's own answer
])
def test_a_search_exits_zero_with_no_more_failed_trials_than_its_max_failure_rate(
        rate: float | None, statuses: list[str], exits: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ended = {("0.1", seed): {"status": status, "error": "loss is nan"} for seed, status in enumerate(statuses)}
    sweep = write_sweep(tmp_path / "sweep", LOSSES, statuses=ended)
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}, "sweeper": {"max_failure_rate": rate}}})
    if exits:
        with pytest.raises(SystemExit) as exit:
            SweepReport().on_multirun_end(config)
        assert exit.value.code == 1
    else:
        SweepReport().on_multirun_end(config)
        assert "1 of 6 jobs failed, within hydra.sweeper.max_failure_rate=0.2" in caplog.text
    assert "failed: clip.value=0.1 seed=0: loss is nan" in caplog.text  # listed, tolerated or not
    assert (sweep / "figure.png").exists()


def test_a_share_of_failed_trials_exactly_at_max_failure_rate_exits_zero(tmp_path: Path) -> None:
    # 29 of 50 trials failed, at max_failure_rate=0.58: 29/50 is 0.58, where 0.58 * 50 is 28.999999999999996.
    failed = {("0.1", seed): {"status": "failed", "error": "loss is nan"} for seed in range(29)}
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0 + seed / 100 for seed in range(50)]}, statuses=failed)
    SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)},
                                                              "sweeper": {"max_failure_rate": 0.58}}}))


def test_a_search_whose_every_trial_failed_exits_non_zero_whatever_its_max_failure_rate(tmp_path: Path) -> None:
    failed = {"status": "failed", "error": "loss is nan"}
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [31.0]}, statuses={("0.1", 0): failed})
    with pytest.raises(SystemExit):
        SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)},
                                                                  "sweeper": {"max_failure_rate": 1.0}}}))


def test_a_sweep_without_a_completed_job_has_its_table_and_no_figure_of_empty_axes(tmp_path: Path) -> None:
    """The table lists why each job failed; no figure is drawn, and an earlier plot's is removed."""
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    plot_sweep(sweep)
    for status in sweep.glob("*/status.json"):
        status.write_text('{"status": "failed", "error": "loss is nan"}')
    written = plot_sweep(sweep)
    assert written == [sweep / "summary.md", sweep / "summary.json"]
    assert not (sweep / "figure.png").exists() and not (sweep / "figure.pdf").exists()
    assert "seed 0: failed (loss is nan)" in (sweep / "summary.md").read_text()


def test_a_sweep_on_a_read_only_file_system_is_one_line_before_its_jobs_are_read(
        tmpfs, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = write_sweep(tmpfs("read-only") / "sweep", LOSSES)
    subprocess.run(["mount", "-o", "remount,ro", str(sweep.parent)], check=True)
    monkeypatch.setattr(plot, "collect", lambda *args: pytest.fail("read the jobs"))
    monkeypatch.setattr(sys, "argv", ["plot", str(sweep)])
    with pytest.raises(SystemExit) as exit:
        plot.main()
    assert exit.value.code == 2
    says = (f"the sweep folder {sweep} cannot be written (Read-only file system): plot writes its figures and tables "
            "into it; copy the sweep to a folder you can write to, and plot the copy")
    assert capsys.readouterr().err.splitlines() == [f"error: {says}"]


def full_sweep(tmpfs) -> Path:
    """A finished sweep on a filesystem with no space left."""
    sweep = write_sweep(tmpfs("disk", size="1m") / "sweep", LOSSES)
    with open(sweep.parent / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass
    return sweep


def test_plot_on_a_full_disk_is_one_line(tmpfs, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = full_sweep(tmpfs)
    monkeypatch.setattr(sys, "argv", ["plot", str(sweep)])
    with pytest.raises(SystemExit) as exit:
        plot.main()
    assert exit.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: no space left on device writing {sweep / 'figure.png'}: free some space, then "
        f"python -m vae_lightning.plot {sweep}"]
    assert not list(sweep.glob(".*.tmp"))


def test_a_quota_exceeded_is_one_line_as_a_full_disk_is(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # A shared cluster's user meets the quota before the disk is full: that was a traceback.
    @contextlib.contextmanager
    def over_quota(path: Path):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
        yield

    monkeypatch.setattr(plot, "atomic_file", over_quota)
    with pytest.raises(NoSpaceLeft, match=r"^disk quota exceeded writing .*figure.png: free some space, then again$"):
        plot.write_all({tmp_path / "figure.png": b"png"}, "again")
    with pytest.raises(SystemExit) as exit, plot.errors_said_in_one_line():
        raise OSError(errno.EDQUOT, "Disk quota exceeded", str(tmp_path / "samples.png"))
    assert exit.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: disk quota exceeded writing {tmp_path / 'samples.png'}: free some space, then run this command again"]


def test_a_sweep_ending_on_a_full_disk_fails_with_one_line(tmpfs, caplog: pytest.LogCaptureFixture) -> None:
    sweep = full_sweep(tmpfs)
    with pytest.raises(SystemExit) as exit:
        SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert exit.value.code == 1
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert errors == [f"no space left on device writing {sweep / 'figure.png'}: free some space, then "
                      f"python -m vae_lightning.plot {sweep}"]
    assert not any(record.exc_info for record in caplog.records)


@pytest.mark.slow
def test_a_reader_that_stops_reading_ends_plot_quietly(tmp_path: Path) -> None:
    """`plot ... | head -1`: the reader gone, the summary's print fails; that ends the command with exit 1
    and no traceback, after its files are written."""
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    reader, writer = os.pipe()
    os.close(reader)  # gone before the first line
    try:
        result = subprocess.run([sys.executable, "-m", "vae_lightning.plot", str(sweep)], stdout=writer,
                                stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (1, "")
    assert (sweep / "summary.md").exists()


def test_no_space_left_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plot, "atomic_file", full)
    with pytest.raises(NoSpaceLeft, match="writing .*summary.md: free some space, then again"):
        plot.write_all({tmp_path / "summary.md": b"x"}, "again")


def drawn_log_axis(low: float, high: float):
    """A drawn log axis of curves from `low` to `high`."""
    figure = Figure()
    axis = figure.subplots()
    axis.plot([1, 2], [low, high])
    plot.log_scale(axis)
    figure.canvas.draw()
    return axis


def labelled_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """The y ticks a log axis of curves from `low` to `high` labels within its view, major and minor."""
    axis = drawn_log_axis(low, high)
    bottom, top = axis.get_ylim()
    ticks = [*zip(axis.get_yticks(), axis.get_yticklabels()), *zip(axis.get_yticks(minor=True),
                                                                 axis.get_yticklabels(minor=True))]
    return sorted((tick, label.get_text()) for tick, label in ticks if label.get_text() and bottom <= tick <= top)


def test_a_log_axis_within_a_decade_is_labelled_over_its_whole_range() -> None:
    # matplotlib's log ticks labelled 60, 70, 80, 90, 100 of this, and nothing above 100.
    labelled = labelled_ticks(60, 165)
    assert len([tick for tick, _ in labelled if tick > 100]) >= 2 and len(labelled) >= 4
    assert all(text == f"{tick:g}" for tick, text in labelled)


@pytest.mark.parametrize("low,high", [(31, 49), (30.05, 38.6), (61, 165), (0.31, 0.95)])
def test_the_bottom_of_a_log_axis_within_a_decade_is_within_half_a_step_of_a_labelled_tick(low: float,
                                                                                            high: float) -> None:
    # Figure 1's axis ran from 30.3 to 51 and was labelled 35 to 50: its curves' final values, near 31, had no
    # tick to be read against.
    axis = drawn_log_axis(low, high)
    bottom, top = axis.get_ylim()
    labelled = [tick for tick in axis.get_yticks() if bottom <= tick <= top]
    step = max(np.diff(labelled))
    assert labelled[0] - bottom <= step / 2
    assert low / 1.1 < bottom and top < high * 1.1  # the axis is not stretched to reach a tick


def test_a_log_axis_with_curves_from_29_to_140_is_not_stretched_down_to_20() -> None:
    # Moving the bottom out to the tick below (20, a step of 20) left a quarter of Figure 2's panels empty.
    axis = drawn_log_axis(30.5, 128)
    assert axis.get_ylim()[0] > 28 and 30 in axis.get_yticks()


def test_a_log_axis_over_decades_labels_plain_numbers_and_no_crowd_of_minor_ticks() -> None:
    # Every minor tick was labelled (0.2, 0.3, ... 0.9 on top of each other), in scientific notation.
    labelled = labelled_ticks(0.15, 30)
    assert all(text == f"{tick:g}" for tick, text in labelled)
    for decade in (0.1, 1, 10):
        assert len([tick for tick, _ in labelled if decade < tick < 10 * decade]) <= 4


def test_a_sweep_of_a_loss_of_ones_own_is_not_labelled_as_the_papers_eq_20(tmp_path: Path) -> None:
    # A beta-VAE's values (reconstruction + beta KL) were drawn and tabled as eq. 20's.
    sweep = write_sweep(tmp_path / "sweep", {"0.5": [3.0, 3.1], "4": [5.0, 5.2]}, key="loss.beta")
    for saved in sweep.glob("*/.hydra"):
        (saved / "config.yaml").write_text("loss:\n  _target_: mine.BetaVAELoss\n  beta: 4\n")
    plot_sweep(sweep)
    summary = (sweep / "summary.md").read_text()
    assert "Final val loss (the loss of mine.BetaVAELoss, per image)" in summary and "eq. 20" not in summary
    keys, groups = collect(sweep)
    assert draw(groups, keys, "t", plot.loss_named(sweep)).axes[0].get_ylabel().startswith(
        "loss (the loss of mine.BetaVAELoss), per image")
    for saved in sweep.glob("*/.hydra/config.yaml"):  # the paper's loss, as conf/loss/vae.yaml names it
        saved.write_text("loss:\n  _target_: vae_lightning.paper.loss.VAELoss\n")
    assert plot.loss_named(sweep) == "eq. 20"


def test_the_seeds_for_power_are_for_the_points_compared_the_best_among_them(tmp_path: Path) -> None:
    # Three points with three seeds: two are tested against the best, and the test's range is of the three.
    keys, groups = collect(write_sweep(tmp_path / "sweep", {"0.1": [31.0, 31.3, 30.9], "1.0": [31.6, 31.4, 31.9],
                                                             "5.0": [31.1, 31.4, 31.0]}))
    summary = plot.summarise(groups, keys, "t")
    assert summary["points_tested"] == 2
    assert "the same test at\nα = 0.05 over the 3 points it compared" in plot.summary_markdown(summary)


def test_an_epoch_a_seed_logged_as_nan_is_left_out_of_that_epochs_mean() -> None:
    # A seed whose first val loss was NaN and later ones finite: the band at epoch 0 is of the other seed alone.
    samples = plot.by_epoch([{0: math.nan, 1: 2.0}, {0: 1.0, 1: 3.0}, {0: math.inf, 1: 4.0}])
    assert [(epoch, sample.n, sample.mean) for epoch, sample in samples] == [(0, 1, 1.0), (1, 3, 3.0)]


def test_the_gradient_table_is_geometric_means_of_norms_and_percentages_at_the_first_and_last_epoch() -> None:
    # Two seeds; epoch -1 is the initialisation. By hand: norms at initialisation sqrt(2 * 8) = 4, at the
    # last epoch sqrt(0.5 * 2) = 1, after clipping sqrt(0.25 * 1) = 0.5; clipped % at epoch 0
    # 100 * (0.1 + 0.3) / 2 = 20, at the last 100 * (0.02 + 0.04) / 2 = 3.
    group = plot.Group("0.1")
    group.curves["train/grad_norm"] = [{-1: 2.0, 0: 1.0, 1: 0.5}, {-1: 8.0, 0: 4.0, 1: 2.0}]
    group.curves["train/grad_norm_clipped"] = [{-1: 2.0, 0: 1.0, 1: 0.25}, {-1: 8.0, 0: 1.0, 1: 1.0}]
    group.curves["train/clip_fraction"] = [{-1: 0.5, 0: 0.1, 1: 0.02}, {-1: 0.9, 0: 0.3, 1: 0.04}]
    rows = [line for line in plot.summarise_gradients({("clip.value=0.1",): group}, ["clip.value"], "t").splitlines()
            if line.startswith("| 0.1 |")]
    assert rows == ["| 0.1 | 4 | 1 | 0.5 | 20 | 3 |"]


def test_the_title_names_the_range_of_seeds_when_points_have_different_counts() -> None:
    groups = {}
    for label, count in (("0.1", 2), ("1.0", 3)):
        groups[(label,)] = plot.Group(label, finals=[(str(seed), 31.0) for seed in range(count)])
    assert seeds_title(groups, "t") == "t\nmean over 2-3 seeds, band: 95% confidence interval of the mean (Student's t)"
    groups[("5.0",)] = plot.Group("5.0", finals=[("0", 31.0)])
    assert seeds_title(groups, "t").endswith("mean over 1-3 seeds, band: 95% confidence interval of the mean "
                                             "(Student's t); none for one seed")


def test_a_job_folder_missing_from_the_sweep_is_named_not_dropped(tmp_path: Path) -> None:
    # multirun.yaml asked for seed 1 of clip.value=1.0; its folder is gone: the point is of 2 seeds, and says so.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    shutil.rmtree(sweep / "clip.value=1.0,seed=1")
    keys, groups = collect(sweep)
    point = {found["label"]: found for found in plot.summarise(groups, keys, "t")["points"]}["1.0"]
    assert (point["n"], point["mean"]) == (2, pytest.approx((31.6 + 31.9) / 2))
    assert point["excluded"] == ["seed 1: missing (no job folder: never started, or deleted)"]


def test_a_sweep_with_a_pruned_job_counts_it_apart_and_does_not_fail(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    # A search's pruner stopping a trial is the search working: no failure, and not counted as completed.
    sweep = write_sweep(tmp_path / "sweep", LOSSES, statuses={("1.0", 2): {"status": "pruned", "epoch": 1}})
    with caplog.at_level(logging.INFO):
        SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    messages = [record.getMessage() for record in caplog.records]
    assert f"sweep {sweep}: 5 of 6 jobs completed" in messages and "1 pruned, 0 failed" in messages
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_summary_md_rows_are_the_numbers_of_scipy_to_three_places(tmp_path: Path) -> None:
    # The table a user copies into a paper: mean, sd (ddof=1), the t interval and Welch's p of each point.
    keys, groups = collect(write_sweep(tmp_path / "sweep", LOSSES))
    markdown = plot.summary_markdown(plot.summarise(groups, keys, "t"))
    rows = {cells[0]: cells for cells in ([cell.strip() for cell in line.strip("|").split("|")]
                                          for line in markdown.splitlines() if line.startswith("| 0.1 |")
                                          or line.startswith("| 1.0 |"))}
    for value, losses in LOSSES.items():
        low, high = stats.t.interval(0.95, 2, loc=np.mean(losses), scale=stats.sem(losses))
        assert rows[value][1:4] == [f"{np.mean(losses):.3f}", f"{np.std(losses, ddof=1):.3f}",
                                    f"[{low:.3f}, {high:.3f}]"]
    p = stats.ttest_ind(LOSSES["1.0"], LOSSES["0.1"], equal_var=False).pvalue
    assert rows["1.0"][4:8] == [f"{p:.3g}", "worse", "3", "3"] and rows["0.1"][4:6] == ["", "best"]


def test_the_best_epoch_is_of_the_val_loss_not_the_train_loss(tmp_path: Path) -> None:
    # Val loss lowest at the second of three epochs while the train loss still falls: best epoch 2, not 3.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    for metrics in sweep.glob("*/csv/metrics.csv"):
        final = float(metrics.read_text().splitlines()[-1].split(",")[-1])
        metrics.write_text("epoch,step,train/loss,val/loss\n" + "".join(
            f"{epoch},{10 * epoch + 9},{train},{val}\n"
            for epoch, (train, val) in enumerate([(final + 2, final + 1), (final + 1, final - 0.5),
                                                  (final - 1, final)])))
    keys, groups = collect(sweep)
    assert [point["best_epoch"] for point in plot.summarise(groups, keys, "t")["points"]] == [2, 2]


def test_the_two_figures_render_side_by_side_in_two_processes(tmp_path: Path) -> None:
    def pid(name: str):
        return lambda: {tmp_path / name: str(os.getpid()).encode()}

    files = plot.side_by_side(pid("first"), pid("second"))
    assert files[tmp_path / "first"] == str(os.getpid()).encode() != files[tmp_path / "second"]


def test_a_figure_that_fails_in_the_other_process_raises_its_error_here(tmp_path: Path) -> None:
    def fails() -> dict:
        raise ValueError("no such colour")

    with pytest.raises(ValueError, match="no such colour"):
        plot.side_by_side(lambda: {}, fails)


def test_a_figures_process_that_dies_is_one_error_naming_its_exit_code() -> None:
    with pytest.raises(RuntimeError, match="exit code 3"):
        plot.side_by_side(lambda: {}, lambda: os._exit(3))


def test_an_interrupt_while_the_figures_render_ends_the_other_figures_process(tmp_path: Path) -> None:
    # `kill -INT <sweep>` as the sweep drew its figures hung it for ever, holding its folder's lock: it joined
    # the process drawing the other figure, which waited in `send` for it to read that figure's bytes.
    def interrupted() -> dict:
        raise KeyboardInterrupt

    def drawn() -> dict:
        (tmp_path / "pid").write_text(str(os.getpid()))
        return {tmp_path / "figure.pdf": bytes(1 << 20)}  # more than a pipe holds

    def plots() -> None:
        with pytest.raises(KeyboardInterrupt):
            plot.side_by_side(interrupted, drawn)

    process = multiprocessing.get_context("fork").Process(target=plots)
    process.start()
    process.join(30)
    hung = process.is_alive()
    process.kill()
    process.join()
    drawing = (tmp_path / "pid").read_text() if (tmp_path / "pid").exists() else ""
    if drawing.isdigit():  # a hung one holds the pipe to pytest's output open
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(drawing), signal.SIGKILL)
    assert not hung and process.exitcode == 0


def test_ctrl_c_as_a_sweep_plots_is_one_line_naming_the_command_that_plots_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    sweep = write_sweep(tmp_path / "sweep", LOSSES)

    def interrupted(sweep_dir: Path) -> list[Path]:
        raise KeyboardInterrupt

    monkeypatch.setattr("vae_lightning.analysis.report.plot_sweep", interrupted)
    with pytest.raises(SystemExit) as exit:
        SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert exit.value.code == 130
    assert [record.getMessage() for record in caplog.records if record.levelname == "ERROR"] == [
        f"interrupted while plotting {sweep}; python -m vae_lightning.plot {sweep} writes its figures and tables"]


def test_on_one_core_both_figures_render_in_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    files = plot.side_by_side(lambda: {tmp_path / "a": b"1"}, lambda: {tmp_path / "b": str(os.getpid()).encode()})
    assert files == {tmp_path / "a": b"1", tmp_path / "b": str(os.getpid()).encode()}


def test_every_title_and_axis_label_of_both_figures_lies_within_the_figure(tmp_path: Path) -> None:
    # The gradient figure's y label, longer than its axes are high, was cut off at both ends.
    sweep = write_sweep(tmp_path / "sweep", LOSSES)
    for metrics in sweep.glob("*/csv/metrics.csv"):
        header, *rows = metrics.read_text().splitlines()
        metrics.write_text("\n".join([f"{header},{','.join(STATISTICS)}", *(f"{row},2.0,1.0,0.1" for row in rows)]))
    keys, groups = collect(sweep)
    for figure in (draw(groups, keys, "title"), plot.draw_gradients(groups, keys, "title")):
        FigureCanvasAgg(figure).draw()
        texts = [*figure.texts, *(text for axis in figure.axes for text in
                                  (axis.title, axis.xaxis.label, axis.yaxis.label))]  # suptitle, supxlabel: texts
        assert len(figure.texts) >= 2
        for text in texts:
            if text.get_text():
                extent = text.get_window_extent()
                assert figure.bbox.x0 <= extent.x0 and extent.x1 <= figure.bbox.x1, text.get_text()
                assert figure.bbox.y0 <= extent.y0 and extent.y1 <= figure.bbox.y1, text.get_text()


# The screen's figure, and a paper's a column (3.4 in) and a page (7 in) wide, with points labelled by short values
# and by long ones.
@pytest.mark.parametrize("values", [["1", "2"], ["first_of_two_values", "second_of_two_values"]], ids=["short", "long"])
@pytest.mark.parametrize("width", [None, 3.4, 7.0])
def test_a_sweep_of_many_keys_keeps_its_title_on_the_figure_and_its_legend_off_the_panels(
        tmp_path: Path, width: float | None, values: list[str]) -> None:
    # On one line, the keys ran past both edges of the title, and the legend's title set the legend over the panels.
    keys = ["trainer.limit_train_batches", "trainer.limit_val_batches", "trainer.accumulate_grad_batches",
            "model.hidden_dims", "optim.momentum", "optim.weight_decay", "data.noise_std"]
    sweep = tmp_path / "sweep"
    for job, value in enumerate(values):
        write_job(sweep / str(job), [f"{key}={value}" for key in keys], 31.0 + job, gradients=True)
    swept, groups = collect(sweep)
    assert swept == keys
    for figure in (draw(groups, swept, "title", width=width), plot.draw_gradients(groups, swept, "title", width)):
        FigureCanvasAgg(figure).draw()
        title = figure._suptitle.get_window_extent()
        assert figure.bbox.x0 <= title.x0 and title.x1 <= figure.bbox.x1
        (legend,) = figure.legends
        for block in (legend, *(axis.xaxis.label for axis in figure.axes)):
            extent = block.get_window_extent()
            assert figure.bbox.x0 <= extent.x0 and extent.x1 <= figure.bbox.x1
            assert figure.bbox.y0 <= extent.y0 and extent.y1 <= figure.bbox.y1
        assert not any(legend.get_window_extent().overlaps(axis.xaxis.label.get_window_extent())
                       for axis in figure.axes if axis.xaxis.label.get_text())
        assert not any(legend.get_window_extent().overlaps(axis.get_window_extent()) for axis in figure.axes)
        # The legend's long labels took the panels' width, and the gradients' panel titles ran into each other.
        titles = [axis.title.get_window_extent() for axis in figure.axes]
        assert not any(first.overlaps(second) for index, first in enumerate(titles) for second in titles[index + 1:])


@pytest.mark.parametrize("width", [3.4, 7.0])
def test_a_paper_figures_panels_keep_their_height_beside_the_note_of_where_seeds_stopped(
        tmp_path: Path, width: float) -> None:
    # The legend's "(to epoch 6, where the first of its 2 seeds stopped)" was not counted in the figure's height:
    # its lines took it from the panels, at 3.4 in half of it.
    def panel_heights(stopped_at: int) -> list[list[float]]:
        sweep = tmp_path / str(stopped_at)
        for job, value in enumerate(["0.001", "0.01", "0.1", "1.0", "10.0", "100.0"]):
            for seed, epochs in [(0, 10), (1, stopped_at)]:
                write_job(sweep / f"{job}_{seed}", [f"clip.value={value}", f"seed={seed}"], 31.0 + seed, epochs=epochs,
                          gradients=True)
        swept, groups = collect(sweep)
        figures = [draw(groups, swept, "title", width=width), plot.draw_gradients(groups, swept, "title", width)]
        for figure in figures:
            FigureCanvasAgg(figure).draw()
        return [[axis.get_window_extent().height for axis in figure.axes] for figure in figures]

    for stopped, together in zip(panel_heights(6), panel_heights(10)):
        assert all(height >= 0.95 * full for height, full in zip(stopped, together)), (stopped, together)


def test_a_job_folder_without_its_overrides_is_named_missing_and_the_rest_still_plotted(tmp_path: Path) -> None:
    # Hydra writes the job's .hydra/ a file at a time: a job killed as it started may have no overrides.yaml.
    sweep = write_sweep(tmp_path / "sweep", {"0.1": [1.0, 2.0], "1.0": [3.0, 4.0]})
    (sweep / "clip.value=1.0,seed=1" / ".hydra" / "overrides.yaml").unlink()
    plot_sweep(sweep)
    points = summary_points(sweep)
    assert (points["0.1"]["n"], points["1.0"]["n"]) == (2, 1)
    # It was said to list "" (`.hydra/overrides.yaml lists , which the sweep did not run: restore that file`).
    assert points["1.0"]["excluded"][0] == (
        "seed 1: missing (clip.value=1.0,seed=1 stopped as it started, before Hydra wrote its .hydra/overrides.yaml, "
        "as a full disk does: resume=true runs it)")


def test_a_small_loss_is_shown_to_the_digits_its_spread_needs(tmp_path: Path) -> None:
    # A loss of one's own of 0.012: at 3 decimals every sd read 0.000, and each interval [0.012, 0.013],
    # while 1.0 is significantly worse than 0.1.
    losses = {"0.1": [0.01231, 0.01244, 0.01238], "1.0": [0.01262, 0.01270, 0.01258]}
    sweep = write_sweep(tmp_path / "sweep", losses)
    plot_sweep(sweep)
    rows = {line.split(" | ")[0]: line.split(" | ") for line in (sweep / "summary.md").read_text().splitlines()
            if line.startswith("| 0.1 ") or line.startswith("| 1.0 ")}
    assert summary_points(sweep)["1.0"]["verdict"] == "worse"
    for value, found in losses.items():
        interval = stats.t.interval(0.95, 2, loc=np.mean(found), scale=stats.sem(found))
        assert rows[f"| {value}"][1:4] == [f"{np.mean(found):.6f}", f"{np.std(found, ddof=1):.6f}",
                                          "[{:.6f}, {:.6f}]".format(*interval)]
    assert rows["| 0.1"][2] == "0.000065"
    # Seeds of one loss: the sd of three equal 0.1s is the arithmetic's 1.7e-17, which asked for 18 decimals.
    equal = write_sweep(tmp_path / "equal", {"0.1": [0.1, 0.1, 0.1], "1.0": [0.2, 0.3, 0.25]})
    plot_sweep(equal)
    assert "| 0.1 | 0.100 | 0.000 | [0.100, 0.100] |" in (equal / "summary.md").read_text()
