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
from vae_lightning.harness.definition import hyperparameters
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


@pytest.mark.parametrize("x_axis", ["epoch", pytest.param("step", marks=pytest.mark.slow)])
def test_hparams_tab_and_epoch_aligned_curves(x_axis: str, compose_config, mnist_root) -> None:
    cfg = compose_config([*tiny_overrides(mnist_root), "trainer.max_epochs=2", "optim.momentum=0.5", f"x_axis={x_axis}"])
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
