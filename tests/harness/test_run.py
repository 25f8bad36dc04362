"""`python train.py` as users run it: single runs and multiruns in subprocesses, folders, results."""

import csv
import gc
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from helpers import PROJECT, free_port, injected, run_train, start_train, tiny_overrides
from injected import fill_disk
from vae_lightning.analysis.evaluate import load
from vae_lightning.analysis.plot import plot_sweep
from vae_lightning.configs import instantiate_trusted
from vae_lightning.harness.run import run_job
from vae_lightning.harness.runs import lock_holder, read_status
from vae_lightning.paper.loss import kl_divergence
from vae_lightning.paper.module import VAEModule, process_seed, stage_metrics

pytestmark = pytest.mark.slow


def test_multirun_makes_one_folder_per_job_with_events_and_results(mnist_root: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    done = run_train(["-m", "clip.value=0.1,1.0", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(path for path in sweep.iterdir() if path.is_dir() and not path.name.startswith("."))
    # Named by what the sweep varies: the overrides common to every job are in .hydra/overrides.yaml.
    assert [job.name for job in jobs] == ["clip.value=0.1", "clip.value=1.0"]
    for job in jobs:
        assert list(job.glob("events.out.tfevents.*"))
        assert (job / "checkpoints" / "last.ckpt").exists()
        results = json.loads((job / "results.json").read_text())
        assert set(results["val"]) == set(results["test"]) == {"loss", "reconstruction", "kl"}
        assert results["epochs"] == 1 and results["train_seconds"] > 0
        assert (job / ".hydra" / "overrides.yaml").exists()
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*.ckpt"))


def test_help_starts_with_the_commands_users_start_from_and_writes_nothing(tmp_path: Path) -> None:
    done = run_train(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "python train.py [overrides]: train the paper's VAE on MNIST; README.md says more."
    assert any(line.startswith("  python train.py -m clip.value=0.1,0.5,1.0 ") for line in lines[:10])
    assert "optim: adam, adamw, sgd" in lines  # then the groups, as Hydra lists them
    assert list(tmp_path.iterdir()) == []


def test_hydras_config_prints_resolved_and_writes_nothing(tmp_path: Path) -> None:
    # Hydra resolves hydra's keys alone, and conf/config.yaml's output_subdir read `resume`: a traceback.
    done = run_train(["--cfg", "hydra", "--resolve"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "  output_subdir: .hydra" in done.stdout.splitlines()
    assert list(tmp_path.iterdir()) == []


def test_single_run_goes_to_outputs_runs_and_says_where(mnist_root: Path, tmp_path: Path) -> None:
    done = run_train([*tiny_overrides(mnist_root), "seed=3"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    assert str(run_dir) in done.stdout + done.stderr
    assert json.loads((run_dir / "results.json").read_text())["test"]["loss"] > 0
    assert "seed: 3" in (run_dir / ".hydra" / "config.yaml").read_text()


def test_a_sweeps_job_continued_as_a_single_run_says_how_to_draw_the_sweeps_summary_again(
    mnist_root: Path, tmp_path: Path
) -> None:
    # Its summary.md and figure.png still showed the job's first epoch alone, and nothing said so.
    sweep = tmp_path / "sweep"
    done = run_train(["-m", "seed=0,1", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    job = sweep / "seed=1"
    done = run_train([*tiny_overrides(mnist_root), "seed=1", f"hydra.run.dir='{job}'", "resume=true",
                      "trainer.max_epochs=2"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((job / "results.json").read_text())["epochs"] == 2
    assert (f"[WARNING] - seed=1 is a job of the sweep in {sweep}, whose summary.md and figures show the job as it "
            f"was when they were drawn; python -m vae_lightning.plot {sweep} draws them again") in done.stdout
    # Drawn again, the summary shows the job as it is: a resume with nothing to add has nothing to say of it.
    plot_sweep(sweep)
    done = run_train([*tiny_overrides(mnist_root), "seed=1", f"hydra.run.dir='{job}'", "resume=true",
                      "trainer.max_epochs=2"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "completed already" in done.stdout and "is a job of the sweep" not in done.stdout


def test_ddp_on_two_cpu_processes_trains_in_one_run_folder_and_resumes_in_as_many(mnist_root: Path,
                                                                                  tmp_path: Path) -> None:
    # Lightning's DDP launcher starts train.py again for rank 1, in the same run folder: that
    # process must train beside rank 0, not refuse the folder rank 0 is writing.
    run_dir = tmp_path / "ddp"
    done = run_train([*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2", f"hydra.run.dir={run_dir}"],
                     tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert json.loads((run_dir / "results.json").read_text())["test"]["loss"] > 0
    assert (run_dir / "checkpoints" / "last.ckpt").exists() and (run_dir / "train_ddp_process_1.log").exists()
    # Continued in one process, each step would average one batch where it averaged two.
    status = (run_dir / "status.json").read_text()
    resumed = run_train([*tiny_overrides(mnist_root), "trainer.max_epochs=2", f"hydra.run.dir={run_dir}",
                         "resume=true"], tmp_path)
    assert resumed.returncode == 2 and len(resumed.stderr.strip().splitlines()) == 1, resumed.stderr[-3000:]
    assert "gives 1 training process(es), but the run was trained in 2" in resumed.stderr
    assert (run_dir / "status.json").read_text() == status and not list((run_dir / ".hydra").glob("resumed-*"))
    # In as many processes, with as many epochs, there is nothing to resume: the run is left as it was.
    again = run_train([*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2", f"hydra.run.dir={run_dir}",
                       "resume=true"], tmp_path)
    assert again.returncode == 0 and "completed already (epochs: 1); nothing to resume" in again.stdout, again.stderr
    assert (run_dir / "status.json").read_text() == status and not list((run_dir / ".hydra").glob("resumed-*"))


def test_ddp_processes_draw_apart_and_a_resumed_ddp_run_ends_as_the_uninterrupted_one(mnist_root: Path,
                                                                                       tmp_path: Path) -> None:
    # Each further process was seeded as the first, and drew the same latent noise for its own images;
    # seeded apart, each one's random state must also be kept by the checkpoint, which the first writes.
    ddp = [*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = run_train([*ddp, "trainer.max_epochs=2", f"hydra.run.dir={whole}",
                      *injected("probe", "Probe", run_dir=whole)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    seeds = [json.loads((whole / name).read_text())["seed"] for name in ("probe.json", "probe.1.json")]
    assert seeds == [0, process_seed(0, 1)] and seeds[1] != 0
    first = run_train([*ddp, f"hydra.run.dir={cut}"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_train([*ddp, "trainer.max_epochs=2", f"hydra.run.dir={cut}", "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    results = [json.loads((folder / "results.json").read_text()) for folder in (whole, cut)]
    assert (results[1]["val"], results[1]["test"]) == (results[0]["val"], results[0]["test"])


def test_a_ddp_run_resumed_mid_epoch_logs_that_epochs_train_loss_as_the_uninterrupted_one(mnist_root: Path,
                                                                                          tmp_path: Path) -> None:
    # The checkpoint, which the first process writes, held the first's terms of the epoch so far alone: resumed
    # with them, the other process's epoch mean mixed the first's batches with its own (train/loss 54.09 for 53.93).
    ddp = [*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2",
           "+callbacks.checkpoint.every_n_train_steps=1"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = run_train([*ddp, f"hydra.run.dir={whole}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    # 3 steps an epoch in each process: stopped before the last, resumed from the checkpoint after the second.
    first = run_train([*ddp, f"hydra.run.dir={cut}", *injected("fault", "Fault", kind="raise", at_step=2)], tmp_path)
    assert first.returncode == 1, first.stderr[-3000:]
    resumed = run_train([*ddp, f"hydra.run.dir={cut}", "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rows = [list(csv.DictReader((folder / "csv" / "metrics.csv").open())) for folder in (whole, cut)]
    losses = [[row["train/loss"] for row in run if row["train/loss"]] for run in rows]
    assert losses[1] == losses[0] and len(losses[0]) == 1


KILLED_BESIDE_THE_FIRST = (r"DDP process 1 of this run \(pid \d+\) was killed by SIGKILL \(kill, the out-of-memory "
                           r"killer, or a crash: see its log\); resume=true continues from the last checkpoint")


@pytest.mark.parametrize("kind,recorded_error", [
    ("term", r"another process of this DDP run died \(killed, out of memory, or failed: see its log\); "
             r"resume=true continues from the last checkpoint"),
    ("kill", KILLED_BESIDE_THE_FIRST),
    ("kill_as_built", KILLED_BESIDE_THE_FIRST),
])
def test_a_ddp_process_beside_the_first_ended_alone_ends_the_run_recorded_and_said_once(
        kind: str, recorded_error: str, mnist_root: Path, tmp_path: Path) -> None:
    # SIGTERM: Lightning's own SIGTERM handler, run before the run's, waited for the first process in a
    # broadcast, and the first for it in the next exchange of gradients: both waited forever, the run "running".
    # Then, and for `kill -9`, Lightning's child-process observer saw the other's exit code and SIGKILLed the
    # first, slower to record and report the failure on a busy machine: exit -9 (here, 6 s slow: always). Killed
    # as it built the run, before any hook of the first's, which waits for it in gloo's setup: the same.
    run_dir = tmp_path / "run"
    ddp = [*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2", "trainer.max_epochs=2",
           f"hydra.run.dir={run_dir}"]
    faults = [*injected("fault", "Fault", kind=kind, at_step=4, rank=1), *injected("slow", "SlowToFail", seconds=6)]
    done = run_train([*ddp, *faults], tmp_path, timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]
    recorded = json.loads((run_dir / "status.json").read_text())
    assert recorded["status"] == "failed" and re.fullmatch(recorded_error, recorded["error"]), recorded
    assert (done.stdout + done.stderr).count(recorded["error"]) == 1, done.stderr[-3000:]
    resumed = run_train([*ddp, "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("sweep", [False, True])
def test_a_command_whose_run_starts_on_a_full_disk_says_so_in_one_line_and_resumes(sweep: bool, mnist_root: Path,
                                                                                    tmpfs) -> None:
    # Hydra writes a job's .hydra/config.yaml before any code of the project runs in it: on a full disk the
    # command ended in Hydra's traceback, a sweep's under the basic launcher too (its first job fills the disk).
    disk = tmpfs("full", size="5m")
    folder, key = disk / "run", "hydra.sweep.dir" if sweep else "hydra.run.dir"
    arguments = [*(["-m", "seed=0,1"] if sweep else []), *tiny_overrides(mnist_root), f"{key}={folder}"]
    if sweep:
        done = run_train([*arguments, *injected("fill", "Fault", kind="fill_disk", at_step=2)])
        written = f"into {folder}"
    else:
        fill_disk(disk)
        done = run_train(arguments)
        written = f"the run's config in {folder / '.hydra'}"
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: no space left on device writing {written}: free some space, then the same command with "
        f"{key}={folder} resume=true"), done.stderr[-3000:]
    for filler in disk.rglob("filler"):
        filler.unlink()
    resumed = run_train([*arguments, "resume=true"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for run_dir in [folder / "seed=0", folder / "seed=1"] if sweep else [folder]:
        assert read_status(run_dir)["status"] == "completed"


def test_ddp_over_shares_of_unequal_size_scores_the_mean_over_each_test_image_once(mnist_root: Path,
                                                                                   tmp_path: Path) -> None:
    # 64 test images over 3 processes: DistributedSampler padded them to 66, and Lightning's mean across
    # processes divides their image counts as whole numbers (21 for 21.3): the KL came out 1.6% too large.
    run_dir = tmp_path / "ddp3"
    done = run_train([*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=3", f"hydra.run.dir={run_dir}"],
                     tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    module, datamodule, _, _ = load(run_dir, data_root=None)
    datamodule.setup()
    with torch.no_grad():
        output = module.model(datamodule.test_images)
    kl = kl_divergence(output.mean, output.log_variance).item()
    assert json.loads((run_dir / "results.json").read_text())["test"]["kl"] == pytest.approx(kl, rel=1e-5)


@pytest.mark.parametrize("fault,exit_code", [("poison", 3), ("raise", 1)])
def test_a_ddp_process_beside_the_first_ends_with_the_runs_exit_code_and_logs_only_a_crash(
        fault: str, exit_code: int, mnist_root: Path, tmp_path: Path) -> None:
    # Started as torchrun starts them, so that rank 1's exit code is seen: Lightning's own launcher starts
    # it with the same overrides, and never waits for it. A NaN loss is rank 0's one line to say; it
    # printed Hydra's "Error executing job" and some 110 lines of traceback on rank 1, exit 1.
    run_dir = tmp_path / "run"
    command = [*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2", f"hydra.run.dir={run_dir}",
               *injected("fault", "Fault", kind=fault, at_step=1)]
    beside = ["hydra.job.name=train_ddp_process_1", "hydra.output_subdir=null"]
    environment = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2", "NODE_RANK": "0"}
    folders = [tmp_path / "rank0", tmp_path / "rank1"]
    for folder in folders:
        folder.mkdir()
    ranks = [start_train(command, folders[0], env={**environment, "LOCAL_RANK": "0"}),
             start_train([*command, *beside], folders[1], env={**environment, "LOCAL_RANK": "1"})]
    try:
        codes = [rank.wait(timeout=300) for rank in ranks]
    finally:
        for rank in ranks:
            rank.kill()
    output = "".join((folder / name).read_text() for folder in folders for name in ("stdout.txt", "stderr.txt"))
    assert codes == [exit_code, exit_code], output[-3000:]
    assert json.loads((run_dir / "status.json").read_text())["exit_code"] == exit_code
    second = (folders[1] / "stdout.txt").read_text() + (folders[1] / "stderr.txt").read_text()
    assert "Error executing job" not in second
    if fault == "raise":  # a crash's traceback, which may be the only record of why rank 1 died
        assert "injected fault at step 1" in (run_dir / "train_ddp_process_1.log").read_text()
    else:
        assert "Traceback" not in second and "ERROR" not in second, second[-3000:]


def test_missing_data_is_one_clear_line_exit_2_and_nothing_written(tmp_path: Path) -> None:
    done = run_train([f"data.root={tmp_path / 'nothing'}", "data.download=false"], tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: MNIST is not in ") and "put the four IDX files" in lines[0]
    assert list(tmp_path.iterdir()) == []  # refused before the run folder was claimed


def test_every_model_variant_trains_in_one_sweep(mnist_root: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "variants"
    # Untied models run in every other test; here each variant runs tied, in one sweep.
    done = run_train(["-m", "model=vae,ae,linear_ae", "model.tied_weights=true", *tiny_overrides(mnist_root),
                      f"hydra.sweep.dir={sweep}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = {job.name: job for job in sweep.glob("*/")}
    assert sorted(jobs) == ["model=ae", "model=linear_ae", "model=vae"]
    for name, job in jobs.items():
        test = json.loads((job / "results.json").read_text())["test"]
        assert test["reconstruction"] > 0 and (test["kl"] > 0) == (name == "model=vae")  # only the VAE has a KL term
        assert list(job.glob("events.out.tfevents.*"))  # each variant logs to TensorBoard


def test_a_sweep_from_an_experiment_is_named_by_what_varies_and_resumes_into_its_own_jobs(mnist_root: Path,
                                                                                          tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    command = ["-m", "experiment=clip_value", "hydra.sweeper.params={clip.value:'0.1,1.0',seed:'0'}",
               *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}"]
    done = run_train(command, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    names = sorted(path.name for path in sweep.iterdir() if path.is_dir() and not path.name.startswith("."))
    assert names == ["clip.value=0.1", "clip.value=1.0"]
    unfinished = sweep / "clip.value=1.0"
    (unfinished / "results.json").unlink()
    (unfinished / "status.json").write_text('{"status": "failed", "error": "killed"}')

    resumed = run_train([*command, "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(path.name for path in sweep.iterdir() if path.is_dir() and not path.name.startswith(".")) == names
    assert json.loads((unfinished / "status.json").read_text())["status"] == "completed"
    assert list((unfinished / ".hydra").glob("resumed-*"))


def test_results_are_the_best_checkpoints_own_scores(mnist_root: Path, tmp_path: Path) -> None:
    # When the best checkpoint holds the weights in memory, the run scores them without reloading:
    # the numbers must be those of the checkpoint, loaded and scored afresh.
    run_dir = tmp_path / "run"
    done = run_train([*tiny_overrides(mnist_root), "trainer.max_epochs=2", f"hydra.run.dir={run_dir}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    module = VAEModule.load_from_checkpoint(run_dir / results["checkpoint"], weights_only=True)
    data = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml").data, resolve=True)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    val = trainer.validate(module, datamodule=instantiate_trusted(data, "data"), verbose=False)[0]
    test = trainer.test(module, datamodule=instantiate_trusted(data, "data"), verbose=False)[0]
    assert stage_metrics(val, "val") == results["val"] and stage_metrics(test, "test") == results["test"]


def test_train_py_leaves_the_garbage_collector_on_with_the_imports_frozen() -> None:
    # train.py pauses the collector while torch and Lightning import; left off, every run would leak.
    script = (f"import gc, runpy; runpy.run_path({str(PROJECT / 'train.py')!r}); "
              "print(gc.isenabled(), gc.get_freeze_count())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    enabled, frozen = done.stdout.split()
    assert enabled == "True"
    assert int(frozen) > 100_000  # torch's and Lightning's objects, frozen before the collector restarts



def test_the_console_says_nothing_untrue_or_useless(mnist_root: Path, tmp_path: Path) -> None:
    """With an srun on PATH (as on any cluster's login node), a run, its resume and evaluate print
    no advice to prepend srun, no claim that logs will be deleted, no advert, no torch deprecation."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run_dir = tmp_path / "run"
    first = run_train([*tiny_overrides(mnist_root), f"hydra.run.dir={run_dir}"], tmp_path, env=env)
    (run_dir / "status.json").write_text('{"status": "interrupted"}')
    again = run_train([*tiny_overrides(mnist_root), "resume=true", f"hydra.run.dir={run_dir}"], tmp_path, env=env)
    evaluated = subprocess.run([sys.executable, "-m", "vae_lightning.evaluate", str(run_dir), "--data-root",
                                str(mnist_root)], capture_output=True, text=True, env={**os.environ, **env},
                               timeout=300)
    for done in (first, again, evaluated):
        assert done.returncode == 0, done.stderr[-2000:]
        output = done.stdout + done.stderr
        assert "srun" not in output and "will be deleted" not in output
        assert "litlogger" not in output and "LeafSpec" not in output


def test_a_run_frees_its_folder_as_it_ends_not_when_collected(compose_config, mnist_root: Path, tmp_path: Path) -> None:
    # A reference cycle below train() kept the record, and its lock, until a garbage collection: an
    # evaluate in the same process was told the run was "still training".
    gc.disable()
    try:
        assert run_job(compose_config(tiny_overrides(mnist_root)), tmp_path / "run") == 0
        assert lock_holder(tmp_path / "run") is None
    finally:
        gc.enable()


def test_torch_threads_holds_in_each_ddp_process(mnist_root: Path, tmp_path: Path) -> None:
    # Lightning's DDP launcher set the first process's count to the cores over the processes (1 here).
    run_dir = tmp_path / "ddp"
    done = run_train([*tiny_overrides(mnist_root), "trainer=ddp", "trainer.devices=2", "torch_threads=2",
                      f"hydra.run.dir={run_dir}", *injected("probe", "Probe", run_dir=run_dir)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    threads = [json.loads((run_dir / name).read_text())["threads"] for name in ("probe.json", "probe.1.json")]
    assert threads == [2, 2] and "torch uses 2 threads" in done.stdout + done.stderr
