"""Every config in conf/ composes through Hydra's compose API and builds its objects."""

import re
import shutil
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar, Timer
from omegaconf import DictConfig, OmegaConf

from helpers import command_line_refusal, tiny_overrides
from vae_lightning.errors import ConfigError
from vae_lightning.harness import schema
from vae_lightning.harness.command_line import check_command_line, check_jobs, parse_command_line
from vae_lightning.harness.schema import check_ranges
from vae_lightning.harness.run import build_module, build_trainer, run_job
from vae_lightning.harness.runs import read_status
from vae_lightning.configs import CONFIG_DIR
from vae_lightning.paper.module import VAEModule

GROUPS = ("data", "model", "loss", "optim", "clip", "trainer", "logger", "callbacks")


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (Path(CONFIG_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(group, option) for group in GROUPS for option in options(group)])
def test_every_option_composes_and_instantiates(group: str, option: str, compose_config, mnist_root) -> None:
    cfg = compose_config([*tiny_overrides(mnist_root), f"{group}={option}"])
    assert cfg[group] is not None
    datamodule = instantiate(cfg.data)
    module = build_module(cfg)
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.Optimizer)
    if group == "trainer" and option in ("gpu", "ddp"):
        return  # needs GPUs or processes this machine's tests do not start
    trainer = build_trainer(cfg)
    assert trainer.gradient_clip_val == cfg.clip.value
    assert type(datamodule).__name__.endswith("MNISTDataModule")


def test_defaults_are_the_papers_setting(compose_config) -> None:
    # ~local drops `optional local: default` from the defaults list: a machine's own
    # conf/local/default.yaml (git-ignored, e.g. its data.root) is not the project's default.
    cfg = compose_config(["~local"])
    assert cfg.optim._target_ == "torch.optim.SGD" and cfg.optim.momentum == 0.9
    assert (cfg.clip.algorithm, cfg.clip.value) == ("value", 1.0)
    assert list(cfg.model.hidden_dims) == [400] and cfg.model.latent_dim == 20
    assert cfg.loss.reconstruction == "mse" and cfg.model.mc_samples == 1
    assert cfg.data.root == "data" and cfg.data.download is True


def test_only_an_option_built_partially_shows_partial(compose_config) -> None:
    # The schemas would otherwise add `_partial_: false` to every group a user reads (--cfg job, .hydra/).
    cfg = compose_config([])
    shown = {group for group in cfg
             if group != "hydra" and isinstance(cfg[group], DictConfig) and "_partial_" in cfg[group]}
    assert shown == {"optim"} and cfg.optim._partial_ is True
    for option in ("adam", "adamw"):
        assert compose_config([f"optim={option}"]).optim._partial_ is True


def test_shell_overrides_reach_the_objects(compose_config, mnist_root) -> None:
    cfg = compose_config(
        [*tiny_overrides(mnist_root), "optim.lr=0.05", "optim.momentum=0.5", "clip=norm", "clip.value=2",
         "model.hidden_dims=[24,12]", "++trainer.limit_train_batches=3"]
    )
    module = build_module(cfg)
    optimizer = module.configure_optimizers()
    assert optimizer.defaults["lr"] == 0.05 and optimizer.defaults["momentum"] == 0.5
    trainer = build_trainer(cfg)
    assert trainer.gradient_clip_algorithm == "norm" and trainer.gradient_clip_val == 2
    assert trainer.limit_train_batches == 3
    assert module.model.encoder[0].out_features == 24 and module.model.encoder[2].out_features == 12


def test_an_optimizers_gpu_only_option_passes_for_a_job_that_runs_on_a_gpu_elsewhere(compose_config) -> None:
    # The check's test step over a CPU tensor refuses capturable=true, which a GPU run takes (a Slurm node's).
    cfg = compose_config(["trainer=gpu", "optim=adamw", "+optim.capturable=true"])
    assert schema.check_by_building(cfg, runs_here=False) == 1
    with pytest.raises(ConfigError, match="optim: torch.optim.AdamW refuses it: If capturable=True"):
        schema.check_by_building(compose_config(["optim=adamw", "+optim.capturable=true"]))


def test_a_max_time_given_as_a_mapping_reaches_the_trainer_as_its_duration(compose_config, mnist_root) -> None:
    # The ranges' own advice, {hours: 12}: the Trainer got an OmegaConf node, not a dict, and failed as it was built.
    cfg = compose_config([*tiny_overrides(mnist_root), "trainer.max_time={hours:12}"])
    assert schema.check_by_building(cfg) == 1
    timer = next(callback for callback in build_trainer(cfg).callbacks if isinstance(callback, Timer))
    assert timer.time_remaining() == 12 * 3600


def test_the_flags_that_turn_off_checkpoints_or_the_bar_win_over_their_callbacks(compose_config, mnist_root: Path,
                                                                                  tmp_path: Path) -> None:
    cfg = compose_config([*tiny_overrides(mnist_root), "trainer.enable_checkpointing=false"])
    assert not [callback for callback in build_trainer(cfg).callbacks
                if isinstance(callback, (ModelCheckpoint, ProgressBar))]
    # Scored on its final weights, as with no validation.
    assert run_job(cfg, tmp_path / "run") == 0
    assert read_status(tmp_path / "run")["results"]["checkpoint"] is None


def test_adam_option(compose_config) -> None:
    cfg = compose_config(["optim=adam"])
    assert isinstance(build_module(cfg).configure_optimizers(), torch.optim.Adam)


def test_a_threshold_without_an_algorithm_is_refused(compose_config) -> None:
    cfg = compose_config(["clip=none", "clip.value=0.5"])
    with pytest.raises(ConfigError, match="clip.value=0.5 has no effect with clip=none"):
        check_ranges(cfg)


def test_the_adamw_option_trains_from_its_one_file(compose_config, mnist_root: Path, tmp_path: Path) -> None:
    assert (CONFIG_DIR / "optim" / "adamw.yaml").read_text().count("_target_: torch.optim.AdamW") == 1
    assert run_job(compose_config([*tiny_overrides(mnist_root), "optim=adamw"]), tmp_path / "run") == 0
    assert read_status(tmp_path / "run")["status"] == "completed"


def test_a_config_file_that_is_not_yaml_is_named_with_its_line(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Any file of conf/, the options a run does not choose too: each one's class is read for the schema.
    conf = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR, conf)
    (conf / "optim" / "broken.yaml").write_text("lr: [0.1\nmomentum: :\n")
    monkeypatch.setattr(schema, "CONFIG_DIR", conf)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(conf / 'optim' / 'broken.yaml'))}: not valid YAML at "
                                          rf"line 2 \(expected ',' or '\]', but got ':'\); fix the file"):
        schema.register_schemas()


@pytest.mark.parametrize("target,cause", [("torch.optim.Adamw", "No module named 'torch.optim.Adamw'"),
                                          ("os.system", "Located non-class of type 'builtin_function_or_method'")])
def test_an_option_file_naming_no_class_stops_only_a_command_that_chooses_it(
        target: str, cause: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each file's class is read for the schemas: one whose module is installed on another machine alone
    # stopped every command here, --help too (first with a traceback, then with a line naming the file).
    conf = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR, conf)
    (conf / "optim" / "mine.yaml").write_text(f"_target_: {target}\n_partial_: true\nlr: 0.1\n")
    monkeypatch.setattr(schema, "CONFIG_DIR", conf)
    schema.register_schemas()
    assert "mine" not in schema.group_options()["optim"] and "sgd" in schema.group_options()["optim"]
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", target)
    with pytest.raises(ConfigError, match=rf"^optim: _target_ {target} is not a class that can be imported "
                                          rf"\({re.escape(cause)}.*\); fix its file"):
        schema.check_node_keys(OmegaConf.create({"_target_": target, "_partial_": True, "lr": 0.1}), "optim")


def test_a_model_whose_constructor_reads_its_tensors_is_checked_off_the_meta_device(
        compose_config, monkeypatch: pytest.MonkeyPatch) -> None:
    # `.item()` of a meta tensor raised, and the check's traceback stopped a model that builds.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "own_classes.PriorVAE")
    cfg = compose_config(["model._target_=own_classes.PriorVAE", "+model.prior_scale=2.0"])
    schema.check_module(cfg)
    cfg.model.prior_scale = -1.0
    with pytest.raises(ConfigError, match=r"^model.prior_scale: allowed > 0$"):
        schema.check_module(cfg)


@pytest.mark.parametrize("model,says", [
    ("torch.nn.Identity", "model: Identity has no input_dim, the pixels of an image it takes; set self.input_dim in "
                          "its constructor"),
])
def test_a_model_the_module_cannot_train_is_refused_as_it_is_built(model: str, says: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", model)
    with pytest.raises(ConfigError, match=f"^{re.escape(says)}$"):
        VAEModule(model={"_target_": model}, loss={"_target_": "vae_lightning.paper.loss.VAELoss"},
                  optim={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})


def test_a_metric_a_callback_of_ones_own_may_log_can_be_monitored(compose_config,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Refused as "no such metric is logged", though the user's callback logged it.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS",
                       "own_classes.LatentVariance,lightning.pytorch.callbacks.EarlyStopping")
    stop = "+callbacks.stop={_target_:lightning.pytorch.callbacks.EarlyStopping,monitor:val/latent_var}"
    with pytest.raises(ConfigError, match=r"^callbacks.stop.monitor=val/latent_var: no such metric is logged"):
        schema.check_callbacks(compose_config([stop]))
    schema.check_callbacks(compose_config([stop, "+callbacks.latent={_target_:own_classes.LatentVariance}"]))


def test_the_models_input_is_held_to_28x28_pixels_only_for_the_projects_data(compose_config) -> None:
    # A data module of one's own, serving 14x14 images, could not be used with the project's VAE.
    check_ranges(compose_config(["data._target_=own_data.Small", "model.input_dim=196"]))
    with pytest.raises(ConfigError, match=r"^model.input_dim=196 is out of range: allowed 784, "
                                          r"the pixels of the data's"):
        check_ranges(compose_config(["model.input_dim=196"]))


@pytest.mark.parametrize("model,says", [
    ("own_classes.NoGeneratorVAE", "model: NoGeneratorVAE.forward cannot be called as the run calls it, "
                                   "forward(x, generator=None) (got an unexpected keyword argument 'generator'); give "
                                   "it that signature"),
    ("own_classes.TupleVAE", "model: TupleVAE.forward returns a tuple; return a "
                             "vae_lightning.paper.model.VAEOutput(reconstruction, mean, log_variance)"),
    ("own_classes.CroppingVAE", "model: CroppingVAE's reconstruction has shape [1, 2, 783] for 2 images of "
                                "model.input_dim=784 pixels; decode to images of as many pixels as it takes"),
])
def test_a_model_whose_forward_the_run_cannot_use_is_refused_by_the_check(model: str, says: str, compose_config,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Each built, and failed the run at its first step with a traceback, after its folder was made.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", model)
    with pytest.raises(ConfigError, match=f"^{re.escape(says)}"):
        schema.check_module(compose_config([f"model._target_={model}"]))


@pytest.mark.parametrize("overrides,says", [
    (["model._target_=own_classes.FailingVAE"], "model: FailingVAE fails on a batch of 2 blank images of "
                                                "model.input_dim=784 pixels (ValueError: a bug of its own); fix its "
                                                "code, or model.input_dim"),
    (["loss._target_=own_classes.TotalLoss"], "loss: TotalLoss.forward returns a Tensor; return a "
                                              "vae_lightning.paper.loss.LossTerms(total, reconstruction, kl)"),
    # The loss's own refusal, said as it is, not as a failure of the loss's code.
    (["model._target_=own_classes.DrawlessVAE"], "model: its reconstruction has shape [2, 784] for images of [2, 784]; "
                                                 "return it as (draws, batch, pixels)"),
])
def test_a_model_or_loss_that_fails_on_blank_images_is_refused_by_the_check(overrides: list[str], says: str,
                                                                           compose_config,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", ",".join(override.partition("=")[2] for override in overrides))
    with pytest.raises(ConfigError, match=f"^{re.escape(says)}"):
        schema.check_module(compose_config(overrides))


def test_a_model_that_reads_a_value_of_its_input_is_left_to_the_run(compose_config,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The meta device has no values to read: the check cannot judge such a forward, and lets it run.
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "own_classes.ReadingVAE")
    schema.check_module(compose_config(["model._target_=own_classes.ReadingVAE"]))


@pytest.mark.parametrize("arguments,line", [
    (["torch_threads=0"], "torch_threads=0 is out of range: allowed a number >= 1 or null"),
    (["data.eval_batch_size=0"], "data.eval_batch_size=0 is out of range: allowed a number >= 1"),
    # A string of devices is Lightning's too: '0' is no device.
    (["trainer.devices='0'"], "trainer.devices=0 is out of range: allowed a number >= 1, -1 (all)"),
    (["+trainer.use_distributed_sampler=false"],
     "trainer.use_distributed_sampler: not set here; it comes from the data module, which shards each epoch itself"),
    (["+trainer.logger=false"], "trainer.logger: not set here; it comes from the logger group"),
    # Lightning's own name for the clip, given as a key of the run's config.
    (["gradient_clip_val=1"], "gradient_clip_val: not set here; it comes from clip.value"),
    (["trainer.max_time='00:12:00:00x'"], "trainer.max_time=00:12:00:00x is out of range: allowed DD:HH:MM:SS"),
    # Any loss maximised keeps the worst checkpoint as the best, not only val/loss.
    (["callbacks.checkpoint.monitor=val/reconstruction", "callbacks.checkpoint.mode=max"],
     "callbacks.checkpoint.mode=max would keep the highest val/reconstruction as the best"),
])
def test_a_value_out_of_range_is_one_line_exit_2_and_writes_nothing(arguments: list[str], line: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture) -> None:
    said = command_line_refusal(arguments, tmp_path, monkeypatch, capsys)
    assert said.startswith("error: " + line), said


def test_the_trainer_keys_a_misspelling_is_told_to_choose_from_leave_out_those_other_groups_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # Listed, trainer.logger or trainer.gradient_clip_val would only be refused in turn.
    said = command_line_refusal(["trainer.loger=1"], tmp_path, monkeypatch, capsys)
    allowed = said.partition("; allowed: ")[2].split(", ")
    assert "max_epochs" in allowed and not set(allowed) & set(schema.OWNED_ELSEWHERE), said


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_float16_mixed_precision_on_auto_is_refused_without_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    # trainer.accelerator=auto picks the CPU here, on which Lightning would run bf16-mixed instead.
    said = command_line_refusal(["trainer.precision=16-mixed"], tmp_path, monkeypatch, capsys)
    assert said.startswith("error: trainer.precision=16-mixed: a CPU has no float16 mixed")


def test_a_strategy_forking_its_processes_from_a_server_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("VAE_LIGHTNING_ALLOWED_TARGETS", "lightning.pytorch.strategies.DDPStrategy")
    said = command_line_refusal(["trainer.strategy={_target_:lightning.pytorch.strategies.DDPStrategy,"
                                 "start_method:forkserver}", "trainer.devices=2", "trainer.accelerator=cpu"],
                                tmp_path, monkeypatch, capsys)
    assert said.startswith(
        "error: trainer.strategy=lightning.pytorch.strategies.DDPStrategy: its processes, forkservered, keep the")


@pytest.mark.parametrize("overrides", [
    ["optim.momentum=0"],  # plain SGD: [0, 1) holds 0
    ["trainer.val_check_interval=1.0"],  # once an epoch, at its end
    # max_steps ends the run first: the epochs after the last validated one never train.
    ["trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2", "trainer.max_steps=10"],
    # Without clipping, the fused kernel's own unscaling clips nothing.
    ["optim=adam", "+optim.fused=true", "clip=none", "trainer.precision=bf16-mixed"],
])
def test_a_value_within_range_passes(overrides: list[str], mnist_root: Path, tmp_path: Path) -> None:
    arguments = [*tiny_overrides(mnist_root), *overrides, f"hydra.run.dir={tmp_path / 'run'}"]
    assert check_command_line(arguments) == (arguments, None)


def test_a_clip_option_of_ones_own_with_a_misspelt_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine" / "clip").mkdir(parents=True)
    (tmp_path / "mine" / "clip" / "mine.yaml").write_text("algorithm: norm\nvalue: 1.0\nvalu: 2.0\n")
    with pytest.raises(ConfigError, match=r"^clip.valu: no such key; allowed: algorithm, value$"):
        check_jobs(parse_command_line(["-cd", str(tmp_path / "mine"), "clip=mine"]), str(CONFIG_DIR))


def test_a_boolean_is_no_number_of_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    # The Trainer types val_check_interval as int or float, which a schema leaves untyped: true is True, and 1.
    assert command_line_refusal(["trainer.val_check_interval=true"], tmp_path, monkeypatch, capsys) == (
        "error: trainer.val_check_interval=True is out of range: allowed a fraction of an epoch in (0, 1], a number of "
        "batches >= 1, or null")
    assert list(tmp_path.iterdir()) == []
