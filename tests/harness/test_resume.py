"""Resuming, faults and non-finite losses, on real (tiny) runs: exact, and nothing lost."""

import json
import logging
import re
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard import SummaryWriter
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import read_write

from helpers import (INJECTED, INJECTED_ENVIRONMENT, INJECTED_TARGETS, PROJECT, TRAIN_IMAGES, VAL_IMAGES, injected,
                     run_train, tiny_overrides)
from vae_lightning.errors import ConfigError, NonFiniteLossError
from vae_lightning.files import TEMPORARY_SUFFIX
from vae_lightning.harness.command_line import check_command_line
from vae_lightning.harness.run import resume_point, run_job, train
from vae_lightning.harness.event_files import EarlierEpochPoints, drop_epoch_points
from vae_lightning.harness.runs import read_status, write_status

STEPS_PER_EPOCH = (TRAIN_IMAGES - VAL_IMAGES) // 32  # 6
THREE_EPOCHS = ["trainer.max_epochs=3"]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def assert_same_run(first: Path, second: Path) -> None:
    assert (json.loads((first / "results.json").read_text())["test"]
            == json.loads((second / "results.json").read_text())["test"])
    a, b = weights(first), weights(second)
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.parametrize("resumed_in", ["cut", "moved"])
def test_resume_at_an_epoch_boundary_is_bitwise_exact(resumed_in: str, compose_config, mnist_root, monkeypatch,
                                                      tmp_path) -> None:
    # "moved": the run's folder moved before the resume, which its checkpoints' states name (RunFolder).
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    base = tiny_overrides(mnist_root) + THREE_EPOCHS
    train(compose_config(base, run="whole"), tmp_path / "whole")
    broken = compose_config(base + injected("fault", "Fault", kind="raise", at_step=2 * STEPS_PER_EPOCH), run="cut")
    with pytest.raises(RuntimeError, match="injected fault"):
        train(broken, tmp_path / "cut")
    assert torch.load(tmp_path / "cut" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1
    (tmp_path / "cut").rename(tmp_path / resumed_in)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*dirpath has changed")  # Lightning's, as it forgets the best
        train(compose_config(base + ["resume=true"], run=resumed_in), tmp_path / resumed_in)
    assert_same_run(tmp_path / "whole", tmp_path / resumed_in)


def test_a_resumed_run_shows_each_logged_step_once_in_tensorboard(compose_config, mnist_root, monkeypatch,
                                                                  tmp_path) -> None:
    # The cut run logged two steps past its checkpoint, which the resumed run logged again: event files
    # read with TensorBoard's own reader held both (steps going back), as a notebook's analysis got them.
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    base = tiny_overrides(mnist_root) + THREE_EPOCHS + ["trainer.log_every_n_steps=1"]
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="injected fault"):
        train(compose_config(base + injected("fault", "Fault", kind="raise", at_step=2 * STEPS_PER_EPOCH + 2),
                             run="cut"), cut)
    train(compose_config(base + ["resume=true"], run="cut"), cut)
    events = EventAccumulator(str(cut))
    events.Reload()
    steps = [event.step for event in events.Scalars("train/loss_step")]
    assert steps == sorted(set(steps)) and 2 * STEPS_PER_EPOCH + 1 in steps


def test_a_run_started_again_by_resume_shows_each_logged_step_once_in_tensorboard(compose_config, mnist_root,
                                                                                 monkeypatch, tmp_path) -> None:
    # Stopped before its first checkpoint, the run starts again from step 0 under resume=true, and its first
    # attempt's event file still held steps 0 and 1: TensorBoard drew each of them twice.
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    base = tiny_overrides(mnist_root) + ["trainer.log_every_n_steps=1"]
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="injected fault"):
        train(compose_config(base + injected("fault", "Fault", kind="raise", at_step=2), run="cut"), cut)
    train(compose_config(base + ["resume=true"], run="cut"), cut)
    events = EventAccumulator(str(cut))
    events.Reload()
    steps = [event.step for event in events.Scalars("train/loss_step")]
    assert steps == list(range(STEPS_PER_EPOCH))


def test_resume_mid_epoch_sees_each_image_once_and_is_exact(compose_config, mnist_root, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    base = tiny_overrides(mnist_root) + THREE_EPOCHS + ["+callbacks.checkpoint.every_n_train_steps=1"]
    train(compose_config(base, run="whole"), tmp_path / "whole")
    cut = tmp_path / "cut"
    fault = injected("fault", "Fault", kind="raise", at_step=STEPS_PER_EPOCH + 3)
    probe = injected("probe", "Probe", run_dir=cut)
    with pytest.raises(RuntimeError, match="injected fault"):
        train(compose_config(base + fault + probe, run="cut"), cut)
    train(compose_config(base + probe + ["resume=true"], run="cut"), cut)
    assert_same_run(tmp_path / "whole", cut)
    seen = [json.loads(line) for line in (cut / "batches.jsonl").read_text().splitlines()]
    interrupted_epoch = Counter(round(row, 3) for batch in seen if batch["epoch"] == 1 for row in batch["rows"])
    first_epoch = Counter(round(row, 3) for batch in seen if batch["epoch"] == 0 for row in batch["rows"])
    assert interrupted_epoch == first_epoch and sum(first_epoch.values()) == TRAIN_IMAGES - VAL_IMAGES


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_finishes_like_an_uninterrupted_run(compose_config, mnist_root, tmp_path) -> None:
    base = tiny_overrides(mnist_root) + THREE_EPOCHS
    train(compose_config(base, run="whole"), tmp_path / "whole")
    run_dir = tmp_path / "killed"
    command = [sys.executable, str(PROJECT / "train.py"), *base, f"hydra.run.dir={run_dir}"]
    killed = subprocess.run(command + injected("fault", "Fault", kind="kill", at_step=STEPS_PER_EPOCH + 2),
                            capture_output=True, text=True, env=INJECTED_ENVIRONMENT, timeout=300)
    assert killed.returncode == -9
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    resumed = subprocess.run(command + ["resume=true"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "restarts from its first batch" in resumed.stdout + resumed.stderr
    assert_same_run(tmp_path / "whole", run_dir)


def test_resume_of_a_run_that_died_before_its_first_checkpoint_starts_it_again(compose_config, mnist_root,
                                                                              tmp_path) -> None:
    run_dir = tmp_path / "empty"
    (run_dir / ".hydra").mkdir(parents=True)  # what Hydra leaves of a run killed while starting
    assert run_job(compose_config(tiny_overrides(mnist_root) + ["resume=true"], run="empty"), run_dir) == 0
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_a_refused_command_writes_nothing_into_the_run_folder(mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    assert run_train([*tiny_overrides(mnist_root), f"hydra.run.dir={run_dir}"], tmp_path).returncode == 0
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    again = run_train([*tiny_overrides(mnist_root), "optim.lr=0.5", "data.batch_size=7", f"hydra.run.dir={run_dir}"],
                      tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"error: {run_dir} already holds a run; pass resume=true to continue it, or choose another hydra.run.dir"]
    assert before == {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}


def test_resume_with_another_config_is_refused(compose_config, mnist_root, tmp_path) -> None:
    assert run_job(compose_config(tiny_overrides(mnist_root), run="run"), tmp_path / "run") == 0
    with pytest.raises(ConfigError, match="optim.lr=0.5, but the run was trained with 0.01"):
        train(compose_config(tiny_overrides(mnist_root) + ["resume=true", "optim.lr=0.5"]), tmp_path / "run")


def test_a_non_finite_loss_stops_at_once_and_keeps_the_last_good_checkpoint(compose_config, mnist_root, monkeypatch,
                                                                             tmp_path) -> None:
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    step = STEPS_PER_EPOCH + 2
    cfg = compose_config(tiny_overrides(mnist_root) + THREE_EPOCHS
                         + injected("fault", "Fault", kind="poison", at_step=step))
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    snapshots = []
    monkeypatch.setattr(NonFiniteLossError, "__init__",
                        lambda self, message: (snapshots.append(last.read_bytes()),
                                               Exception.__init__(self, message))[1])
    assert run_job(cfg, run_dir) == 3
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and f"loss is nan at step {step} (epoch 1)" in status["error"]
    assert f"last good checkpoint: {last}" in status["error"]
    # The run clips (conf/clip/value.yaml): "clip the gradients" was advice to do what it did.
    assert status["error"].endswith("; lower optim.lr or clip.value (it clips by value at 1.0)")
    assert last.read_bytes() == snapshots[0] and torch.load(last, weights_only=True)["epoch"] == 0


def test_weights_the_last_update_ruined_fail_the_run_with_exit_3(compose_config, mnist_root, tmp_path) -> None:
    # One step of a huge learning rate: its loss was finite, the weights it leaves are not scored as a result.
    cfg = compose_config(tiny_overrides(mnist_root) + ["optim.lr=1e10", "clip=none", "trainer.max_steps=1"])
    assert run_job(cfg, tmp_path / "run") == 3
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed" and status["error"].endswith(
        "with the final weights: the last update diverged; lower optim.lr or clip the gradients (clip=value or "
        "clip=norm)")
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.slow
def test_a_diverging_run_exits_3_within_a_step(mnist_root: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(PROJECT / "train.py"), *tiny_overrides(mnist_root),
                           "optim.lr=10000", "clip=none"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert re.search(r"loss is (nan|inf) at step \d+ \(epoch 0\); last good checkpoint: none written yet", errors[0])


def checkpoint_weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_mid_epoch_checkpoints_change_neither_the_best_checkpoint_nor_the_results(compose_config, mnist_root,
                                                                                  tmp_path) -> None:
    base = tiny_overrides(mnist_root) + THREE_EPOCHS
    plain_results = train(compose_config(base, run="plain"), tmp_path / "plain")
    # Every 4 steps of 6 a epoch: saves mid-epoch, and on the last batch of epoch 1 (step 12).
    mid = train(compose_config(base + ["+callbacks.checkpoint.every_n_train_steps=4"], run="mid"), tmp_path / "mid")
    assert mid == {**plain_results, "train_seconds": mid["train_seconds"]}
    assert sorted(path.name for path in (tmp_path / "mid" / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    for name in ("best.ckpt", "last.ckpt"):
        a, b = (checkpoint_weights(tmp_path / run / "checkpoints" / name) for run in ("plain", "mid"))
        assert all(torch.equal(a[key], b[key]) for key in a), name
    assert torch.load(tmp_path / "mid" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 18


@pytest.mark.slow
@pytest.mark.parametrize("kind,at_step,saved_at", [("raise", 9, 8), ("raise_in_validation", 12, 8), ("raise", 17, 16)])
def test_resume_from_any_mid_epoch_checkpoint_is_exact(compose_config, mnist_root, monkeypatch, tmp_path, kind, at_step,
                                                       saved_at) -> None:
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    # Step 12 is the last batch of epoch 1: no checkpoint is written there, before that epoch's validation, which
    # Lightning resumed from it would skip (MidEpochCheckpoint); stopped in that validation, it resumes from step 8.
    base = tiny_overrides(mnist_root) + THREE_EPOCHS + ["+callbacks.checkpoint.every_n_train_steps=4"]
    train(compose_config(base, run="whole"), tmp_path / "whole")
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="injected fault"):
        train(compose_config(base + injected("fault", "Fault", kind=kind, at_step=at_step), run="cut"), cut)
    assert torch.load(cut / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == saved_at
    train(compose_config(base + ["resume=true"], run="cut"), cut)
    assert_same_run(tmp_path / "whole", cut)
    for name in ("best.ckpt", "last.ckpt"):
        a, b = (checkpoint_weights(tmp_path / "whole" / "checkpoints" / name),
                checkpoint_weights(cut / "checkpoints" / name))
        assert all(torch.equal(a[key], b[key]) for key in a), name


def logged(run_dir: Path, tag: str = "val/loss") -> list[tuple[int, float]]:
    """The values of `tag` TensorBoard shows for the run, by step."""
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


@pytest.mark.parametrize("epoch", [1, 2])
def test_a_run_stopped_in_a_validation_validates_that_epoch_when_resumed(compose_config, mnist_root, monkeypatch,
                                                                          tmp_path, epoch: int) -> None:
    # Every 3 steps of 6 an epoch, last.ckpt was also written on an epoch's last batch, before its validation;
    # Lightning, resumed from it, skipped that validation: stopped in the last one, the run "completed" scoring
    # the best checkpoint of the epoch before; stopped in another, TensorBoard never showed that epoch's val loss.
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    base = tiny_overrides(mnist_root) + THREE_EPOCHS + ["+callbacks.checkpoint.every_n_train_steps=3"]
    train(compose_config(base, run="whole"), tmp_path / "whole")
    cut = tmp_path / "cut"
    fault = injected("fault", "Fault", kind="raise_in_validation", at_step=(epoch + 1) * STEPS_PER_EPOCH)
    with pytest.raises(RuntimeError, match="injected fault"):
        train(compose_config(base + fault, run="cut"), cut)
    train(compose_config(base + ["resume=true"], run="cut"), cut)
    assert_same_run(tmp_path / "whole", cut)
    assert logged(cut) == logged(tmp_path / "whole")


@pytest.mark.parametrize("every_n_epoch", [1, None])
def test_a_run_stopped_in_a_mid_epoch_validation_validates_there_when_resumed(
    compose_config, mnist_root, monkeypatch, tmp_path, every_n_epoch: int | None
) -> None:
    # With trainer.val_check_interval=3, last.ckpt was also written on the batch a validation follows, before it;
    # Lightning, resumed from it, skipped that validation: TensorBoard never showed its val loss, nor its images.
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    base = tiny_overrides(mnist_root) + THREE_EPOCHS + [
        "+callbacks.checkpoint.every_n_train_steps=1", "trainer.val_check_interval=3",
        f"trainer.check_val_every_n_epoch={every_n_epoch or 'null'}"]
    train(compose_config(base, run="whole"), tmp_path / "whole")
    cut = tmp_path / "cut"
    fault = injected("fault", "Fault", kind="raise_in_validation", at_step=STEPS_PER_EPOCH + 3)
    with pytest.raises(RuntimeError, match="injected fault"):
        train(compose_config(base + fault, run="cut"), cut)
    train(compose_config(base + ["resume=true"], run="cut"), cut)
    assert_same_run(tmp_path / "whole", cut)
    assert logged(cut) == logged(tmp_path / "whole") and len(logged(cut)) == 6


def test_an_epoch_ending_without_a_validation_is_checkpointed_at_its_end(compose_config, mnist_root, monkeypatch,
                                                                          tmp_path) -> None:
    # Without a validation (check_val_every_n_epoch=2) no other callback writes a checkpoint at the epoch's end, and a
    # run stopped in the next epoch started over. Written on its last batch instead, Lightning resumed from it without
    # resetting its running means: the next epoch's train/loss averaged both epochs' batches.
    monkeypatch.setenv(INJECTED, INJECTED_TARGETS)
    base = tiny_overrides(mnist_root) + ["trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2",
                                         f"+callbacks.checkpoint.every_n_train_steps={STEPS_PER_EPOCH}"]
    train(compose_config(base, run="whole"), tmp_path / "whole")
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="injected fault"):
        train(compose_config(base + injected("fault", "Fault", kind="raise", at_step=STEPS_PER_EPOCH + 2), run="cut"),
              cut)
    assert torch.load(cut / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == STEPS_PER_EPOCH
    train(compose_config(base + ["resume=true"], run="cut"), cut)
    assert_same_run(tmp_path / "whole", cut)
    assert logged(cut, "train/loss") == logged(tmp_path / "whole", "train/loss")


def test_results_name_the_best_checkpoint_in_a_run_folder_reached_through_a_symbolic_link(compose_config, mnist_root,
                                                                                           tmp_path) -> None:
    # Lightning names its checkpoints by their real path: taken relative to the folder as reached, results.json
    # named ../../real/run/checkpoints/best.ckpt, the old place once the folder was moved.
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    results = train(compose_config(tiny_overrides(mnist_root), run="link/run"), tmp_path / "link" / "run")
    assert results["checkpoint"] == "checkpoints/best.ckpt"


def test_a_full_disk_fails_the_run_with_one_line_and_leaves_no_temporary_file(compose_config, mnist_root, tmpfs,
                                                                              caplog) -> None:
    run_dir = tmpfs("full", size="1m")
    # A 784-400-20 model's checkpoint (weights and momentum, about 5 MB) cannot fit in 1 MB.
    overrides = tiny_overrides(mnist_root) + ["model.hidden_dims=[400]", "model.latent_dim=20"]
    with caplog.at_level(logging.ERROR):
        assert run_job(compose_config(overrides, run=run_dir.name), run_dir) == 1
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and status["exit_code"] == 1
    assert (status["error"].startswith("no space left on device writing ")
            and status["error"].endswith("then resume=true"))
    assert (f"writing {run_dir}/" in status["error"]
            or f"writing a file in {run_dir}:" in status["error"]), status["error"]
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == [status["error"]]
    assert not list(run_dir.rglob("*.tmp"))


@pytest.mark.slow
def test_a_disk_filled_by_another_writer_mid_run_ends_it_in_one_line_and_resume_continues(mnist_root, tmpfs) -> None:
    # Filled between two epochs (another user's job), the disk failed TensorBoard's writer thread (its
    # traceback printed), then the harness's own write of status.json (Hydra's traceback); in one timing
    # the run hung for good, status.json saying running.
    run_dir = tmpfs("full", size="5m") / "run"
    arguments = [*tiny_overrides(mnist_root), "trainer.max_epochs=3", f"hydra.run.dir={run_dir}"]
    done = run_train([*arguments, *injected("fill", "Fault", kind="fill_disk", at_step=8)], timeout=120)
    assert done.returncode == 1, done.stderr
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line or "Traceback" in line]
    # Which write meets the full disk first (TensorBoard's, a checkpoint's, metrics.csv's) is the run's to say.
    assert len(errors) == 1 and re.search(rf"no space left on device writing (a file in )?{re.escape(str(run_dir))}"
                                          rf"[^ ]*: free some space, then resume=true$", errors[0]), errors
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0  # kept whole
    (run_dir / "filler").unlink()
    done = run_train([*arguments, "resume=true"], timeout=120)
    assert done.returncode == 0, done.stderr
    assert read_status(run_dir)["results"]["epochs"] == 3


def test_resume_without_the_callback_that_restores_the_random_state_is_refused(compose_config, mnist_root, tmp_path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    # Lightning only warned that no callback loads the checkpoint's RandomState: the run went on with other
    # latent noise, its losses not those of the run it continued (56.15 against 55.99 after 2 epochs).
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root), run="run"), run_dir) == 0
    kept = files_of(run_dir)
    assert ("(it holds the run's random generators, which only callbacks.random_state restores, and this command has "
            "none: the run would go on drawing other noise than it stopped with; keep callbacks.random_state)"
            in refused([*tiny_overrides(mnist_root), "trainer.max_epochs=2", "~callbacks.random_state", "resume=true",
                        f"hydra.run.dir={run_dir}"], capsys))
    assert files_of(run_dir) == kept


def test_resume_on_the_other_x_axis_is_refused_before_anything_is_written(compose_config, mnist_root, tmp_path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    # Logged by step, then resumed with x_axis=epoch, the run's new epochs sat at x below its old ones,
    # and TensorBoard dropped every point past the first new one: only the resumed epochs showed.
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root), run="run"), run_dir) == 0
    kept = files_of(run_dir)
    assert "(x_axis=epoch, but the run was trained with step)" in refused(
        [*tiny_overrides(mnist_root), "trainer.max_epochs=2", "x_axis=epoch", "resume=true",
         f"hydra.run.dir={run_dir}"], capsys)
    with pytest.raises(ConfigError, match=r"x_axis=epoch, but the run was trained with step"):
        train(compose_config([*tiny_overrides(mnist_root), "trainer.max_epochs=2", "x_axis=epoch", "resume=true"]),
              run_dir)
    assert files_of(run_dir) == kept


@pytest.mark.slow
def test_resume_with_another_clip_is_one_line_exit_2_and_writes_nothing(mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    assert run_train([*tiny_overrides(mnist_root), f"hydra.run.dir={run_dir}"], tmp_path).returncode == 0
    write_status(run_dir, "interrupted")
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    again = run_train([*tiny_overrides(mnist_root), "resume=true", "clip.value=0.01", f"hydra.run.dir={run_dir}"],
                      tmp_path)
    assert again.returncode == 2
    (line,) = again.stderr.strip().splitlines()
    assert "clip.value=0.01, but the run was trained with 1.0" in line
    assert before == {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}


def test_resume_with_more_epochs_continues_a_completed_run(compose_config, mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root)), run_dir) == 0
    assert run_job(compose_config([*tiny_overrides(mnist_root), "resume=true", "trainer.max_epochs=3"]), run_dir) == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert results["epochs"] == 3 and read_status(run_dir)["status"] == "completed"
    again = compose_config([*tiny_overrides(mnist_root), "resume=true", "trainer.max_epochs=3"])
    assert run_job(again, run_dir) == 0  # as many epochs as asked for: completed already, nothing rerun
    assert json.loads((run_dir / "results.json").read_text()) == results


@pytest.mark.parametrize("x_axis", ["step", "epoch"])
def test_a_completed_run_extended_by_resume_shows_only_its_final_test_point(x_axis: str, compose_config, mnist_root,
                                                                           tmp_path) -> None:
    # With x_axis=epoch the old test point, at the old number of epochs, stayed beside the new one: purge_step
    # counts optimizer steps, below which the epoch-level points sit.
    run_dir = tmp_path / "run"
    base = [*tiny_overrides(mnist_root), f"x_axis={x_axis}", "trainer.log_every_n_steps=1"]
    assert run_job(compose_config(base), run_dir) == 0
    assert run_job(compose_config([*base, "resume=true", "trainer.max_epochs=2"]), run_dir) == 0
    test_loss = json.loads((run_dir / "results.json").read_text())["test"]["loss"]
    assert [value for _, value in logged(run_dir, "test/loss")] == [pytest.approx(test_loss)]
    epoch_ends = [0, 1] if x_axis == "epoch" else [STEPS_PER_EPOCH - 1, 2 * STEPS_PER_EPOCH - 1]
    assert [x for x, _ in logged(run_dir, "val/loss")] == epoch_ends
    assert [x for x, _ in logged(run_dir, "train/loss_step")] == list(range(2 * STEPS_PER_EPOCH))


def test_only_epoch_level_points_from_the_first_epoch_on_are_dropped_from_an_event_file(tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path))
    for step in range(4):
        writer.add_scalar("train/loss_step", step, step)
    for epoch in range(3):
        writer.add_scalar("val/loss", epoch, epoch)
        writer.add_scalar("epoch", epoch, epoch)
    writer.add_scalar("test/loss", 9.0, 3)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    assert drop_epoch_points(path, 1)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    shown = {tag: [event.step for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert shown == {"train/loss_step": [0, 1, 2, 3], "val/loss": [0], "epoch": [0, 1, 2]}
    written = path.read_bytes()
    assert not drop_epoch_points(path, 1) and path.read_bytes() == written  # nothing left to drop: untouched


def test_an_event_holding_an_epoch_level_value_beside_a_step_level_one_keeps_the_step_level_one(
        tmp_path: Path) -> None:
    # One summary may hold several values (TensorBoard's writers put each in its own, other writers need not).
    path = tmp_path / "events.out.tfevents.1.host"
    values = [summary_pb2.Summary.Value(tag=tag, simple_value=1.0) for tag in ("val/loss", "train/loss_step")]
    with path.open("wb") as file:
        RecordWriter(file).write(event_pb2.Event(step=2, summary=summary_pb2.Summary(value=values)).SerializeToString())
    assert drop_epoch_points(path, 1)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert {tag: [event.step for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]} == {
        "train/loss_step": [2]}


def test_a_rewrite_of_an_event_file_that_kill_9_cut_short_is_removed_as_the_resumed_run_starts(tmp_path: Path) -> None:
    # Hidden, it named the events TensorBoard would read twice (`events.out.tfevents.*` matches it).
    kept = tmp_path / "events.out.tfevents.1.host"
    kept.write_bytes(b"")
    cut_short = tmp_path / f".{kept.name}.4242{TEMPORARY_SUFFIX}"
    cut_short.write_bytes(b"half a rewrite")
    EarlierEpochPoints(tmp_path).drop(L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                                                 enable_model_summary=False))
    assert sorted(tmp_path.iterdir()) == [kept]


def test_resume_of_a_run_early_stopping_ended_trains_it_no_further(compose_config, mnist_root, monkeypatch,
                                                                  tmp_path) -> None:
    # Each resume=true of the completed run trained one more epoch, its EarlyStopping's patience restored spent.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "lightning.pytorch.callbacks.EarlyStopping")
    stop = ["trainer.max_epochs=3",
            "+callbacks.stop={_target_: lightning.pytorch.callbacks.EarlyStopping, monitor: val/loss, "
            "stopping_threshold: 1.0e9}"]
    run_dir = tmp_path / "run"
    assert run_job(compose_config([*tiny_overrides(mnist_root), *stop]), run_dir) == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert results["epochs"] == 1 and results["stopped_early"] == {"max_epochs": 3}
    assert run_job(compose_config([*tiny_overrides(mnist_root), *stop, "resume=true"]), run_dir) == 0
    assert json.loads((run_dir / "results.json").read_text()) == results
    assert run_job(compose_config([*tiny_overrides(mnist_root), *stop, "trainer.max_epochs=4", "resume=true"]),
                   run_dir) == 0  # a larger limit continues it, as a run that was not stopped early
    assert json.loads((run_dir / "results.json").read_text())["epochs"] == 2


def test_a_run_resumed_after_its_last_checkpoint_keeps_its_val_results(compose_config, mnist_root, tmp_path) -> None:
    """Interrupted during the final test: the resumed run trains nothing, and must still score val."""
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root)), run_dir) == 0
    completed = read_status(run_dir)["results"]
    write_status(run_dir, "interrupted")
    assert run_job(compose_config([*tiny_overrides(mnist_root), "resume=true"]), run_dir) == 0
    resumed = read_status(run_dir)["results"]
    assert resumed["val"] == pytest.approx(completed["val"]) and resumed["val"]["loss"] > 0
    assert resumed["test"] == pytest.approx(completed["test"])


def test_resume_of_a_run_that_kept_no_checkpoints_names_the_flag(compose_config, mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    unchecked = [*tiny_overrides(mnist_root), "trainer.enable_checkpointing=false"]
    assert run_job(compose_config(unchecked), run_dir) == 0
    with pytest.raises(ConfigError,
                       match=r"which starting afresh would overwrite .*trainer.enable_checkpointing=false"):
        train(compose_config([*unchecked, "resume=true", "trainer.max_epochs=3"]), run_dir)


def test_resume_of_a_run_whose_checkpoints_were_deleted_is_refused_and_keeps_its_results(compose_config, mnist_root,
                                                                                           tmp_path) -> None:
    run_dir = tmp_path / "run"
    assert run_job(compose_config(tiny_overrides(mnist_root)), run_dir) == 0
    for checkpoint in (run_dir / "checkpoints").iterdir():
        checkpoint.unlink()  # a user making room on the disk
    kept = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file() and path.name != "run.log"}
    with pytest.raises(ConfigError, match=r"resume=true, but .*checkpoints holds no checkpoint of the run that wrote "
                                          r".*results.json, which starting afresh would overwrite"):
        train(compose_config([*tiny_overrides(mnist_root), "resume=true", "trainer.max_epochs=3"]), run_dir)
    assert run_job(compose_config([*tiny_overrides(mnist_root), "resume=true", "trainer.max_epochs=3"]), run_dir) == 2
    assert kept == {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file() and path.name != "run.log"}


def refused(arguments: list[str], capsys: pytest.CaptureFixture) -> str:
    """What the command line's check of `arguments` printed as it refused them, with exit 2."""
    with pytest.raises(SystemExit) as exit_:
        check_command_line(arguments)
    assert exit_.value.code == 2
    return capsys.readouterr().err


def files_of(folder: Path) -> dict[Path, bytes]:
    """Every file under `folder` but the logs and locks a refused command may touch."""
    return {path: path.read_bytes() for path in folder.rglob("*")
            if path.is_file() and path.name not in ("run.log", ".lock")}


def test_resume_into_a_folder_that_holds_no_run_starts_it_with_a_warning(compose_config, mnist_root, tmp_path,
                                                                         caplog) -> None:
    # A misspelt hydra.run.dir reads so: the line must stand out from the run's INFO lines.
    run_dir = tmp_path / "mnie"
    with caplog.at_level(logging.INFO):
        assert run_job(compose_config([*tiny_overrides(mnist_root), "resume=true"]), run_dir) == 0
    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert f"resume=true, but {run_dir} holds no checkpoint yet: the run starts from its beginning" in warned
    assert (run_dir / "results.json").exists()


def test_a_resumed_sweeps_new_job_starts_without_a_warning(compose_config, mnist_root, tmp_path, caplog) -> None:
    # Each job a resumed sweep adds (a new value, a search's new trial) warned as a misspelt folder would.
    (tmp_path / "sweep").mkdir()
    cfg = compose_config([*tiny_overrides(mnist_root), "resume=true"], run="sweep/job0")
    with read_write(cfg.hydra):
        cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig.instance().set_config(cfg)
    with caplog.at_level(logging.INFO):
        assert resume_point(cfg, tmp_path / "sweep" / "job0") is None
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert "job0 holds no checkpoint yet: the job starts from its beginning" in caplog.text


def test_a_completed_run_resumed_as_another_is_refused_and_keeps_its_outcome(compose_config, mnist_root,
                                                                              tmp_path) -> None:
    run_dir = tmp_path / "run"
    assert run_job(compose_config([*tiny_overrides(mnist_root), "clip.value=0.5"]), run_dir) == 0
    kept = files_of(run_dir)
    assert run_job(compose_config([*tiny_overrides(mnist_root), "clip.value=0.7", "resume=true"]), run_dir) == 2
    assert files_of(run_dir) == kept
    assert run_job(compose_config([*tiny_overrides(mnist_root), "clip.value=0.5", "resume=true"]), run_dir) == 0


def test_a_sweep_resumed_with_another_clip_is_refused_before_hydra_writes_anything(
        compose_config, mnist_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep, job = tmp_path / "sweep", tmp_path / "sweep" / "job0"
    job.mkdir(parents=True)
    # Job seed=0 of `python train.py -m seed=0,1 clip.value=0.5`, as Hydra and the run leave it (the
    # folder is found by the overrides it holds).
    overrides = [*tiny_overrides(mnist_root), "clip.value=0.5", "seed=0"]
    assert run_job(compose_config(overrides, run="sweep/job0"), job) == 0
    (job / ".hydra").mkdir()
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    kept = files_of(sweep)
    said = refused(["-m", *tiny_overrides(mnist_root), "clip.value=0.7", "seed=0,1", "resume=true",
                    f"hydra.sweep.dir={sweep}"], capsys)
    assert "job0/checkpoints will do (clip.value=0.7, but the run was trained with 0.5)" in said
    # The sweep's advice, not a single run's (hydra.run.dir would start one run, not the sweep).
    assert said.endswith("resume with the sweep's own command (its multirun.yaml), or start a new sweep in another "
                         "folder (hydra.sweep.dir) without resume=true\n")
    assert files_of(sweep) == kept
