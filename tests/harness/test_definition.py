"""What TensorBoard shows of a run, read back with TensorBoard's own reader: the HPARAMS tab's
hyperparameters and metrics, and epoch-level scalars and images at the same x."""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

from helpers import TRAIN_IMAGES, VAL_IMAGES, free_port, run_train, tiny_overrides
from vae_lightning.harness.definition import (HPARAMS_SUFFIX, changed_keys, defines_the_run, hyperparameters,
                                              run_definition)
from vae_lightning.harness.run import train


def events_of(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def test_a_resumed_runs_hparams_session_is_the_one_its_losses_belong_to(compose_config, mnist_root) -> None:
    # TensorBoard showed the first session it read: trainer.max_epochs 1 beside a 2-epoch run's losses.
    cfg = compose_config([*tiny_overrides(mnist_root), "trainer.max_epochs=1"])
    run_dir = Path(cfg.hydra.runtime.output_dir)
    train(cfg, run_dir)
    train(compose_config([*tiny_overrides(mnist_root), "trainer.max_epochs=2", "resume=true"]), run_dir)
    sessions = []
    for path in run_dir.rglob("events.out.tfevents.*"):
        try:
            content = events_of(path).PluginTagToContent(metadata.PLUGIN_NAME)
        except KeyError:  # a file of scalars and images only
            continue
        if metadata.SESSION_START_INFO_TAG in content:
            sessions.append(metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG]))
    assert [session.hparams["trainer/max_epochs"].number_value for session in sessions] == [2]


def test_a_run_without_a_val_or_test_loss_writes_no_hparams_session(compose_config, mnist_root) -> None:
    # A session without metrics: TensorBoard's HPARAMS tab would list the run with no loss to compare it by.
    cfg = compose_config([*tiny_overrides(mnist_root), "trainer.limit_val_batches=0", "trainer.limit_test_batches=0"])
    run_dir = Path(cfg.hydra.runtime.output_dir)
    results = train(cfg, run_dir)
    assert "loss" not in results["val"] and "loss" not in results["test"]
    assert list(run_dir.rglob("events.out.tfevents.*")) and not list(run_dir.rglob(f"*{HPARAMS_SUFFIX}"))


@pytest.mark.parametrize("x_axis", ["epoch", pytest.param("step", marks=pytest.mark.slow)])
def test_hparams_tab_and_epoch_aligned_curves(x_axis: str, compose_config, mnist_root) -> None:
    cfg = compose_config([*tiny_overrides(mnist_root), "trainer.max_epochs=2", "optim.momentum=0.5",
                          f"x_axis={x_axis}"])
    run_dir = Path(cfg.hydra.runtime.output_dir)
    results = train(cfg, run_dir)
    events = events_of(run_dir)

    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    # No experiment summary: TensorBoard computes one from the sessions, the keys that differ first.
    assert metadata.EXPERIMENT_TAG not in content
    session = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    names = set(session.hparams)
    assert {"optim/momentum", "clip/value", "clip/algorithm", "model/latent_dim", "data/batch_size", "seed"} <= names
    assert not {name for name in names if name.startswith(("logger/", "callbacks/"))}
    # Of the trainer, what changes what a run computes: a debug=fast run does not look like a full one.
    assert {"trainer/max_epochs", "trainer/precision"} <= names
    assert not {"trainer/accelerator", "trainer/devices", "trainer/enable_progress_bar"} & names
    assert not {"data/root", "data/download", "optim/_partial_"} & names
    assert session.hparams["optim/momentum"].number_value == 0.5
    assert session.hparams["model/_target_"].string_value == "VAE"
    assert session.hparams["processes"].number_value == 1  # DDP's world size: each step averages that many batches
    # The table shows each metric's last value: the test loss of results.json.
    assert events.Scalars("test/loss")[-1].value == pytest.approx(results["test"]["loss"])

    val_steps = [event.step for event in events.Scalars("val/loss")]  # one point per validation, no more
    image_steps = [event.step for event in events.Images("samples")]
    train_steps = [event.step for event in events.Scalars("train/loss")]
    assert val_steps == image_steps == train_steps
    if x_axis == "epoch":
        assert val_steps == [0, 1]
    else:  # Lightning's x for epoch-level metrics: the index of the epoch's last step
        steps_per_epoch = (TRAIN_IMAGES - VAL_IMAGES) // 32
        assert val_steps == [steps_per_epoch - 1, 2 * steps_per_epoch - 1]


def hparams_experiment(port: int) -> dict:
    """The HPARAMS tab's experiment as the page asks for it (a POST of a GetExperimentRequest)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/data/plugin/hparams/experiment",
                                     data=json.dumps({"experimentName": ""}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.mark.slow
def test_a_real_tensorboard_lists_what_a_sweep_varies_first(tmp_path: Path, mnist_root: Path) -> None:
    sweep = tmp_path / "sweep"
    done = run_train(["-m", *tiny_overrides(mnist_root), "clip.value=0.1,1.0", "seed=0,1", f"hydra.sweep.dir={sweep}"])
    assert done.returncode == 0, done.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(sweep), "--port", str(port),
                               "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        experiment: dict = {}
        deadline = time.monotonic() + 60
        # TensorBoard answers before it has read every run: wait for all four sessions' hparams.
        while time.monotonic() < deadline and server.poll() is None:
            try:
                experiment = hparams_experiment(port)
            except OSError:
                experiment = {}
            infos = {info["name"]: info for info in experiment.get("hparamInfos", [])}
            if infos.get("seed", {}).get("domainInterval", {}).get("maxValue") == 1:
                break
            time.sleep(0.5)
        names = [info["name"] for info in experiment.get("hparamInfos", [])]
        assert {"clip/value", "seed"} <= set(names[:5]), names
        # ${seed}: a second column of the seed, which a basic launcher's job, given its config resolved, kept.
        assert "data/shuffle_seed" not in names
        assert {"val/loss", "test/loss"} <= {metric["name"]["tag"] for metric in experiment["metricInfos"]}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_boolean_in_the_hparams_row_is_text(compose_config) -> None:
    # torch's writer made it a number: optim/nesterov showed as 0.0.
    shown = hyperparameters(compose_config(["clip=none", "optim.nesterov=false"]), 1)
    assert shown["optim/nesterov"] == "false" and shown["clip/value"] == "none" and shown["optim/momentum"] == 0.9


def test_a_key_that_copies_another_by_interpolation_is_not_a_column_of_its_own(compose_config) -> None:
    # data.shuffle_seed is ${seed}: two columns held the same number. Set apart from it, it is shown.
    assert "data/shuffle_seed" not in hyperparameters(compose_config(["seed=3"]), 1)
    shown = hyperparameters(compose_config(["seed=3", "data.shuffle_seed=5"]), 1)
    assert shown["data/shuffle_seed"] == 5 and shown["seed"] == 3


# One value of each kind of key that changes what a run computes (its loss curve, its weights), as a
# command line would set it.
DEFINING_OVERRIDES = ["clip.value=0.5", "seed=1", "trainer.precision=64-true", "data.val_size=100",
                      "optim.momentum=0.5", "optim.lr=0.02", "data.batch_size=64", "data.split_seed=1",
                      "model.latent_dim=3", "trainer.accumulate_grad_batches=2", "trainer.limit_train_batches=5",
                      "x_axis=epoch", "trainer.overfit_batches=2"]


@pytest.mark.parametrize("override", DEFINING_OVERRIDES)
def test_a_key_that_changes_what_the_run_computes_is_named_when_changed(override: str, compose_config) -> None:
    # Held to be only where or how the run runs, such a key would let resume=true continue a run as another.
    key, _, value = override.partition("=")
    saved, now = run_definition(compose_config([])), run_definition(compose_config([override]))
    assert changed_keys(saved, now)[0].startswith(f"{key}={value}, but the run was trained with ")


def test_a_run_saved_before_overfit_batches_defined_runs_resumes_without_it(compose_config) -> None:
    # trainer.overfit_batches=1 resumed a run of every batch on one batch, without a word; a checkpoint
    # written before the key was recorded is not held to it.
    now = run_definition(compose_config([]))
    assert changed_keys({key: value for key, value in now.items() if key != "trainer.overfit_batches"}, now) == []
    assert defines_the_run("trainer.overfit_batches")


@pytest.mark.parametrize("override", ["data.root=/elsewhere", "data.download=false", "data.eval_batch_size=10",
                                      "trainer.devices=2", "trainer.accelerator=cpu", "trainer=cpu",
                                      "++trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1",
                                      "torch_threads=1", "logger=csv", "resume=true"])
def test_a_key_of_where_or_how_the_run_runs_changes_nothing_it_computes(override: str, compose_config) -> None:
    # Held to define the run, it would refuse a run resumed on another machine, and name its folder.
    definition = run_definition(compose_config([override]))
    assert changed_keys(run_definition(compose_config([])), definition) == []
    assert not defines_the_run(override.lstrip("+").partition("=")[0])


def test_an_override_that_adds_or_removes_a_key_is_read_by_its_key() -> None:
    # `+model.mc_samples=2` names the run's folder as `model.mc_samples=2` would.
    assert (defines_the_run("+model.mc_samples") and defines_the_run("++clip.value")
            and defines_the_run("~optim.momentum"))
    assert not defines_the_run("+trainer.enable_progress_bar") and not defines_the_run("~data.root")


def test_a_key_only_one_side_holds_is_a_change() -> None:
    # A key the saved run did not have (an option's file gained it) or that the run now lacks changes what it
    # computes, and is said so: "trained with None" named a value no command line writes.
    saved = {"seed": 0, "clip.value": 1.0, "data.noise_std": 0.1}
    assert changed_keys(saved, {"seed": 0, "clip.value": 1.0}) == [
        "data.noise_std is not set, but the run was trained with 0.1"]
    assert changed_keys({"seed": 0}, {"seed": 0, "optim.weight_decay": 0.01}) == [
        "optim.weight_decay=0.01, but the run was trained without optim.weight_decay"]


def test_values_are_named_as_the_command_line_writes_them() -> None:
    # Python's words (True, None) were printed: model.tied_weights=True, but the run was trained with False.
    assert changed_keys({"model.tied_weights": False}, {"model.tied_weights": True}) == [
        "model.tied_weights=true, but the run was trained with false"]
    assert changed_keys({"data.noise_std": 0.5}, {"data.noise_std": None}) == [
        "data.noise_std=null, but the run was trained with 0.5"]
    assert changed_keys({"model.hidden_dims": [400]}, {"model.hidden_dims": [400, 200]}) == [
        "model.hidden_dims=[400, 200], but the run was trained with [400]"]


def test_a_change_in_the_third_decimal_is_a_change() -> None:
    assert changed_keys({"clip.value": 1.0}, {"clip.value": 1.01}) == [
        "clip.value=1.01, but the run was trained with 1.0"]
    assert changed_keys({"optim.lr": 0.001}, {"optim.lr": 0.0011}) == [
        "optim.lr=0.0011, but the run was trained with 0.001"]


@pytest.mark.parametrize("key", ["trainer.max_epochs", "trainer.max_steps"])
def test_a_run_continues_with_more_or_unlimited_epochs_and_steps_and_not_fewer(key: str) -> None:
    # -1 (and null, Lightning's default) lifts the limit: the run continues as far as the other one lets it.
    for longer in (11, -1, None):
        assert changed_keys({key: 10}, {key: longer}) == []
    assert changed_keys({key: 10}, {key: 9}) == [f"{key}=9, but the run was trained with 10"]


@pytest.mark.parametrize("key", ["seed", "data.batch_size", "model.latent_dim", "trainer.accumulate_grad_batches",
                                 "trainer.limit_train_batches", "trainer.limit_val_batches"])
def test_only_the_runs_length_may_grow_on_resume(key: str) -> None:
    # A larger batch, latent space or share of the data is another run, not a longer one.
    assert changed_keys({key: 4}, {key: 5}) == [f"{key}=5, but the run was trained with 4"]


def test_a_run_trained_without_an_epoch_limit_resumed_with_one_is_named() -> None:
    # null is Lightning's default (1000 epochs): a limit of 5 is fewer, and is said as such.
    assert changed_keys({"trainer.max_epochs": None}, {"trainer.max_epochs": 5}) == [
        "trainer.max_epochs=5, but the run was trained with null"]


def test_a_key_set_by_a_resolver_is_a_column_of_its_own(compose_config, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only an interpolation of another defining key repeats a column: a learning rate read from the
    # environment (`${oc.env:...}`) is the run's own, and a sweep over it must show it.
    monkeypatch.setenv("VAE_LIGHTNING_TEST_LR", "0.05")
    shown = hyperparameters(compose_config(["optim.lr=${oc.env:VAE_LIGHTNING_TEST_LR}"]), 1)
    assert float(shown["optim/lr"]) == 0.05


@pytest.mark.parametrize("key", ["trainer.max_epochs", "trainer.max_steps"])
def test_a_run_trained_without_a_limit_resumed_with_one_is_refused(key: str) -> None:
    # -1 is no limit, and every run's definition holds trainer.max_steps=-1: a run of 12 steps resumed with
    # trainer.max_steps=3 trained nothing and was recorded as completed, under a limit it had trained past.
    assert changed_keys({key: -1}, {key: 100}) == [f"{key}=100, but the run was trained with -1"]
    assert changed_keys({key: -1}, {key: -1}) == []
