"""Figure 4 from a trained run: both grids, the test losses, and the pictures of the latent space."""

import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import own_classes
from helpers import TEST_IMAGES, checkpoint_of, checkpoint_with, projector_files, refusal, tiny_overrides
from vae_lightning.analysis import evaluate as evaluate_module
from vae_lightning.analysis import latent as latent_module
from vae_lightning.analysis.evaluate import evaluate, load, main
from vae_lightning.paper.images import denoising_grid, reconstruction_grid, sample_grid
from vae_lightning.errors import UserInputError
from vae_lightning.analysis.latent import manifold_grid
from vae_lightning.harness.run import run_job
from vae_lightning.harness.runs import lock_run_dir
from vae_lightning.paper.model import VAE


def own_data_run(run_dir: Path, monkeypatch: pytest.MonkeyPatch, *classes: str) -> Path:
    """A run folder whose config names the first of tests/own_classes.py's `classes` as its data, each allowed."""
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", ",".join(f"own_classes.{name}" for name in classes))
    checkpoint_with(run_dir / "checkpoints")
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text(f"data:\n  _target_: own_classes.{classes[0]}\n")
    return run_dir


def test_evaluate_writes_both_grids_and_the_test_losses(compose_config, mnist_root, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root)), run_dir) == 0
    results = evaluate(run_dir, data_root=str(mnist_root))
    trained = json.loads((run_dir / "results.json").read_text())["test"]
    assert results["test"]["loss"] == trained["loss"]
    assert json.loads((run_dir / "evaluation.json").read_text())["test"] == results["test"]
    assert json.loads((run_dir / "evaluation.json").read_text())["test_images"] == TEST_IMAGES
    side = 8 * 28 + 9 * 2  # 8 images of 28 pixels and 9 two-pixel borders
    module, datamodule, _, _ = load(run_dir, str(mnist_root))
    datamodule.setup("test")
    assert sample_grid(module.model, 64).shape == (3, side, side)
    inputs = datamodule.test_images[:32]
    grid = reconstruction_grid(module.model, inputs)  # 4 pairs of rows of 8: inputs above reconstructions
    assert grid.shape == (3, side, side)
    torch.testing.assert_close(grid[0, 2:30, 2:30], inputs[0].reshape(28, 28))
    torch.testing.assert_close(grid[0, 32:60, 2:30],
                               module.model.decode(module.model.encode(inputs[:1])[0])[0].reshape(28, 28))
    for name in ("samples.png", "reconstructions.png"):  # the grids in a titled figure, drawn larger
        figure = Image.open(run_dir / name)
        assert figure.format == "PNG" and min(figure.size) > side


def test_evaluate_on_a_denoising_autoencoder(compose_config, mnist_root, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root) + ["model=ae", "data.noise_std=0.5"]), run_dir) == 0
    results = evaluate(run_dir, data_root=str(mnist_root))
    # No prior: no samples.
    assert results["written"] == ["reconstructions.png", "reconstructions_grid.png", "denoising.png", "projector/"]
    assert results["test"]["kl"] == 0
    side, height = 8 * 28 + 9 * 2, 9 * 28 + 10 * 2  # 3 rows (noisy, clean, output) x 3 groups of 8
    module, datamodule, _, _ = load(run_dir, str(mnist_root))
    datamodule.setup("test")
    clean = datamodule.test_images[:24]
    grid = denoising_grid(module.model, clean, 0.5)
    assert grid.shape == (3, height, side)
    torch.testing.assert_close(grid[0, 32:60, 2:30], clean[0].reshape(28, 28))  # the second row: clean targets
    figure = Image.open(run_dir / "denoising.png")
    assert figure.format == "PNG" and figure.size[1] > height


def test_a_2d_vae_gets_the_manifold_the_latent_means_and_the_projector(trained_runs: dict[str, Path],
                                                                        mnist_root: Path) -> None:
    run_dir = trained_runs["vae2"]
    results = evaluate(run_dir, data_root=str(mnist_root))
    assert {"manifold.png", "latent.png", "projector/"} <= set(results["written"])
    module, datamodule, _, _ = load(run_dir, str(mnist_root))
    assert manifold_grid(module.model).shape == (3, 20 * 28, 20 * 28)  # 20 x 20 quantiles, no borders
    assert Image.open(run_dir / "manifold.png").format == Image.open(run_dir / "latent.png").format == "PNG"
    datamodule.setup("test")
    labels, vectors, sprite = projector_files(run_dir / "projector")
    assert labels == [str(label) for label in datamodule.test_labels.tolist()]
    means, _ = module.model.encode(datamodule.test_images)
    # The means, and a third coordinate of zeros, without which the projector's 3-D PCA draws nothing.
    torch.testing.assert_close(torch.tensor(vectors)[:, :2], means.detach(), rtol=1e-4, atol=1e-5)
    assert {vector[2] for vector in vectors} == {0.0}
    assert sprite.size == (8 * 28, 8 * 28)  # 64 test images, 8 a row


def test_larger_latent_spaces_get_the_projector_only(trained_runs: dict[str, Path], mnist_root: Path) -> None:
    results = evaluate(trained_runs["vae"], data_root=str(mnist_root), out=trained_runs["vae"] / "again")
    assert "projector/" in results["written"] and "manifold.png" not in results["written"]
    evaluate(trained_runs["vae"], data_root=str(mnist_root), out=trained_runs["vae"] / "again")  # replaces, no warning
    assert len(list((trained_runs["vae"] / "again" / "projector").glob("events.out.tfevents.*"))) == 1
    labels, vectors, _ = projector_files(trained_runs["vae"] / "again" / "projector")
    assert len(labels) == len(vectors) == TEST_IMAGES and len(vectors[0]) == 4
    assert not (trained_runs["vae"] / "again" / "latent.png").exists()


@pytest.mark.parametrize("content", [b"garbage, not a checkpoint", b""])
def test_a_file_that_is_not_a_checkpoint_is_named_without_unsafe_advice(content: bytes, tmp_path: Path, monkeypatch,
                                                                       capsys) -> None:
    path = tmp_path / "model.ckpt"
    path.write_bytes(content)
    monkeypatch.setattr(sys, "argv", ["evaluate", str(path)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path} is not a checkpoint ("), lines
    assert "weights_only" not in lines[0]
    assert sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("content,says", [
    ({"state_dict": {}}, "{path} is not a checkpoint of this project: pass a run folder or a .ckpt that train.py "
                         "wrote"),  # a plain Lightning checkpoint, of another project
    ({"state_dict": {}, "hyper_parameters": ["model"]}, "{path} is not a checkpoint of this project: "),
    # VAEModule's arguments left out: a TypeError's traceback.
    ({"state_dict": {}, "hyper_parameters": {}}, "{path}: hyper_parameters lack model, which VAEModule needs: the "
                                                 "checkpoint is not one train.py wrote"),
])
def test_a_checkpoint_not_as_this_project_writes_it_is_one_line_and_nothing_written(
        content: dict, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    path = run / "checkpoints" / "best.ckpt"
    path.parent.mkdir(parents=True)
    torch.save(content, path)
    monkeypatch.setattr(sys, "argv", ["evaluate", str(path), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    (line,) = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and line.startswith("error: " + says.format(path=path, run=run))
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_whose_data_arguments_are_no_mapping_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    path = checkpoint_of(run / "checkpoints")
    torch.save({**torch.load(path, weights_only=True), "datamodule_hyper_parameters": ["root"]}, path)
    monkeypatch.setattr(sys, "argv", ["evaluate", str(run), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2 and capsys.readouterr().err.splitlines() == [
        f"error: {run}: the checkpoint's datamodule_hyper_parameters are not a mapping"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("layout", "refusal"), [
    ([], "{path}: no such file or folder; pass a run folder or a .ckpt file"),
    (["multirun.yaml", "seed=0/checkpoints/best.ckpt"], "{path} is a sweep's folder; pass one of its jobs' folders, "
                                                         "e.g. {path}/seed=0"),
    (["status.json"], "{path} holds no checkpoints/best.ckpt or last.ckpt"),
])
def test_a_path_that_holds_no_run_says_what_to_pass(layout: list[str], refusal: str, tmp_path: Path) -> None:
    path = tmp_path / "given"
    for name in layout:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text("")
    with pytest.raises(UserInputError) as refused:
        evaluate(path)
    assert str(refused.value).startswith(refusal.format(path=path))


@pytest.mark.parametrize("given", ["run", "run/checkpoints", "run/checkpoints/"])
def test_a_runs_checkpoints_folder_is_its_best_checkpoint_as_the_run_folder_is(
        given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `evaluate RUN/checkpoints` (a tab completion short) said it "holds no checkpoints/best.ckpt or last.ckpt".
    checkpoint = checkpoint_with(tmp_path / "run" / "checkpoints")
    (checkpoint.parent / "last.ckpt").write_bytes(checkpoint.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert evaluate_module.find_checkpoint(Path(given)) == (checkpoint.relative_to(tmp_path), Path("run"))


def test_dot_from_inside_a_runs_checkpoints_folder_is_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `cd RUN/checkpoints; evaluate .` said "." "holds no checkpoints/best.ckpt or last.ckpt".
    checkpoint = checkpoint_with(tmp_path / "run" / "checkpoints")
    monkeypatch.chdir(checkpoint.parent)
    assert evaluate_module.find_checkpoint(Path(".")) == (Path("..", "checkpoints", "best.ckpt"), Path(".."))


@pytest.mark.parametrize("content,problem", [("- a\n", "list"), ("data: 5\n", "its data is a int"),
                                             ("data: [unclosed", "ParserError")])
def test_a_saved_config_that_is_not_hydras_is_one_line_naming_it(content: str, problem: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints")
    saved = run_dir / ".hydra" / "config.yaml"
    saved.parent.mkdir()
    saved.write_text(content)
    with pytest.raises(UserInputError) as refused:
        evaluate(run_dir)
    assert str(refused.value) == (f"{saved} is not a run's config as Hydra saves it ({problem}); restore it, or "
                                  f"delete it (evaluate then reads MNIST, with the checkpoint's data arguments)")


def renamed_weight(weights: dict) -> dict:
    weights["model.extra.weight"] = weights.pop("model.encoder.0.weight")
    return weights


@pytest.mark.parametrize(("changes", "refusal"), [
    # 160 GB of weights, claimed by 5 MB of checkpoint: refused before anything is allocated.
    ({"model__hidden_dims": [200000, 200000]}, "the weights lack model.decoder.0.2.bias"),
    ({"model__hidden_dims": [200000]},
     "the weights model.encoder.0.weight are [8, 784], but its hyper_parameters build [200000, 784]"),
    ({"weights": lambda w: {**w, "model.mean_head.weight": torch.zeros(3, 8)}},
     "the weights model.mean_head.weight are [3, 8]"),
    ({"weights": lambda w: {**w, "model.stray": torch.zeros(1)}}, "the weights hold model.stray"),
    ({"weights": lambda w: {k: v for k, v in w.items() if k != "model.mean_head.bias"}},
     "the weights lack model.mean_head.bias"),
    ({"weights": lambda w: {**w, "model.mean_head.bias": [0.0, 1.0]}}, "the weights model.mean_head.bias are list"),
    ({"model": "vae"}, "model='vae': expected a config with a _target_"),
    ({"eval_seed": "abc"}, "eval_seed='abc': expected a whole number >= 0"),
    ({"loss__reconstruction": "l1"}, "loss.reconstruction=l1 is out of range: allowed one of mse, bce"),
    ({"model__activaton": "relu"}, "model: VAE.__init__() got an unexpected keyword argument 'activaton'"),
    ({"_instantiator": "os.system"}, "hyper_parameters._instantiator is no argument of VAEModule"),
])
def test_a_checkpoint_that_asks_for_the_impossible_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, changes: dict,
        refusal: str) -> None:
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints", **changes)
    monkeypatch.setattr(sys, "argv", ["evaluate", str(run_dir)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip()
    assert refusal in error and len(error.splitlines()) == 1, error
    assert sorted(path.name for path in run_dir.iterdir()) == ["checkpoints"]  # nothing written


@pytest.mark.parametrize("diverged", [1e30, math.nan], ids=["overflowing", "nan"])
def test_weights_whose_test_loss_is_not_finite_exit_3_and_write_nothing(diverged: float, mnist_root: Path,
                                                                        tmp_path: Path, monkeypatch, capsys) -> None:
    run_dir = tmp_path / "run"
    path = checkpoint_with(run_dir / "checkpoints",
                           weights=lambda w: {**w, "model.mean_head.weight": w["model.mean_head.weight"] + diverged})
    checkpoint = torch.load(path, weights_only=True)
    torch.save({**checkpoint, "datamodule_hyper_parameters": {"root": str(mnist_root), "val_size": 56}}, path)
    monkeypatch.setattr(sys, "argv", ["evaluate", str(run_dir)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 3
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"error: {path}: test loss ") and "the run diverged" in error[0]
    assert sorted(path.name for path in run_dir.iterdir()) == ["checkpoints"]


def test_an_out_that_is_a_file_is_refused_before_anything_is_computed(trained_runs: dict[str, Path], tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    monkeypatch.setattr("vae_lightning.analysis.evaluate.load", lambda *args: pytest.fail("loaded the checkpoint"))
    with pytest.raises(UserInputError, match=rf"--out {taken} is a file: give a folder"):
        evaluate(trained_runs["vae"], out=taken)
    assert taken.read_text() == "mine"


class PlantedCode:
    """Unpickled, it writes the marker file: the code a stranger's pickle could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def in_a_slurm_job(monkeypatch: pytest.MonkeyPatch, ntasks: str = "1") -> None:
    """The environment of a process that `sbatch --ntasks=N` started, as Lightning detects it."""
    for name, value in {"SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "evaluate", "SLURM_NTASKS": ntasks}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLURM_NTASKS_PER_NODE", raising=False)


def test_under_slurm_no_hpc_checkpoint_of_the_working_folder_is_unpickled(
        mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints")
    marker = tmp_path / "code-ran"
    (tmp_path / "hpc_ckpt_1.ckpt").write_bytes(pickle.dumps(PlantedCode(marker)))
    monkeypatch.chdir(tmp_path)
    in_a_slurm_job(monkeypatch)
    # torch's switch back to full unpickling wherever a caller does not say weights_only, as Lightning does not.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    evaluate(run_dir, data_root=str(mnist_root), out=tmp_path / "out")
    assert not marker.exists()


@pytest.mark.parametrize("ntasks", ["1", "2"])
def test_under_slurm_the_test_losses_are_the_named_checkpoints(
        ntasks: str, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints")
    named = evaluate(run_dir, data_root=str(mnist_root), out=tmp_path / "plain")["test"]
    # A checkpoint Lightning itself could load, whose weights are all zero, where a requeued job leaves its own.
    other = checkpoint_with(tmp_path / "other",
                            weights=lambda weights: {k: torch.zeros_like(v) for k, v in weights.items()})
    other.rename(tmp_path / "hpc_ckpt_1.ckpt")
    monkeypatch.chdir(tmp_path)
    in_a_slurm_job(monkeypatch, ntasks)
    assert evaluate(run_dir, data_root=str(mnist_root), out=tmp_path / "slurm")["test"] == named


def read_only_copy(tmpfs, run_dir: Path) -> Path:
    """The run folder copied onto a file system that is then mounted read-only."""
    copy = tmpfs("read-only") / "run"
    shutil.copytree(run_dir, copy)
    subprocess.run(["mount", "-o", "remount,ro", str(copy.parent)], check=True)
    return copy


OUT_FIX = "give a folder you can write to for the images and evaluation.json (made if missing)"


@pytest.mark.parametrize("case", ["--out read-only", "--out within a read-only folder", "--out within a file",
                                  "read-only run folder"])
def test_a_folder_that_cannot_be_written_is_one_line_before_anything_is_computed(
        case: str, tmpfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints")
    (tmp_path / "file").write_text("mine")
    if case == "read-only run folder":
        (run_dir / ".lock").write_text("")  # as a run that ended leaves it
        run_dir, arguments = read_only_copy(tmpfs, run_dir), []
        says = (f"the run folder {run_dir} cannot be written (Read-only file system): pass --out with a folder you can "
                f"write to")
    elif case == "--out within a file":
        out = tmp_path / "file" / "figures"
        arguments, says = ["--out", str(out)], f"--out {out}: {tmp_path / 'file'} is a file: {OUT_FIX}"
    else:
        read_only = tmpfs("read-only", read_only=True)
        out = read_only / "figures" if case == "--out within a read-only folder" else read_only
        arguments, says = ["--out", str(out)], f"--out {out} cannot be written (Read-only file system): {OUT_FIX}"
    monkeypatch.setattr("vae_lightning.analysis.evaluate.load", lambda *args: pytest.fail("loaded the checkpoint"))
    monkeypatch.setattr(sys, "argv", ["evaluate", str(run_dir), *arguments])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {says}"]
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("out", [None, "run", "run/."])
def test_a_run_still_training_is_refused_before_anything_is_computed(out: str | None, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture) -> None:
    # Its best checkpoint may change yet: the images and evaluation.json would describe other weights.
    # `--out RUN`, the run folder by name, wrote them there all the same.
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints")
    monkeypatch.setattr("vae_lightning.analysis.evaluate.load", lambda *args: pytest.fail("loaded the checkpoint"))
    lock = lock_run_dir(run_dir)  # as train.py holds it
    arguments = [] if out is None else ["--out", str(tmp_path / out)]
    try:
        assert refusal(main, ["evaluate", str(run_dir), *arguments], monkeypatch, capsys) == [
            f"error: {run_dir} is in use by process {os.getpid()}, which is still training it; evaluate it once it "
            f"ends, or pass --out to score its best checkpoint so far elsewhere"]
    finally:
        lock.close()
    assert sorted(path.name for path in run_dir.iterdir()) == [".lock", "checkpoints"]


def test_an_out_that_is_another_runs_folder_is_refused_before_anything_is_computed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    run_dir, other = tmp_path / "run", tmp_path / "other"
    checkpoint_with(run_dir / "checkpoints")
    checkpoint_with(other / "checkpoints")
    (other / "evaluation.json").write_text("{}")
    monkeypatch.setattr("vae_lightning.analysis.evaluate.load", lambda *args: pytest.fail("loaded the checkpoint"))
    assert refusal(main, ["evaluate", str(run_dir), "--out", str(other)], monkeypatch, capsys) == [
        f"error: --out {other} is another run's folder, whose own evaluation.json and images this one would replace; "
        f"give a folder of its own, e.g. --out {other / 'evaluation'}"]
    assert (other / "evaluation.json").read_text() == "{}"


def test_an_out_that_is_a_sweeps_folder_is_refused_before_anything_is_computed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # `evaluate RUN --out SWEEP` wrote the run's images and evaluation.json among the sweep's jobs and figures.
    run_dir, sweep = tmp_path / "run", tmp_path / "sweep"
    checkpoint_with(run_dir / "checkpoints")
    (sweep / "clip.value=0.5" / ".hydra").mkdir(parents=True)
    monkeypatch.setattr("vae_lightning.analysis.evaluate.load", lambda *args: pytest.fail("loaded the checkpoint"))
    assert refusal(main, ["evaluate", str(run_dir), "--out", str(sweep)], monkeypatch, capsys) == [
        f"error: --out {sweep} is a sweep's folder, which holds its jobs' folders and figures only; give a folder of "
        f"its own, e.g. --out {sweep / 'evaluation'}"]
    assert sorted(path.name for path in sweep.iterdir()) == ["clip.value=0.5"]


def test_evaluate_on_a_full_disk_is_one_line(tmpfs, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints")
    out = tmpfs("full", size="16k")
    monkeypatch.setattr(sys, "argv", ["evaluate", str(run_dir), "--data-root", str(mnist_root), "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: no space left on device writing {out}") and line.endswith(
        ": free some space, then run this command again")


def test_a_run_folder_handed_over_with_a_link_out_of_it_is_refused_before_anything_is_computed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints")
    (tmp_path / "elsewhere").write_text("mine")
    link = run_dir / "samples.png"
    link.symlink_to(tmp_path / "elsewhere")
    monkeypatch.setattr("vae_lightning.analysis.evaluate.load", lambda *args: pytest.fail("loaded the checkpoint"))
    assert refusal(main, ["evaluate", str(run_dir)], monkeypatch, capsys) == [
        f"error: {link} is a symbolic link out of the folder, which evaluate would write through; replace it with "
        f"what it links to (cp -rL), or pass --out with a folder of your own"]
    assert (tmp_path / "elsewhere").read_text() == "mine"


@pytest.mark.parametrize("flag", [["--images", "100"], ["--k", "50"]])
def test_a_likelihood_flag_without_nll_is_one_line_exit_2(flag: list[str], tmp_path: Path, monkeypatch,
                                                          capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["evaluate", str(tmp_path / "run"), *flag])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {flag[0]} applies to --nll only, which estimates the likelihood; add --nll, or leave {flag[0]} out"]


@pytest.mark.parametrize("seed", ["99999999999999999999999", "-1"])
def test_a_seed_out_of_train_pys_range_is_one_line_before_anything_is_written(
        seed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # Past 64 bits torch's generator raised "Overflow when unpacking long long", after reconstructions.png.
    run_dir = own_data_run(tmp_path / "run", monkeypatch, "Images")
    assert refusal(main, ["evaluate", str(run_dir), "--seed", seed], monkeypatch, capsys) == [
        f"error: --seed {seed} is out of range: give a number in [0, 4294967295], as train.py's seed"]
    assert sorted(path.name for path in run_dir.iterdir()) == [".hydra", "checkpoints"]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["--images beyond the test set", "no MNIST at --data-root"])
def test_a_refusal_of_the_test_data_is_the_only_line_on_stderr(case: str, trained_runs: dict[str, Path],
                                                                mnist_root: Path, tmp_path: Path) -> None:
    # A process of its own: Lightning's banner ("GPU available: ...") goes past pytest's capture of sys.stderr.
    empty = tmp_path / "empty"
    empty.mkdir()
    arguments, says = {
        "--images beyond the test set": (["--data-root", str(mnist_root), "--nll", "--images", str(TEST_IMAGES + 1)],
                                         f"the test set has {TEST_IMAGES} images"),
        # As evaluate takes it: --data-root, never downloaded (not train.py's data.root and data.download).
        "no MNIST at --data-root": (["--data-root", str(empty)], f"MNIST is not in {empty}/MNIST/raw (files missing, "
                                    f"download off): put the four IDX files (train-images-idx3-ubyte, "
                                    f"train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) there, "
                                    f"or point --data-root at the folder that holds MNIST/raw"),
    }[case]
    done = subprocess.run([sys.executable, "-m", "vae_lightning.evaluate", str(trained_runs["vae"]), "--out",
                           str(tmp_path / "out"), *arguments], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


def test_a_run_of_a_config_dir_class_is_evaluated_with_that_config_dir(
        mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # A model class of the user's own, which a file of their --config-dir folder names and conf/ does not.
    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "small.yaml").write_text("_target_: own_classes.SmallVAE\nlatent_dim: 2\n")
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "")  # restored when the test ends: evaluate adds to it
    run_dir = tmp_path / "run"
    checkpoint_with(run_dir / "checkpoints", model___target_="own_classes.SmallVAE")
    arguments = ["evaluate", str(run_dir), "--data-root", str(mnist_root), "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", arguments)
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert "model._target_=own_classes.SmallVAE is not a class this project's configs name: add a YAML file naming " \
           "it under conf/ (or a --config-dir folder)" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", [*arguments, "--config-dir", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2 and capsys.readouterr().err == (
        f"error: --config-dir {tmp_path / 'nowhere'}: no such folder; give the folder of config groups the run was "
        f"trained with (train.py's --config-dir)\n")
    monkeypatch.setattr(sys, "argv", [*arguments, "-cd", str(tmp_path / "mine")])
    main()
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["test_images"] == TEST_IMAGES


@pytest.mark.parametrize("nll", [[], ["--nll"]], ids=["plain", "nll"])
def test_a_model_of_ones_own_without_a_mean_head_is_one_line_before_anything_is_written(
        nll: list[str], mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    # It trains with forward alone; the grids read mean_head (a traceback after the test was scored), and
    # --nll called it a deterministic autoencoder, though its encode gives a log-variance.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", own_classes.TARGETS)
    run_dir = tmp_path / "run"
    path = checkpoint_of(run_dir / "checkpoints", model={"_target_": "own_classes.OwnVAE"})
    assert refusal(main, ["evaluate", str(run_dir), "--data-root", str(mnist_root), *nll], monkeypatch, capsys) == [
        f"error: {path}: the model OwnVAE has no mean_head, which evaluate needs: give OwnVAE a mean_head layer, "
        f"whose weight's device and precision z is drawn in, or subclass vae_lightning.paper.model.VAE (Autoencoder "
        f"for a model without a prior)"]
    assert sorted(path.name for path in run_dir.iterdir()) == ["checkpoints"]


@pytest.mark.parametrize("part", ["forward", "encode", "decode", "mean_head"])
def test_each_part_of_a_model_that_evaluate_uses_is_checked(part: str) -> None:
    # A class of one's own that lacks the part: `forward` left to nn.Module's, the others not there.
    lacking = torch.nn.Module.forward if part == "forward" else None
    model = type("Mine", (VAE,), {part: lacking})(hidden_dims=[8], latent_dim=2)
    with pytest.raises(UserInputError) as refused:
        evaluate_module.check_model(Path("best.ckpt"), model)
    assert str(refused.value).startswith(f"best.ckpt: the model Mine has no {part}, which evaluate needs: give Mine ")
    evaluate_module.check_model(Path("best.ckpt"), VAE(hidden_dims=[8], latent_dim=2))


def test_a_run_of_a_data_module_of_ones_own_is_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    # evaluate passed any data module the project's shuffle_seed and download: "data: Images.__init__() got an
    # unexpected keyword argument 'shuffle_seed'", and it read an eval_batch_size such a module may not have.
    run_dir = own_data_run(tmp_path / "run", monkeypatch, "Images", "Unlabelled")
    monkeypatch.setattr(sys, "argv", ["evaluate", str(run_dir), "--out", str(tmp_path / "out")])
    main()
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["test_images"] == 32
    assert refusal(main, ["evaluate", str(run_dir), "--data-root", "/data"], monkeypatch, capsys) == [
        "error: --data-root /data: the run's data module (own_classes.Images) takes no root; leave --data-root out"]
    # What evaluate reads after setup, missing: one line before anything is written, not a traceback after.
    (run_dir / ".hydra" / "config.yaml").write_text("data:\n  _target_: own_classes.Unlabelled\n")
    assert refusal(main, ["evaluate", str(run_dir), "--out", str(tmp_path / "out2")], monkeypatch, capsys) == [
        "error: data: Unlabelled has no test_labels after setup('test'), which evaluate reads: set self.test_labels "
        "there (each test image's class, a tensor (images,), for the latent pictures), or subclass "
        "vae_lightning.paper.data.MNISTDataModule"]
    assert not (tmp_path / "out2").exists()


def test_a_link_to_a_runs_checkpoint_is_evaluated_as_that_run_into_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # `ln -s RUN/checkpoints/best.ckpt mine.ckpt; evaluate mine.ckpt` took the link's folder for the run: it scored
    # the weights on MNIST, not the run's own data (a FashionMNIST run's, say), wrote projector/, the images and
    # evaluation.json into the working folder, and did not see the run was still training.
    run_dir = own_data_run(tmp_path / "run", monkeypatch, "Images")
    here = tmp_path / "here"
    here.mkdir()
    (here / "mine.ckpt").symlink_to(run_dir / "checkpoints" / "best.ckpt")
    monkeypatch.chdir(here)
    lock = lock_run_dir(run_dir)  # as train.py holds it
    try:
        assert refusal(main, ["evaluate", "mine.ckpt"], monkeypatch, capsys) == [
            f"error: {run_dir} is in use by process {os.getpid()}, which is still training it; evaluate it once it "
            f"ends, or pass --out to score its best checkpoint so far elsewhere"]
    finally:
        lock.close()
    monkeypatch.setattr(sys, "argv", ["evaluate", "mine.ckpt"])
    main()
    assert json.loads((run_dir / "evaluation.json").read_text())["test_images"] == 32  # own_classes.Images's
    assert sorted(path.name for path in here.iterdir()) == ["mine.ckpt"]


def test_evaluation_json_names_the_checkpoint_by_its_absolute_path(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # `evaluate run` from tmp_path wrote "checkpoint": "run/checkpoints/best.ckpt" into run/evaluation.json.
    run_dir = own_data_run(tmp_path / "run", monkeypatch, "Images")
    monkeypatch.chdir(tmp_path)
    evaluate(Path("run"))
    assert json.loads((run_dir / "evaluation.json").read_text())["checkpoint"] == str(
        run_dir / "checkpoints" / "best.ckpt")


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    # `timeout -s INT 25 python -m vae_lightning.evaluate RUN --nll` printed a traceback through torch.
    def interrupted(*arguments: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_module, "evaluate", interrupted)
    monkeypatch.setattr(sys, "argv", ["evaluate", str(tmp_path), "--nll"])
    code = 0
    try:
        main()
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C reached the interpreter, which prints its traceback")
    except SystemExit as exit_:
        code = exit_.code
    assert code == 130
    assert capsys.readouterr().err == ("error: interrupted; the files written before it are kept: run the command "
                                       "again for the rest\n")


def test_an_evaluation_stopped_part_way_leaves_no_evaluation_json_of_the_images_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C after the new grids were written left the earlier evaluation.json beside them, naming other weights.
    run_dir = own_data_run(tmp_path / "run", monkeypatch, "Images")
    evaluate(run_dir)
    assert (run_dir / "evaluation.json").exists()

    def interrupted(*arguments: object) -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_module, "write_latent_pictures", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate(run_dir)
    assert (run_dir / "reconstructions.png").exists() and not (run_dir / "evaluation.json").exists()


def test_a_checkpoint_copied_out_of_its_run_is_scored_on_the_data_its_run_trained_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the run's .hydra/config.yaml beside it, evaluate took MNIST: a FashionMNIST run's best.ckpt, copied
    # out to hand over, was scored on the other data set without a word. Its checkpoint names its data class.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "own_classes.Images")
    path = checkpoint_with(tmp_path / "copied")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["callbacks"] = {"RunDefinition": {"definition": {"data._target_": "own_classes.Images", "seed": 0}}}
    torch.save(checkpoint, path)
    monkeypatch.chdir(tmp_path)  # whose data/ holds no MNIST
    monkeypatch.setattr(sys, "argv", ["evaluate", str(path), "--out", str(tmp_path / "out")])
    main()
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["test_images"] == 32  # own_classes.Images's


def test_the_figures_are_labelled_at_their_images_whatever_their_size(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # With 14x14 images the rows were labelled as if 28 pixels high: 4 labels for 8 rows, the second row of
    # inputs called `reconstruction`; the manifold's ticks covered a quarter of it.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "own_classes.Images")
    run_dir = tmp_path / "run"
    path = checkpoint_of(run_dir / "checkpoints", model={"_target_": "vae_lightning.paper.model.VAE", "input_dim": 196,
                                                         "hidden_dims": [8], "latent_dim": 2})
    torch.save({**torch.load(path, weights_only=True), "datamodule_hyper_parameters": {"pixels": 196}}, path)
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text("data:\n  _target_: own_classes.Images\n")
    ticks = {}

    def record(figure, path: Path) -> None:
        axes = figure.axes[0]
        ticks[path.name] = (len(axes.get_yticks()), max(axes.get_yticks()), axes.get_ylim()[0])

    monkeypatch.setattr(latent_module, "save_figure", record)
    evaluate(run_dir, out=tmp_path / "out")
    rows, last, bottom = ticks["reconstructions.png"]
    assert rows == 8 and bottom - 16 < last < bottom  # the last label within the last row of 14-pixel images
    rows, last, bottom = ticks["manifold.png"]
    assert rows == 20 and bottom - 14 < last < bottom


def test_a_run_trained_with_a_config_dir_is_refused_naming_that_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture) -> None:
    # Without --config-dir the line advised adding a YAML file naming the class, which the user had written:
    # the run's .hydra/hydra.yaml records the folder it was trained with.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "")
    run_dir = tmp_path / "run"
    path = checkpoint_with(run_dir / "checkpoints", model___target_="own_classes.SmallVAE")
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "hydra.yaml").write_text(
        "hydra:\n  runtime:\n    config_sources:\n    - {path: hydra.conf, schema: pkg, provider: hydra}\n"
        f"    - {{path: /somewhere/conf, schema: file, provider: main}}\n"
        f"    - {{path: {tmp_path / 'mine'}, schema: file, provider: command-line}}\n")
    assert refusal(main, ["evaluate", str(run_dir)], monkeypatch, capsys) == [
        f"error: {path}: hyper_parameters: model._target_=own_classes.SmallVAE is named by the configs of the folder "
        f"the run was trained with (train.py's --config-dir): pass --config-dir {tmp_path / 'mine'}"]
    assert sorted(path.name for path in run_dir.iterdir()) == [".hydra", "checkpoints"]


def test_figure_4s_grids_are_also_written_alone_losslessly_each_pixel_a_square(trained_runs: dict[str, Path],
                                                                               mnist_root: Path,
                                                                               tmp_path: Path) -> None:
    # The titled figures were all there was: their title and row labels, printed at a column's 3.4 in, were under
    # 5 pt, and a paper had no image of the grid alone to caption.
    import numpy as np

    from vae_lightning.analysis.latent import PLAIN_GRID_SCALE

    results = evaluate(trained_runs["vae"], data_root=str(mnist_root), out=tmp_path / "evaluation")
    assert {"samples_grid.png", "reconstructions_grid.png"} <= set(results["written"])
    module, datamodule, _, _ = load(trained_runs["vae"], str(mnist_root))
    datamodule.setup("test")
    module.eval()
    grids = {"samples_grid.png": sample_grid(module.model, 64, 0),
             "reconstructions_grid.png": reconstruction_grid(module.model, datamodule.test_images[:32])}
    for name, grid in grids.items():
        saved = np.asarray(Image.open(tmp_path / "evaluation" / name).convert("RGB"))
        # Each pixel round(255 x), repeated into a square: nothing resampled, nothing cut off or added.
        expected = (grid * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        expected = expected.repeat(PLAIN_GRID_SCALE, axis=0).repeat(PLAIN_GRID_SCALE, axis=1)
        assert saved.shape == expected.shape and np.abs(saved.astype(int) - expected.astype(int)).max() <= 1
