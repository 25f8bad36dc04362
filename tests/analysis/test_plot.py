"""The sweep figure, table and statistics from a tiny real sweep, including one with a job missing."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.fake_sweeps import check_against_scipy, write_job, write_sweep
from helpers import PROJECT, injected, run_train, tiny_overrides
from vae_lightning.analysis.plot import collect, draw, draw_gradients, epoch_curves, plot_sweep

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_sweep(mnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 values x 3 seeds x 2 epochs, run as users run it; the sweep plots itself when it ends."""
    sweep_dir = tmp_path_factory.mktemp("sweeps") / "clip"
    done = subprocess.run(
        [sys.executable, str(PROJECT / "train.py"), "-m", "clip.value=0.1,1.0", "seed=0,1,2",
         *tiny_overrides(mnist_root), "trainer.max_epochs=2", f"hydra.sweep.dir={sweep_dir}"],
        cwd=sweep_dir.parent, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return sweep_dir


def table_rows(summary: Path) -> list[list[str]]:
    lines = summary.read_text().splitlines()
    header = lines.index(next(line for line in lines if line.startswith("|---")))
    assert lines[header - 1].startswith("| clip.value |")
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[header + 1 :] if line]


def test_a_finished_sweep_has_a_figure_and_a_row_per_value(tiny_sweep: Path) -> None:
    figure, summary = tiny_sweep / "figure.png", tiny_sweep / "summary.md"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    rows = table_rows(summary)
    assert sorted(row[0] for row in rows) == ["0.1", "1.0"]
    for value, final, sd, interval, p, verdict, best, seeds, problems in rows:
        assert float(sd) >= 0 and interval.startswith("[") and best in ("1", "2") and seeds == "3" and problems == ""
    finals = [float(row[1]) for row in rows]
    assert finals == sorted(finals)
    assert rows[0][5] == "best" and rows[1][5] in ("worse", "indistinguishable")


def test_the_summarys_statistics_are_scipys_on_the_jobs_final_val_losses(tiny_sweep: Path) -> None:
    check_against_scipy(tiny_sweep)


def test_the_sweeps_gradient_statistics_are_drawn_and_tabled(tiny_sweep: Path) -> None:
    assert (tiny_sweep / "gradients.png").stat().st_size > 10_000
    lines = (tiny_sweep / "gradients.md").read_text().splitlines()
    rows = {cells[0]: [float(cell) for cell in cells[1:]]
            for cells in ([cell.strip() for cell in line.strip("|").split("|")]
                          for line in lines if line.startswith("| 0.") or line.startswith("| 1."))}
    assert sorted(rows) == ["0.1", "1.0"]
    for at_start, last_epoch, clipped_norm, first_clipped, last_clipped in rows.values():
        assert at_start > 0 and last_epoch >= clipped_norm > 0 and 0 <= first_clipped <= 100
    # A lower threshold clips more entries.
    assert rows["0.1"][3] >= rows["1.0"][3]


def test_a_missing_job_is_named_and_the_rest_still_plotted(tiny_sweep: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(tiny_sweep, tmp_path / "broken")
    (broken / "figure.png").unlink()
    (job,) = [path for path in broken.glob("*/") if "clip.value=1.0" in path.name and "seed=1" in path.name]
    shutil.rmtree(job)
    plot_sweep(broken)
    assert (broken / "figure.png").exists()
    rows = {row[0]: row for row in table_rows(broken / "summary.md")}
    assert rows["1.0"][7] == "2" and rows["1.0"][8] == "seed 1: missing (no job folder: never started, or deleted)"
    assert rows["0.1"][7] == "3"


def test_a_job_whose_overrides_were_edited_by_hand_is_not_said_never_started(tiny_sweep: Path, tmp_path: Path) -> None:
    # Its folder there, its overrides.yaml saying clip.value=0.5, the job was "never started, or deleted".
    edited = shutil.copytree(tiny_sweep, tmp_path / "edited")
    (job,) = [path for path in edited.glob("*/") if "clip.value=1.0" in path.name and "seed=1" in path.name]
    overrides = job / ".hydra" / "overrides.yaml"
    overrides.write_text(overrides.read_text().replace("clip.value=1.0", "clip.value=0.5"))
    plot_sweep(edited)
    rows = {row[0]: row for row in table_rows(edited / "summary.md")}
    assert rows["1.0"][8] == (f"seed 1: missing (no job folder holds its overrides; {job.name}/.hydra/overrides.yaml "
                              f"lists clip.value=0.5 seed=1, which the sweep did not run: restore that file)")


def test_gradient_tables_of_jobs_no_longer_there_are_removed(tiny_sweep: Path, tmp_path: Path) -> None:
    emptied = shutil.copytree(tiny_sweep, tmp_path / "emptied")
    assert (emptied / "gradients.md").exists() and (emptied / "gradients.pdf").exists()
    for job in [path for path in emptied.glob("*/") if (path / ".hydra").is_dir()]:
        shutil.rmtree(job)
    written = plot_sweep(emptied)
    assert not list(emptied.glob("gradients.*")) and not any(path.name.startswith("gradients") for path in written)
    assert "missing (no job folder" in (emptied / "summary.md").read_text()


def test_a_sweep_whose_overrides_hold_an_interpolation_plots_itself(mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    probe = injected("probe", "Probe", run_dir="${hydra:runtime.output_dir}")
    done = run_train(["-m", "clip.value=0.1,1.0", *tiny_overrides(mnist_root), *probe, "hydra/launcher=parallel",
                      f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "could not plot" not in done.stdout + done.stderr
    assert sorted(row[0] for row in table_rows(sweep_dir / "summary.md")) == ["0.1", "1.0"]


def test_tensorboard_holds_both_image_grids(tiny_sweep: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    job = next(path for path in tiny_sweep.glob("*/") if (path / "results.json").exists())
    events = EventAccumulator(str(job), size_guidance={"images": 0})
    events.Reload()
    assert {"samples", "reconstructions"} <= set(events.Tags()["images"])
    assert len(events.Images("samples")) == 2  # one per epoch


def test_reproduce_gathers_figures_tables_and_figure_4(tiny_sweep: Path, mnist_root: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from vae_lightning.analysis import reproduce

    out = tmp_path / "reproduction"
    shutil.copytree(tiny_sweep, out / "sweeps" / "clip_value")
    (out / "timings.json").write_text('{"clip_value": [61.0, 0], "clip_norm": [0.0, 1], "momentum": [0.0, 1]}')
    monkeypatch.setattr(sys, "argv", ["reproduce", "--replot", "--out", str(out), f"data.root={mnist_root}"])
    reproduce.main()
    results = (out / "results.md").read_text()
    assert "## Figure 1: gradient clipping by value" in results and "1.0 min on this machine" in results
    assert "| clip.value | final val loss |" in results and "(no summary: the sweep did not run)" in results
    assert "Best run by val loss: `clip_value/" in results
    assert "[figure1_clip_value.pdf](figure1_clip_value.pdf)" in results and "figure2_clip_norm.pdf" not in results
    assert "[figure4_samples_grid.png](figure4_samples_grid.png)" in results
    for name in ("figure1_clip_value.png", "figure1_clip_value.pdf", "figure4_samples.png",
                 "figure4_reconstructions.png", "figure4_samples_grid.png", "figure4_reconstructions_grid.png"):
        assert (out / name).stat().st_size > 1000


def test_reproduce_runs_the_three_sweeps_as_users_run_it(mnist_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "reproduction"
    (tmp_path / "mydata").symlink_to(mnist_root)  # a data.root relative to the user's folder
    done = subprocess.run(
        [sys.executable, "-m", "vae_lightning.reproduce", "--out", str(out), *tiny_overrides(mnist_root), "seed=0",
         "hydra/launcher=parallel", "data.root=mydata"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = (out / "results.md").read_text()
    assert results.count("all jobs completed") == 3 and "Best run by val loss" in results
    for name in ("figure1_clip_value.png", "figure2_clip_norm.png", "figure3_momentum.png", "figure4_samples.png",
                 "figure1_clip_value.pdf", "figure2_clip_norm.pdf", "figure3_momentum.pdf"):
        assert (out / name).stat().st_size > 1000


def test_reproduce_refuses_a_mistake_once_before_anything_runs(mnist_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "reproduction"
    done = subprocess.run([sys.executable, "-m", "vae_lightning.reproduce", "--out", str(out),
                           *tiny_overrides(mnist_root), "clip.vlaue=1"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: clip.vlaue: no such key; allowed: algorithm, value"]
    assert not out.exists()


def test_a_run_resumed_ten_times_takes_each_epoch_from_its_latest_metrics_file(tmp_path: Path) -> None:
    # By name, metrics.10.csv came before metrics.2.csv: the earlier file's values won.
    job = tmp_path / "job"
    (job / "csv").mkdir(parents=True)
    for index in (2, 10):
        (job / "csv" / f"metrics.{index}.csv").write_text(f"epoch,step,train/loss,val/loss\n0,9,5.0,{index}.0\n")
    (job / "csv" / "metrics.csv").write_text("epoch,step,train/loss,val/loss\n1,19,4.0,3.0\n")
    assert epoch_curves(job)["val"] == {0: 10.0, 1: 3.0}


def test_a_searchs_points_are_told_apart_by_what_names_its_jobs_not_by_an_override_every_trial_gets(
        tmp_path: Path) -> None:
    # A search moved between its trials gave the trials before and after the move the trial callback
    # with two storage paths: the plot labelled its points with both.
    for number, (lr, storage) in enumerate([("0.01", "/old/optuna.log"), ("0.02", "/new/optuna.log")]):
        job = write_job(tmp_path / f"{number}_optim.lr={lr}", [f"optim.lr={lr}", "search=sgd",
                        f"+callbacks.optuna_trial={{storage:'{storage}'}}"], final=50.0 + number)
        hydra = {"hydra": {"job": {"config": {"override_dirname": {"exclude_keys": ["search",
                                                                                     "callbacks.optuna_trial"]}}}}}
        (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    plot_sweep(tmp_path)
    assert {point["label"] for point in json.loads((tmp_path / "summary.json").read_text())["points"]} == {
        "0.01", "0.02"}


def test_a_key_one_command_left_out_of_its_job_names_still_tells_apart_the_jobs_another_varied(
        tmp_path: Path) -> None:
    # Without multirun.yaml: `seed=0,1 clip.value=0.5` named its jobs by the seed alone, a later command
    # `seed=0,1 clip.value=0.5,1.0` by both. Left out for all, the two values were one point.
    for value, excluded in [("0.5", ["clip.value"]), ("1.0", [])]:
        for seed in (0, 1):
            job = write_job(tmp_path / f"clip.value={value},seed={seed}", [f"clip.value={value}", f"seed={seed}"],
                            final=50.0 + seed + float(value))
            hydra = {"hydra": {"job": {"config": {"override_dirname": {"exclude_keys": excluded}}}}}
            (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    plot_sweep(tmp_path)
    points = json.loads((tmp_path / "summary.json").read_text())["points"]
    assert sorted((point["label"], point["n"]) for point in points) == [("0.5", 2), ("1.0", 2)]


# Figure 3's seven momenta, the most points of the paper's figures.
MOMENTA = {value: [31.0 + index, 31.2 + index] for index, value in
           enumerate(["0", "0.5", "0.8", "0.85", "0.9", "0.95", "0.99"])}


def test_each_point_keeps_its_own_dashes_and_marker_in_grey(tmp_path: Path) -> None:
    # Printed in grey, the first 10 points were all solid lines with round markers: Figure 3's seven
    # momenta could be told apart by their colour only.
    keys, groups = collect(write_sweep(tmp_path / "sweep", MOMENTA, key="optim.momentum"))
    figure = draw(groups, keys, "Figure 3")
    for axis in figure.axes:
        looks = [(line.get_linestyle(), line.get_marker()) for line in axis.get_lines()]
        assert len(looks) == 7 and len(set(looks)) == 7
    legend_looks = {(line.get_linestyle(), line.get_marker()) for line in figure.legends[0].get_lines()}
    assert len(legend_looks) == 7


def test_the_points_colours_are_a_palette_for_colour_vision_deficiencies(tmp_path: Path) -> None:
    # matplotlib's default tab10 sets red beside green, which deuteranopes see alike.
    import matplotlib.colors
    import matplotlib.style

    accessible = matplotlib.style.library["petroff10"]["axes.prop_cycle"].by_key()["color"]
    keys, groups = collect(write_sweep(tmp_path / "sweep", MOMENTA, key="optim.momentum"))
    lines = draw(groups, keys, "Figure 3").axes[0].get_lines()
    colours = [matplotlib.colors.to_hex(line.get_color()) for line in lines]
    assert colours == [matplotlib.colors.to_hex(colour) for colour in accessible[:7]]


def check_printed_at(sweep: Path, name: str, figure, width: float) -> None:
    """`name`.pdf and .png in `sweep` are `width` inches wide, the PNG at 300 dpi, and `figure` (drawn as they were)
    has its text at 7 pt or more, all of it on the page, its title, labels and legend each in a place of its own."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text
    from PIL import Image

    box = re.search(rb"/MediaBox \[ ?0 0 ([\d.]+) ([\d.]+) ?\]", (sweep / f"{name}.pdf").read_bytes())
    assert float(box[1]) == pytest.approx(72 * width)
    png = Image.open(sweep / f"{name}.png")
    assert png.size == (round(300 * width), round(300 * float(box[2]) / 72))  # print resolution, the PDF's shape
    assert png.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    FigureCanvasAgg(figure).draw()
    renderer = figure.canvas.get_renderer()
    texts = [text for text in figure.findobj(Text) if text.get_visible() and text.get_text().strip()]
    assert texts and min(text.get_fontsize() for text in texts) >= 7
    # Everything drawn (the tight box holds the tick labels drawn, not those beyond the axes' limits) is on the page.
    drawn, page = figure.get_tightbbox(renderer), figure.bbox_inches
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= page.x1 + 0.01 and drawn.y1 <= page.y1 + 0.01
    (legend,) = figure.legends
    blocks = [figure._suptitle, figure._supylabel, legend,
              *(label for axis in figure.axes for label in (axis.xaxis.label, axis.yaxis.label, axis.title))]
    extents = [block.get_window_extent(renderer) for block in blocks if block is not None and block.get_visible() and (
        not isinstance(block, Text) or block.get_text())]
    for index, first in enumerate(extents):
        assert not any(first.overlaps(second) for second in extents[index + 1:])


@pytest.mark.parametrize("width", [3.4, 7.0])
def test_a_figure_for_a_paper_is_as_wide_as_its_column_with_readable_text_inside_it(tmp_path: Path,
                                                                                    width: float) -> None:
    # The one figure there was, 11 in wide with text of 8.3-12 pt, had 5.3 pt legends printed 7 in wide, 2.6 pt
    # at a column's 3.4 in; journals ask for 7 pt or more.
    sweep = write_sweep(tmp_path / "sweep", MOMENTA, key="optim.momentum")
    plot_sweep(sweep, "Figure 3: SGD momentum", width=width)
    keys, groups = collect(sweep)
    check_printed_at(sweep, "figure", draw(groups, keys, "Figure 3: SGD momentum", width=width), width)


# A column (panels stacked), a page (two panels a row, the third centred under them), wider (three in a row).
@pytest.mark.parametrize("width", [3.4, 7.0, 7.5])
def test_the_gradients_figure_for_a_paper_is_as_wide_as_the_loss_curves_with_readable_text(tmp_path: Path,
                                                                                          width: float) -> None:
    # --width drew figure.png for the paper while gradients.png stayed 15 in wide at 110 dpi: its 10 pt text was
    # 2.3 pt printed in a column.
    sweep = write_sweep(tmp_path / "sweep", MOMENTA, key="optim.momentum", gradients=True)
    written = plot_sweep(sweep, "Figure 3: SGD momentum", width=width)
    assert {sweep / "gradients.png", sweep / "gradients.pdf", sweep / "gradients.md"} <= set(written)
    keys, groups = collect(sweep)
    figure = draw_gradients(groups, keys, "Figure 3: SGD momentum", width=width)
    check_printed_at(sweep, "gradients", figure, width)
    assert len(figure.axes) == 3 and all(len(axis.get_lines()) == len(MOMENTA) for axis in figure.axes)
    # Where epoch 0 is the initialisation: the screen figure says it in its y label.
    assert "0 = initialisation" in figure.axes[-1].get_xlabel()
    # Without --width, the screen's figure again.
    plot_sweep(sweep, "Figure 3: SGD momentum")
    assert png_size(sweep / "gradients.png") == (15 * 110, round(4.2 * 110))


def png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    return Image.open(path).size


@pytest.mark.parametrize("width,refusal", [
    ("2", "2 in is narrower than 3 in"), ("nan", "'nan' is not a number of inches"),
    ("wide", "'wide' is not a number of inches"),
    # A PNG 300,000 pixels wide, written over the sweep's figures.
    ("1000", "1000 in is wider than a page (7 in) or a poster's column (20 in"),
    ("inf", "inf in is wider than a page")])
def test_a_paper_width_narrower_than_a_column_wider_than_a_poster_or_no_number_is_refused_in_one_line(
        width: str, refusal: str, tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", MOMENTA, key="optim.momentum")
    done = subprocess.run([sys.executable, "-m", "vae_lightning.plot", str(sweep), "--width", width],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert refusal in done.stderr and not (sweep / "figure.pdf").exists()


def test_a_figure_for_a_paper_plots_again_to_the_same_bytes_with_truetype_fonts(tmp_path: Path) -> None:
    # A paper's repository keeps its figures: a second plot of the same sweep must leave its diff clean.
    sweep = write_sweep(tmp_path / "sweep", MOMENTA, key="optim.momentum")
    plot_sweep(sweep, width=3.4)
    first = {name: (sweep / name).read_bytes() for name in ("figure.png", "figure.pdf")}
    plot_sweep(sweep, width=3.4)
    assert {name: (sweep / name).read_bytes() for name in first} == first
    pdf = first["figure.pdf"]
    assert b"/CreationDate" not in pdf and b"/Subtype /Image" not in pdf
    assert b"/Subtype /CIDFontType2" in pdf and b"/Subtype /Type3" not in pdf
