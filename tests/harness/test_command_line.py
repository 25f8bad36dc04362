"""Bad config input stops `python train.py` at once: one line naming the key, exit 2, nothing written;
our reading of its flags against Hydra's own parser, which fails here first if Hydra changes it."""

import argparse
import importlib
import importlib.util
import inspect
import itertools
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torchvision import datasets

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra._internal.utils import get_args_parser  # only to compare: the package itself never imports it
from hydra.core.override_parser.overrides_parser import OverridesParser
from lightning.fabric.loggers import Logger
from omegaconf import OmegaConf

from helpers import TRAIN_IMAGES, VAL_IMAGES, command_line_refusal, run_train, tiny_overrides, write_mnist
from injected import fill_disk
from vae_lightning.harness.command_line import (check_command_line, check_jobs, check_writable, command_line_parser,
                                                listed_globs, parse_command_line, prepare, quoted, runs_nothing)
from vae_lightning.analysis.plot import expected_jobs
from vae_lightning.harness.run import run_job
from vae_lightning.errors import ConfigError
from vae_lightning.configs import CONFIG_DIR
from vae_lightning.paper.data import MNISTDataModule

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["clip.vlaue=1"], "clip.vlaue: no such key; allowed: algorithm, value"),
        (["optim.momentum=abc"], "optim.momentum: Value 'abc' of type 'str' could not be converted to Float"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs: Value 'abc'"),
        # torch's refusal names no key: the check finds the one without which the optimizer builds.
        (["optim=adam", "optim.betas=[0.9]"], "optim: torch.optim.Adam refuses it: list index out of range; fix "
                                              "optim.betas=[0.9]"),
        # A class that takes **kwargs has its named arguments' types checked all the same.
        (["logger.tensorboard.name=[a]"], "logger.tensorboard.name: Cannot convert 'ListConfig' to string"),
        # Its **kwargs build torch's SummaryWriter, whose arguments it takes; it sets log_dir itself.
        (["+logger.tensorboard.flush_sec=5"], "logger.tensorboard.flush_sec: no such key; allowed: save_dir, name, "
                                               "version, log_graph, default_hp_metric, prefix, sub_dir, comment, "
                                               "purge_step, max_queue, flush_secs, filename_suffix"),
        (["+logger.tensorboard.log_dir=x"], "logger.tensorboard.log_dir: no such key; allowed: save_dir,"),
        (["clip.value=-0.5"],
         "clip.value=-0.5 is out of range: allowed a finite number > 0 (clip=none turns clipping off)"),
        (["clip.value=0"],
         "clip.value=0.0 is out of range: allowed a finite number > 0 (clip=none turns clipping off)"),
        # Not params, which the module gives the optimizer: listed, it was only refused in turn.
        (["+optim.lrr=0.1"], "optim.lrr: no such key; allowed: lr, momentum"),
        # An option without a schema (one file of its own): Hydra's advice was to add the key with `+`.
        (["optim=adamw", "optim.weight_decy=0.1"], "optim.weight_decy: no such key; allowed: lr, betas, eps, "
                                                   "weight_decay"),
        (["optim.params=[1]"], "optim.params: not set here; it comes from the module, which gives the optimizer the "
                               "model's parameters"),
        (["optim=adamw", "+optim.params=[1]"], "optim.params: not set here; it comes from the module"),
        (["++data.batchsize=64"], "data.batchsize: no such key; allowed: root, download, batch_size"),
        (["~model"], "model: a run needs one; choose one of model=ae, model=linear_ae, model=vae"),
        (["schema/optim=adam"], "schema/optim=adam: the schema/ groups are the options' typed schemas, which "
                                "their files name; choose the option itself, e.g. optim=adam"),
        (["~clip"], "clip: a run needs one; choose one of clip=none, clip=norm, clip=value"),
        (["=5"], "=5: an override needs a key, as in key=value"),
        (["loss.reconstruction=l1"], "loss.reconstruction=l1 is out of range: allowed one of mse, bce"),
        # A linear decoder's outputs leave [0, 1]: binary cross-entropy failed at the first step.
        (["model=linear_ae", "loss.reconstruction=bce"], "loss.reconstruction=bce needs outputs in [0, 1], which "
                                                         "model.output_activation=identity does not keep them in: set "
                                                         "model.output_activation=sigmoid, or loss.reconstruction=mse"),
        (["trainer.precision=banana"], "trainer.precision=banana is out of range: allowed one of 64, 32, 16, "),
        (["+sed=1"], "sed: no such key, nothing would read it; allowed: seed, torch_threads, resume"),
        (["+trainer.gradient_clip_val=3"], "trainer.gradient_clip_val: not set here; it comes from clip.value"),
        (["+callbacks.checkpoint.every_n_train_step=3"], "callbacks.checkpoint.every_n_train_step: no such key"),
        (["optim.momentum=1"], "optim.momentum=1.0 is out of range: allowed [0, 1)"),
        (["optim.momentum=-0.1"], "optim.momentum=-0.1 is out of range: allowed [0, 1)"),
        (["model.latent_dim=0"], "model.latent_dim=0 is out of range: allowed a number >= 1"),
        (["model.mc_samples=0"], "model.mc_samples=0 is out of range"),
        (["model.hidden_dims=[400,0]"], "model.hidden_dims=[400, 0] is out of range"),
        (["model.hidden_dims=abc"], "model.hidden_dims=abc is not a list of sizes: write model.hidden_dims=[400]"),
        (["model.hidden_dims=[1.5]"], "model.hidden_dims=[1.5] is out of range: allowed a list of whole numbers"),
        # A key into a list: OmegaConf's own line named no override.
        (["seed=1", "model.hidden_dims.x=1"], "model.hidden_dims.x=1: cannot be set (invalid literal for int() with "
                                              "base 10: 'x'); a list's entries are set by number (key.0), or whole"),
        (["model.hidden_dims=[400,abc]"], "model.hidden_dims=[400, 'abc'] is out of range: allowed a list of whole"),
        (["data.noise_std=inf"], "data.noise_std=inf is out of range: allowed a finite number >= 0"),
        (["clip.algorithm=clamp"], "clip.algorithm=clamp is out of range: allowed one of value, norm, null"),
        (["clip=vaule"], "clip=vaule: no such option; choose one of none, norm, value"),
        (["seeed=1"], "seeed: no such key; allowed: seed"),
        # Hydra's own line, where the config names no key or file of its failure.
        (["~seeed"], "Could not delete from config. 'seeed' does not exist."),
        (["trainer.gradient_clip_val=2"], "trainer.gradient_clip_val: not set here; it comes from clip.value"),
        (["clip=none", "clip.value=1"], "clip.value=1.0 has no effect with clip=none"),
        (["-m", "clip.value=0.5,-1"], "clip.value=-1.0 is out of range"),
        (["clip.value=0.5,1"], "clip.value=0.5,1 lists several values: add -m"),
        # Named as typed, not as the options the glob matched.
        (["optim=glob(*)"], "error: optim=glob(*) lists several values: add -m"),
        (["-m", "trainer=ddp", "trainer.devices=2", "seed=0,1"], "trainer.strategy=ddp cannot run inside a sweep (-m)"),
        (["-m", "hydra/launcher=parallel", "trainer=ddp", "trainer.devices=2", "seed=0,1"],
         "trainer.strategy=ddp cannot run inside a sweep (-m)"),
        (["-m", "hydra/launcher=slurm", "trainer=ddp", "trainer.devices=2", "seed=0,1"],
         "hydra.launcher.tasks_per_node=1 but trainer.devices=2"),
        (["-m", "hydra/launcher=slurm", "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=60", "seed=0,1"],
         "hydra.launcher.signal_delay_s=60 is not less than hydra.launcher.timeout_min=1 (60 s): Slurm would send each "
         "job its time-limit warning (SIGUSR2) as it starts"),
        # DDP all the same: each job's second process ran its own copy of the sweep, into other jobs' folders.
        (["-m", "trainer.devices=2", "trainer.accelerator=cpu", "seed=0,1"],
         "trainer.devices=2 (DDP in 2 processes) cannot run inside a sweep (-m)"),
        (["-m", "trainer.devices=1,2", "trainer.accelerator=cpu"], "trainer.devices=2 (DDP in 2 processes) cannot run"),
        # Its processes kept the epochs and curves: results.json said 0 epochs, metrics.csv held the test row alone.
        (["trainer.strategy=ddp_spawn", "trainer.devices=2", "trainer.accelerator=cpu"],
         "trainer.strategy=ddp_spawn: its processes, spawned, keep the epochs trained and the logged curves to "
         "themselves (results.json would say 0 epochs); use trainer.strategy=ddp"),
        (["trainer.strategy=ddp_notebook"], "trainer.strategy=ddp_notebook: its processes, forked, keep the epochs"),
        # The Trainer's constructor needs a package this machine lacks: it said "lightning.Trainer cannot be imported".
        (["trainer.precision=transformer-engine"], "trainer: Requirement 'transformer_engine>=0.11.0' not met."),
        (["-m", "hydra/launcher=slurm", "hydra.launcher.tasks_per_node=2", "seed=0,1"],
         "hydra.launcher.tasks_per_node=2 but trainer.devices=1"),
        (["-m", "hydra/launcher=slurm", "hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2",
          "trainer.num_nodes=2", "seed=0,1"], "hydra.launcher.nodes=1 but trainer.num_nodes=2"),
        (["trainer.devices=0"], "trainer.devices=0 is out of range: allowed a number >= 1, -1 (all)"),
        (["trainer.max_time=abc"], "trainer.max_time=abc is out of range: allowed DD:HH:MM:SS"),
        (["trainer.check_val_every_n_epoch=0"], "trainer.check_val_every_n_epoch=0 is out of range"),
        # The third epoch trained, unvalidated, and the run was scored on the second's checkpoint.
        (["trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2"],
         "trainer.max_epochs=3 is not a multiple of trainer.check_val_every_n_epoch=2: its last 1 epoch(s) would train "
         "unvalidated, for nothing (the run is scored on its best validated checkpoint); "
         "give trainer.max_epochs=2 or 4"),
        (["trainer.accumulate_grad_batches=0"], "trainer.accumulate_grad_batches=0 is out of range"),
        (["trainer.max_epochs=0"], "trainer.max_epochs=0 is out of range: allowed a number >= 1, -1 (no limit)"),
        (["trainer.limit_train_batches=0"], "trainer.limit_train_batches=0 is out of range"),
        (["model.input_dim=100"], "model.input_dim=100 is out of range: allowed 784"),
        (["seed=99999999999"], "seed=99999999999 is out of range: allowed a number in [0, 4294967295]"),
        (["torch_threads=2147483648"],
         "torch_threads=2147483648 is out of range: allowed a number >= 1 or null (at most 2147483647"),
        (["callbacks.images.count=0"], "callbacks.images.count=0 is out of range"),
        (["callbacks.gradients.every_n_steps=0"], "callbacks.gradients.every_n_steps=0 is out of range"),
        (["optim.lr=inf"], "optim.lr=inf is out of range: allowed a finite number > 0"),
        (["clip.value=inf"], "clip.value=inf is out of range: allowed a finite number > 0"),
        # Said as Python's None, and a quoted number as if an environment variable had given it.
        (["optim.lr=null"], "optim.lr=null is out of range: allowed a finite number > 0"),
        # Trained until the kernel killed it, its status.json left `running`.
        (["model.latent_dim=1000000000"], "model: its weights take 4,808.0 GB, and training them takes at least "
                                          "28,848.0 GB, more than this machine's"),
        (["model.latent_dim=1000000000", "optim=adam", "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu"],
         "model: its weights take 4,808.0 GB, and training them in its 2 processes takes at least 67,312.0 GB"),
        (["model.hidden_dims=null"], "model.hidden_dims=null is not a list of sizes: write model.hidden_dims=[400]"),
        (["-m", "hydra/launcher=parallel", "seed=0,1", "hydra.launcher.n_jobs=null"],
         "hydra.launcher.n_jobs=null is out of range: allowed a whole number >= 1"),
        (["optim.lr='0.02'"], "optim.lr=0.02 is out of range: allowed a finite number > 0; '0.02' is text, in quotes: "
                              "write it without them, optim.lr=0.02"),
        (["trainer.precision=16-true"], "trainer.precision=16-true: the loss overflows float16 weights"),
        (["trainer.precision=16-mixed", "trainer.accelerator=cpu"],
         "trainer.precision=16-mixed: a CPU has no float16 mixed precision"),
        (["optim.lr=${nope}"], "optim.lr: Interpolation key 'nope' not found; fix the interpolation, or give a value"),
        # Read outside the composed job's checks (the data module's, the folder's), these raised a traceback.
        (["data.root=${oc.env:VAE_LIGHTNING_UNSET}"], "data.root: KeyError raised while resolving interpolation: "
                                                      "\"Environment variable 'VAE_LIGHTNING_UNSET' not found\"; fix"),
        (["resume=${oc.env:VAE_LIGHTNING_UNSET}"], "resume: KeyError raised while resolving interpolation"),
        # Hydra's own error of it is empty: the check failed on an IndexError.
        (["hydra.overrides.hydra=${now:}"], "hydra.overrides.hydra: TypeError raised while resolving interpolation"),
        (["--foo", "debug=fast"], "--foo: no such flag (python train.py --hydra-help lists Hydra's)"),
        # Hydra's parser printed its usage, eight lines, for these.
        (["--cfg", "bogus"], "--cfg: invalid choice: 'bogus' (choose from 'job', 'hydra', 'all')"),
        (["-m", "--cfg"], "--cfg: expected one argument (python train.py --hydra-help lists Hydra's flags)"),
        (["debug=fast", "-m", "seed=0,1"], "seed=0,1: Hydra reads the overrides as one group of words"),
        (["search=sgd"], "search=sgd sets up a search, which runs its trials as a sweep: add -m"),
        # Hydra composes them to print them: a traceback, or its own lines, without the check.
        (["--help", "optim=adamm"], "optim=adamm: no such option; choose one of adam, adamw, sgd"),
        (["--cfg", "job", "clip.vlaue=1"], "clip.vlaue: no such key; allowed: algorithm, value"),
        # Hydra's traceback as it printed the config; its exit 1; its traceback, the run's folder claimed, left empty.
        (["--cfg", "job", "--resolve", "optim.lr=${nope}"],
         "error: optim.lr: Interpolation key 'nope' not found; fix the interpolation, or give a value"),
        (["--cfg", "all", "--resolve", "model.hidden_dims=[8,${oc.env:VAE_LIGHTNING_UNSET}]"],
         "error: model.hidden_dims[1]: KeyError raised while resolving interpolation"),
        (["--cfg", "job", "-p", "optimm"], "error: --package optimm: no such key in the config --cfg job prints"),
        (["--resolve", "debug=fast"], "error: --resolve resolves the config that --cfg or --help prints, and this "
                                      "command prints none; add --cfg job, or drop --resolve"),
        (["resume=true"], "resume=true continues a run: give its folder, hydra.run.dir=<run> (under outputs/runs/)"),
        (["-m", "seed=range(0,3,0)"], "seed=range(0,3,0): range() arg 3 must not be zero"),
        (["-m", "seed=range(0,100000000)"],
         "seed=range(0,100000000): more than 10,000 values, each a job of the sweep"),
        (["-m", "seed=range(3,0)"], "seed=range(3,0): gives no value, so the sweep would run nothing"),
        (["-m", "seed=0,1", "data.val_size=0"], "data.val_size=0 leaves a sweep's jobs no val loss"),
        (["-m", "seed=0,1", "~logger.csv"], "logger: a sweep's summary and figures read each job's csv/metrics.csv"),
        (["-m", "seed=0,1", "logger.csv.name=logs"], "logger: a sweep's summary and figures read each job's csv/"),
        # Lightning turned the loggers off: the sweep wrote no figure and a summary of no value, and exited 0.
        # The sweep ran its jobs, then said it ran none and wrote no figure, exit 0; a resumed run's config
        # overwrote the original's.
        (["-m", "seed=0,1", "hydra.output_subdir=null"],
         "error: hydra.output_subdir=null: each run keeps its config in .hydra/ (a resumed run's in "
         ".hydra/resumed-<time>/ beside it), where resume=true and a sweep's summary find it; drop the override"),
        (["hydra.output_subdir=meta"], "error: hydra.output_subdir=meta: each run keeps its config in .hydra/"),
        (["-m", "seed=0,1", "trainer.fast_dev_run=true"],
         "trainer.fast_dev_run=True runs each job without its loggers, but a sweep's summary and figures read each "
         "job's csv/metrics.csv; check a setup with debug=fast, or run single runs"),
        (["-m", "seed=0,1", "trainer.check_val_every_n_epoch=21"],
         "trainer.check_val_every_n_epoch=21 is more than trainer.max_epochs=20, which leaves a sweep's jobs no val"),
        (["callbacks.checkpoint.mode=max"],
         "callbacks.checkpoint.mode=max would keep the highest val/loss as the best"),
        (["optim.weight_decay=-1"], "optim: torch.optim.SGD refuses it: Invalid weight_decay value: -1; fix "
                                    "optim.weight_decay=-1"),
        (["optim.foreach=true", "optim.fused=true"], "optim: torch.optim.SGD refuses it: `fused` and `foreach` cannot "
                                                      "be `True` together."),
        # torch's TypeError went on with its C++ stack, over many lines.
        (["model.latent_dim=9223372036854775808"],
         "model: empty(): argument 'size' failed to unpack the object at pos 1"),
        (["optim=adam", "optim.betas=[0.9,2]"],
         "optim: torch.optim.Adam refuses it: Invalid beta parameter at index 1"),
        (["trainer.limit_val_batches=-1"], "trainer: You have passed invalid value -1 for limit_val_batches"),
        # The check built the Trainer without them, and the run failed building them, its folder made.
        (["trainer.plugins=-inf"], "trainer.plugins=-inf: give a list of plugins, each {_target_: ...}, or []"),
        (["trainer.plugins.0=null"], "trainer.plugins=[None]: give a list of plugins"),
        (["callbacks.checkpoint.save_top_k=-2"],
         "callbacks.checkpoint: Invalid value for save_top_k=-2. Must be >= -1"),
        (["+callbacks.checkpoint.every_n_train_steps=-3"],
         "callbacks.mid_epoch_checkpoint: Invalid value for every_n_"),
        (["trainer.max_steps=0"], "trainer.max_steps=0 is out of range: allowed a number >= 1, -1 (no limit) or null"),
        (["trainer.val_check_interval=0"], "trainer.val_check_interval=0 is out of range"),
        # Nothing would start the other node: the run would wait for it forever, deaf to SIGTERM (measured).
        (["trainer.num_nodes=2"], "trainer.num_nodes=2: nothing here starts the other nodes"),
        (["-m", "seed=0,1", "trainer.num_nodes=2"], "trainer.num_nodes=2: nothing here starts the other nodes"),
        # Lightning would fail at the first checkpoint, after an epoch of training.
        (["callbacks.checkpoint.dirpath=/proc/checkpoints"], "callbacks.checkpoint.dirpath=/proc/checkpoints cannot be "
                                                              "written"),
        # A logger failed with a traceback as the run started, its folder made.
        (["logger.tensorboard.save_dir=/proc/x"], "logger.tensorboard.save_dir=/proc/x cannot be written"),
        (["logger.csv.save_dir=/proc/x"], "logger.csv.save_dir=/proc/x cannot be written"),
        # Kept by the constructors, they failed the run, its folder made.
        (["callbacks.checkpoint.dirpath={}"],
         "callbacks.checkpoint.dirpath={}: a folder is named by its path; give one"),
        (["logger.tensorboard.save_dir={}"], "logger.tensorboard.save_dir={}: a folder is named by its path; give one"),
        # Hydra's basic launcher runs one job at a time and takes no settings.
        (["-m", "seed=0,1", "hydra.launcher.n_jobs=2"],
         "hydra.launcher.n_jobs: no such key; hydra.launcher takes none"),
        # Added with `+`, the basic launcher's failed after multirun.yaml was written, and a sweeper's was ignored.
        (["-m", "seed=0,1", "+hydra.launcher.n_jobs=2"],
         "hydra.launcher.n_jobs: no such key; hydra.launcher takes none"),
        (["-m", "seed=0,1", "hydra.launcher._target_=nope.Launcher"],
         "hydra.launcher: _target_ nope.Launcher is not a class that can be imported (No module named 'nope')"),
        (["-m", "seed=0,1", "hydra/launcher=parallel", "hydra.launcher.n_job=3"],
         "hydra.launcher.n_job: no such key; allowed: n_jobs"),
        (["-m", "seed=0,1", "hydra/launcher=parallel", "+hydra.launcher.n_job=3"],
         "hydra.launcher.n_job: no such key; allowed: n_jobs"),
        (["-m", "search=sgd", "+hydra.sweeper.n_trial=3"],
         "hydra.sweeper.n_trial: no such key; allowed: direction, study_name, storage, n_trials, n_jobs, "
         "max_failure_rate, params"),
        (["-m", "seed=0,1", "hydra/launcher=slurm", "+hydra.launcher.partitionn=x"],
         "hydra.launcher.partitionn: no such key; allowed: submitit_folder, timeout_min"),
        # A key the class takes and the option's file leaves out is added with `+`: AdamW takes amsgrad.
        (["optim=adamw", "optim.amsgrad=true"], "optim.amsgrad: no such key; to add it: +optim.amsgrad=<value>"),
        (["logger.csv.flush_logs_every_n_steps=0"], "logger.csv.flush_logs_every_n_steps=0 is out of range"),
        # The job's folder, which Hydra sets as it runs the job, read null in the check: the run failed on it.
        (["trainer.limit_train_batches=${hydra:runtime.output_dir}"], "trainer.limit_train_batches=/tmp/job_folder_"),
        (["trainer.max_time=${hydra:runtime.output_dir}"], "is out of range: allowed DD:HH:MM:SS (00:12:00:00 is 12"),
        (["trainer.limit_test_batches=0"],
         "trainer.limit_test_batches=0 is out of range: allowed a fraction in (0, 1]"),
        # Lightning's own ValueError, named by the key of the config it was built from.
        (["trainer.strategy=banana"], "error: trainer: You selected an invalid strategy name: `strategy='banana'`"),
        # Lightning would refuse it after the first epoch trained.
        (["callbacks.checkpoint.monitor=val/nope"],
         "callbacks.checkpoint.monitor=val/nope: no such metric is logged; choose one of val/loss, val/reconstruction"),
        # Not a name, it passed the check and failed the run after its first epoch.
        (["callbacks.checkpoint.monitor=true"],
         "callbacks.checkpoint.monitor=True: no such metric is logged; choose one"),
        (["callbacks.last_checkpoint.monitor=10"], "callbacks.last_checkpoint.monitor=10: no such metric is logged"),
        # Each of these failed the check with a traceback (found by fuzzing the command line).
        (["~resume"], "error: resume: a run needs it; give it a value (resume=false) rather than removing it"),
        (["~x_axis"], "error: x_axis: a run needs it; give it a value (x_axis=step)"),
        (["~trainer._target_"], "error: trainer._target_: missing; it names the class its option builds"),
        (["+logger.x=1"], "error: logger.x=1: each entry of logger builds one class, {_target_: ...}; to run without "
                          "it: ~logger.x"),
        (["callbacks.images=null"], "error: callbacks.images=null: each entry of callbacks builds one class"),
        (["hydra.job.env_copy=[VAE_LIGHTNING_NO_SUCH_VARIABLE]"],
         "error: hydra.job.env_copy: this environment has no variable VAE_LIGHTNING_NO_SUCH_VARIABLE to copy"),
        # Submitted to Slurm, whose nodes' cores the check cannot count: the Trainer's own refusals, one line each.
        (["-m", "hydra/launcher=slurm", "trainer.devices=9223372036854775808", "seed=0,1"],
         "error: trainer: cannot fit 'int' into an index-sized integer"),
        # 2**61 devices: the Trainer's list of them is past any memory (a MemoryError, with a traceback).
        (["-m", "hydra/launcher=slurm", "trainer.devices=2305843009213693952", "seed=0,1"],
         "error: trainer.devices=2305843009213693952: lightning.Trainer ran out of memory building it"),
        # Trained here, on the CPU: a process per device, 1,000 on two cores (2**31 took 90 s to refuse).
        (["trainer.devices=100000"], "error: trainer.devices=100000: on a CPU each device is a training process, and "
                                     "this machine has"),
        (["trainer.devices=9223372036854775808"], "error: trainer.devices=9223372036854775808: on a CPU each device"),
        (["trainer.accelerator=cpu", "trainer.devices='100000'"], "error: trainer.devices=100000: on a CPU each"),
        # Accepted, they failed the run: at its first non-finite loss; out of the run folder; out of memory.
        (["optim.weight_decay=nan"], "error: optim.weight_decay=nan is not a number; give one"),
        (["model.hidden_dims=[400,nan]"], "error: model.hidden_dims.1=nan is not a number"),
        (["callbacks.checkpoint.filename=${hydra:runtime.output_dir}"],
         "error: callbacks.checkpoint.filename=/tmp/job_folder_"),
        (["callbacks.last_checkpoint.filename=../last"], "error: callbacks.last_checkpoint.filename=../last: it would "
                                                         "put the checkpoint out of its folder"),
        (["callbacks.checkpoint.filename=epochs/best"], "error: callbacks.checkpoint.filename=epochs/best: it would"),
        (["callbacks.images.count=9223372036854775808"], "error: callbacks.images.count=9223372036854775808 is out of "
                                                         "range: allowed a number in [1, 10000]"),
        # Each of these passed the check and failed the run, its folder made (fuzzing).
        pytest.param(["optim.weight_decay=18446744073709551617"],
                     "error: optim: torch.optim.SGD refuses it: int too big to convert", marks=pytest.mark.skipif(
                         inspect.signature(torch.optim.SGD).parameters["weight_decay"].annotation is float,
                         reason="this torch types SGD's weight_decay as float alone, so the schema reads 2**64+1 as "
                                "1.8e19, a float torch takes")),
        # Seeds of torch generators, past 64 bits: the run failed at its first batch (or its split).
        (["data.shuffle_seed=99999999999999999999999999"],
         "error: data.shuffle_seed=99999999999999999999999999 is out of range: allowed a number in [0, 4294967295]"),
        (["data.split_seed=99999999999999999999999999"], "error: data.split_seed=99999999999999999999999999 is out of"),
        (["trainer.profiler=[1,2]"], "error: trainer.profiler=[1, 2] is out of range: allowed a name (simple, "),
        # Lightning's limit of train and val as it is given: as a float past 1, the run's count overflowed.
        (["trainer.overfit_batches=1e308"],
         "error: trainer.overfit_batches=1e+308 is out of range: allowed a fraction in [0, 1], or a number >= 0"),
        # A newline given in a value: the line said it back, over two lines.
        (["optim.lr=a\nb"], "error: optim.lr=a\\nb: Hydra cannot read this override"),
        (["-m", "optim.lr='a\nb',1"], "error: optim.lr=a\\nb is out of range: allowed a finite number > 0"),
        # A config where a list goes, which OmegaConf's merge refused naming no key; one built where a duration goes.
        (["model.hidden_dims=${data}"], "error: model.hidden_dims: Cannot merge DictConfig with ListConfig; give a "
                                        "value of its type"),
        (["trainer.max_time=${data}"], "error: trainer: 'MNISTDataModule' object has no attribute 'total_seconds'"),
        (["-m", "hydra/launcher=parallel", "hydra.launcher=null"],
         "error: hydra.launcher=null: Hydra runs every command with one; choose an option of hydra/launcher"),
        (["hydra.sweeper=null"], "error: hydra.sweeper=null: Hydra runs every command with one"),
        (["optim=adamw", "+optim.capturable=true"],
         "error: optim: torch.optim.AdamW refuses it: If capturable=True, params and state_steps must be on supported"),
        (["callbacks.images.seed=${hydra:runtime.output_dir}"],
         "error: callbacks.images.seed: Value '/tmp/job_folder_"),
        # Left to the constructor's default (optim.lr), or a traceback naming `root`.
        (["optim.lr=???"], "error: optim.lr: has no value (???); give it one: optim.lr=<value>"),
        (["data.root=???"], "error: data.root: has no value (???)"),
        (["-m", "search=sgd", "trainer.limit_val_batches=0"], "trainer.limit_val_batches=0 leaves a sweep's jobs"),
        (["-m", "optim.lr=glob(*)"], "optim.lr=glob(*): optim.lr is not a config group, and glob(...) chooses among "
                                     "a group's options"),
        (["-m", "optim=glob(z*)"], "optim=glob(z*): matches none of the options adam, adamw, sgd"),
        # Named as given, not as the launchers the glob matched.
        (["-m", "hydra/launcher=glob(*)"], "error: hydra/launcher=glob(*): hydra's own settings cannot be swept"),
        (["-m", "optim.lr=interval(0.01,0.1)"], "optim.lr=interval(0.01,0.1): an interval is sampled by "
                                                "hydra/sweeper=optuna only"),
        (["-m", "search=sgd", "hydra.sweeper.sampler.seed=abc"], "hydra.sweeper.sampler.seed=abc: give a whole number"),
        (["-m", "search=sgd", "hydra.sweeper.direction=maximize"],
         "hydra.sweeper.direction=maximize: a trial's value is its run's val loss, which the study minimises"),
        (["-m", "search=sgd", "hydra.sweeper.trial_callback.monitor=val/nope"],
         "hydra.sweeper.trial_callback.monitor=val/nope: the pruner compares trials by a metric each validation logs"),
        (["-m", "search=sgd", "hydra.sweeper.sampler.seed=-1"],
         "hydra.sweeper.sampler.seed=-1: give a whole number in"),
        (["-m", "search=sgd", "hydra.sweeper.pruner.n_warmup_steps=2"],
         "hydra.sweeper.pruner.n_warmup_steps: no such key; to add it: +hydra.sweeper.pruner.n_warmup_steps=<value>"),
        (["-m", "search=sgd", "hydra.sweeper.params.optim.lr=interval(0.01,0.1)"],
         "give the searched key as itself, optim.lr=interval(0.01,0.1)"),
        # Quoted, the value is the text the sweeper reads: optim='glob(*)' chose an option named glob(*).
        (["-m", "hydra.sweeper.params.optim='glob(*)'"], "give the searched key as itself, optim=glob(*) (the"),
        (["-m", "seed=0,1", "hydra.job.name=a,b"], "hydra.job.name=a,b: hydra's own settings cannot be swept"),
        # A run folder's name with a comma or a letter beyond ASCII: the fix, quoting, was not said.
        (["hydra.run.dir=runs/a,b"], "error: hydra.run.dir=runs/a,b: hydra's own settings cannot be swept; a value "
                                     "that holds a comma is quoted: \"hydra.run.dir='runs/a,b'\""),
        (["hydra.run.dir=runs/grün"], "Hydra cannot read this override; quote a value that holds ~, =, spaces, "
                                      "brackets or letters beyond ASCII (key='value'"),
        (["optim=[sgd,adam]"], "optim=[sgd,adam]: a run takes one optim; to run each, sweep them: -m optim=sgd,adam"),
        # Hydra's own ValueError for these names no override.
        (["debug=null"], "debug=null: a config group takes one of its options, not null; to run without it, remove it"),
        (["-m", "debug=fast,null"], "debug=null: a config group takes one of its options, not null"),
        (["optim=null"], "optim=null: a run needs one optim; choose one of adam, adamw, sgd"),
        # Hydra's launcher and sweeper removed: the check read them with a traceback.
        (["~hydra/sweeper"], "hydra.sweeper: has no value (???); give it one, or keep the option that sets it"),
        (["-m", "seed=0,1", "~hydra/launcher"], "hydra.launcher: has no value (???); give it one"),
        # Each experiment is a sweep: as jobs of one, they would run once each, their own sweeps ignored.
        (["-m", "experiment=clip_value,momentum"], "experiment=clip_value: sets up a sweep of its own (hydra.sweeper)"),
        (["model.hidden_dims=400"], "model.hidden_dims=400 is not a list of sizes: write model.hidden_dims=[400]"),
        (["--config-name", "nope"], "--config-name nope: no such config in the config folder"),
        (["-m", "seed=0,1", "hydra.sweep.subdir=x"], "hydra.sweep.subdir=x puts every job of the sweep in one folder"),
        (["hydra.run.dir="], "hydra.run.dir is empty, which would write into the working folder"),
        (["hydra.run.dir='~/runs/a'"], "hydra.run.dir=~/runs/a: nothing expands '~' here"),
        (["-m", "seed=0,1", "hydra.sweep.dir='~/sweep'"], "hydra.sweep.dir=~/sweep: nothing expands '~' here"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    overrides: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(overrides)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_a_number_an_environment_variable_gives_as_text_is_said_to_be_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # The line said only that 0.02 is out of a range of numbers > 0.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LR", "0.02")
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["optim.lr=${oc.env:LR}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: optim.lr=0.02 is out of range: allowed a finite number > 0; '0.02' is text, as ${oc.env:...} gives "
        "it: read it as a number with ${oc.decode:${oc.env:...}}"]
    assert list(tmp_path.iterdir()) == []
    assert checked("optim.lr='${oc.decode:${oc.env:LR}}'") == 1


def test_offline_the_first_run_is_one_line_and_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    # The README's first command on a machine without network: it made the run folder, then data/,
    # and failed inside them under Lightning's banner. The download now happens in the check.
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # refused at once, as offline
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["~local", "debug=fast", "data.root=data/here", "data.download=true"])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: MNIST is not in {Path('data/here/MNIST/raw')} (download failed: ")
    assert list(tmp_path.iterdir()) == []


def test_the_files_the_check_downloads_are_checked_before_anything_runs(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture) -> None:
    # A download that completes may still not serve the run: here fewer training images than data.val_size.
    monkeypatch.setattr(MNISTDataModule, "prepare_data", lambda datamodule: write_mnist(datamodule.root))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["~local", "debug=fast", "data.root=data/here", "data.download=true",
                            f"data.val_size={TRAIN_IMAGES}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: data.val_size={TRAIN_IMAGES} must be in [0, {TRAIN_IMAGES}): {Path('data/here/MNIST/raw')} holds "
        f"{TRAIN_IMAGES} training images"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_an_accelerator_the_machine_lacks_is_refused_before_anything_is_written(tmp_path: Path, monkeypatch,
                                                                                capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["trainer.accelerator=gpu"])
    assert exit_info.value.code == 2 and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: trainer.accelerator=gpu: this machine has none; use trainer.accelerator=cpu or auto"]


def checked(*arguments: str, conf: str = str(CONFIG_DIR)) -> int:
    """How many jobs `python train.py <arguments>` would run, once the check has passed them."""
    return len(check_jobs(parse_command_line(list(arguments)), conf)[1])


@pytest.mark.parametrize("launcher", [{"SLURM_NTASKS": "9", "SLURM_NTASKS_PER_NODE": "9", "SLURM_JOB_NAME": "train",
                                       "SLURM_NODELIST": "localhost", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
                                       "SLURM_NODEID": "0"},
                                      {"TORCHELASTIC_RUN_ID": "1", "LOCAL_RANK": "0", "GROUP_RANK": "0",
                                       "WORLD_SIZE": "9", "RANK": "0", "MASTER_ADDR": "127.0.0.1",
                                       "MASTER_PORT": "29500"}])
def test_processes_srun_or_torchrun_start_are_not_held_to_the_cores_of_the_first(launcher: dict[str, str],
                                                                               mnist_root: Path, monkeypatch) -> None:
    # srun --ntasks-per-node=9 --cpus-per-task=1: the first process sees its one core, and Lightning starts none.
    for name, value in launcher.items():
        monkeypatch.setenv(name, value)
    assert checked("trainer.accelerator=cpu", "trainer.devices=9", f"data.root={mnist_root}",
                   f"data.val_size={VAL_IMAGES}") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_slurm_sweep_of_gpu_jobs_is_submitted_from_a_machine_without_one(mnist_root: Path) -> None:
    """Its jobs run on the cluster's nodes, whose GPUs a login node lacks: the check builds them on its CPU."""
    data = [f"data.root={mnist_root}", f"data.val_size={VAL_IMAGES}"]
    assert checked("-m", "hydra/launcher=slurm", "hydra.launcher.gpus_per_node=1", "trainer=gpu", "seed=0,1",
                   *data) == 2
    # An experiment's sweep (its hydra.mode is MULTIRUN) runs there without -m too.
    assert checked("hydra/launcher=slurm", "trainer=gpu", "experiment=momentum", *data) == 35
    # Lightning's own refusal of an accelerator it does not know still comes before submitting.
    with pytest.raises(ConfigError, match="trainer: You selected an invalid accelerator name: `accelerator='gpuu'`"):
        checked("-m", "hydra/launcher=slurm", "trainer.accelerator=gpuu", "seed=0,1", *data)
    for local in (["-m", "hydra/launcher=parallel", "seed=0,1"], ["hydra/launcher=slurm"]):
        with pytest.raises(ConfigError, match="trainer.accelerator=gpu: this machine has none"):
            checked(*local, "trainer=gpu", *data)


def test_a_misspelled_key_inside_a_yaml_file_names_the_file(tmp_path: Path) -> None:
    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    sgd = conf / "optim" / "sgd.yaml"
    sgd.write_text(sgd.read_text().replace("momentum: 0.9", "momentm: 0.9"))
    with pytest.raises(ConfigError, match=r"optim.momentm \(in conf/optim/sgd.yaml\): no such key; allowed: "
                                          r"lr, momentum"):
        checked(conf=str(conf))


@pytest.mark.parametrize("text,expected", [
    ("trainer:\n  max_epoch: 2\n", r"trainer.max_epoch \(in conf/experiment/typo.yaml\): no such key"),
    ("hydra:\n  mode: MULTIRUN\n  sweeper:\n    params:\n      model.latnt_dim: 2,4\n",
     r"model.latnt_dim \(in conf/experiment/typo.yaml\): no such key"),
])
def test_a_misspelled_key_in_an_experiment_names_its_file(text: str, expected: str, tmp_path: Path) -> None:
    # Said as if it were on the command line, which does not hold it: the user was left to guess where it was.
    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    (conf / "experiment" / "typo.yaml").write_text(f"# @package _global_\n{text}")
    with pytest.raises(ConfigError, match=expected):
        checked("experiment=typo", conf=str(conf))
    with pytest.raises(ConfigError, match=r"^model.foo: no such key"):  # on the command line: no file to name
        checked("experiment=typo", "model.foo=1", conf=str(conf))


@pytest.mark.parametrize("file,text,overrides,expected", [
    # Read by Hydra as it composed: a key given twice, and a file not in UTF-8, were tracebacks.
    ("optim/mine.yaml", b"_target_: torch.optim.SGD\nlr: 0.1\nlr: 0.2\n", ["optim=mine"],
     "optim/mine.yaml: not valid YAML at line 3 (found duplicate key lr); fix the file, or move it out of "),
    ("optim/mine.yaml", b"lr: 0.1 # \xe9\n", ["optim=mine"], "optim/mine.yaml: not UTF-8 text (invalid continuation"),
    ("optim/mine.yaml", b"lr: [0.1\n", ["optim=mine"], "optim/mine.yaml: not valid YAML at line 2 (expected ','"),
    # Hydra reads an optional local/default.yaml in every command.
    ("local/default.yaml", b"seed: [1\n", [], "local/default.yaml: not valid YAML at line 2"),
    # A NUL byte: the check's own reading said it over two lines, and named no file.
    ("optim/mine.yaml", b"lr: 0.1\x00\n", [], "optim/mine.yaml: not valid YAML (unacceptable character #x0000"),
])
def test_a_config_dir_file_that_is_not_yaml_is_named_in_one_line(file, text, overrides, expected, tmp_path,
                                                                 monkeypatch, capsys) -> None:
    (tmp_path / "mine" / file).parent.mkdir(parents=True)
    (tmp_path / "mine" / file).write_bytes(text)
    (tmp_path / "cwd").mkdir()
    said = command_line_refusal(["--config-dir", str(tmp_path / "mine"), *overrides], tmp_path / "cwd", monkeypatch,
                                capsys)
    assert said.startswith(f"error: {tmp_path / 'mine' / file}: ") and expected in said, said


def test_good_input_passes_and_counts_the_sweep_jobs() -> None:
    assert checked() == 1


def test_an_experiment_is_a_sweep_without_dash_m_and_takes_more_seeds() -> None:
    # Its config sets hydra.mode=MULTIRUN; `reproduce seed=0,1,2,3,4` passes the seeds this way.
    assert checked("experiment=clip_value", "seed=0,1,2,3,4") == 30


def test_ddp_jobs_in_a_slurm_sweep_pass_when_tasks_match_devices() -> None:
    overrides = ["hydra/launcher=slurm", "hydra.launcher.tasks_per_node=2", "hydra.launcher.nodes=2", "trainer=ddp",
                 "trainer.devices=2", "trainer.num_nodes=2", "seed=0,1"]
    assert checked("-m", *overrides) == 2


@pytest.mark.parametrize("environment", [{"NODE_RANK": "0"},  # Lightning's manual launch, on each node
                                         {"TORCHELASTIC_RUN_ID": "1", "RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0",
                                          "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "1"}])  # what torchrun sets
def test_a_multi_node_run_passes_where_something_starts_the_other_nodes(environment, monkeypatch) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert checked("trainer.num_nodes=2") == 1


def test_the_optuna_search_passes_the_check_with_each_of_its_values() -> None:
    assert checked("-m", "search=sgd") == 5  # the first values, then each key's other end
    with pytest.raises(ConfigError, match="optim.momentum=1.5 is out of range"):
        checked("-m", "search=sgd", "optim.momentum=interval(0.5,1.5)")
    assert checked("-m", "clip=value,norm", "clip.value=0.5,1") == 4


@pytest.mark.slow
def test_train_py_refuses_before_writing_anything(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(PROJECT / "train.py"), "clip.vlaue=1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: clip.vlaue: no such key; allowed: algorithm, value"]
    assert list(tmp_path.iterdir()) == []


class Booby:
    """Unpickling it creates the file `marker`: what any code in a pickle could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return Path.touch, (self.marker,)


def booby_trapped_pickle(folder: Path) -> Path:
    path = folder / "config.pickle"
    path.write_bytes(pickle.dumps(Booby(folder / "code-ran")))
    return path


@pytest.mark.parametrize("first_process", [True, False])
def test_a_pickled_config_is_never_loaded(first_process: bool, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rerun = booby_trapped_pickle(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["--experimental-rerun", str(rerun)], first_process)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --experimental-rerun {rerun}: a pickled config can run any code, and this project loads none; run "
        "the job again with its overrides (<run>/.hydra/overrides.yaml), or continue it with hydra.run.dir=<run> "
        "resume=true"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.pickle"]


@pytest.mark.slow
@pytest.mark.parametrize("rank", ["0", "1"])
def test_train_py_never_unpickles_a_config_in_any_process(rank: str, tmp_path: Path) -> None:
    rerun = booby_trapped_pickle(tmp_path)
    # LOCAL_RANK=1: a process that a distributed launcher starts beside the first.
    done = subprocess.run([sys.executable, str(PROJECT / "train.py"), "--experimental-rerun", str(rerun)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "LOCAL_RANK": rank})
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().startswith(f"error: --experimental-rerun {rerun}: a pickled config can run any code")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.pickle"]


@pytest.mark.parametrize("overrides,expected", [
    (["data.val_size=256"], "data.val_size=256 must be in [0, 256)"),
    (["data.root=FILE"], "is a file: point data.root at the folder that holds MNIST/raw"),
    # Lightning refuses these only once fit starts: 200 images are 4 batches of 64 (2 with the limit).
    (["data.val_size=56", "data.batch_size=64", "trainer.val_check_interval=5"],
     "trainer.val_check_interval=5 is more than an epoch's 4 training batches: give at most 4"),
    (["data.val_size=56", "data.batch_size=64", "trainer.limit_train_batches=0.5", "trainer.val_check_interval=3"],
     "trainer.val_check_interval=3 is more than an epoch's 2 training batches: give at most 2"),
    # Under DDP each of the 2 processes gets 100 of the 200 train images: 2 batches.
    (["data.val_size=56", "data.batch_size=64", "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
      "trainer.val_check_interval=3"],
     "trainer.val_check_interval=3 is more than an epoch's 2 training batches in each of its 2 processes: "
     "give at most 2"),
    # Lightning parses a string of devices: '2' is 2 processes, as the Trainer counts them.
    (["data.val_size=56", "data.batch_size=64", "trainer=ddp", "trainer.devices='2'", "trainer.accelerator=cpu",
      "trainer.val_check_interval=3"],
     "trainer.val_check_interval=3 is more than an epoch's 2 training batches in each of its 2 processes: "
     "give at most 2"),
    # 56 val images are 2 eval batches of 50, 200 train images 4 of 64: Lightning refuses both as fit starts.
    (["data.val_size=56", "data.eval_batch_size=50", "trainer.limit_val_batches=0.4"],
     "trainer.limit_val_batches=0.4 keeps none of the 2 val batches: give at least 0.5, or a number of batches"),
    (["data.val_size=56", "data.batch_size=64", "trainer.limit_train_batches=0.2"],
     "trainer.limit_train_batches=0.2 keeps none of the 4 train batches: give at least 0.25"),
    # Lightning's limit of both train and val where it is set: it failed the run as fit started.
    (["data.val_size=56", "data.batch_size=64", "trainer.overfit_batches=0.2"],
     "trainer.overfit_batches=0.2 keeps none of the 4 train batches: give at least 0.25"),
    # Lightning takes a whole float past 1 as a count: all 2 val batches (the check's int(2 * 1e308) overflowed).
    (["data.val_size=56", "data.batch_size=64", "data.eval_batch_size=50", "trainer.limit_val_batches=1e308",
      "trainer.val_check_interval=5"],
     "trainer.val_check_interval=5 is more than an epoch's 4 training batches: give at most 4"),
    # Under DDP, a process without a val batch failed as fit started; 41 val images over 2 are 3 batches and 2.
    (["data.val_size=1", "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu"],
     "data.val_size=1 leaves some of the 2 processes no val image"),
    (["data.val_size=41", "data.eval_batch_size=10", "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
      "trainer.limit_val_batches=0.4"],
     "trainer.limit_val_batches=0.4 keeps none of the 2 val batches in the smallest share of its 2 processes: give at "
     "least 0.5"),
    # x_axis=epoch writes both validations of an epoch at one x, where TensorBoard shows only the last.
    (["data.val_size=56", "data.batch_size=64", "x_axis=epoch", "trainer.val_check_interval=2"],
     "x_axis=epoch puts each validation at its epoch, but trainer.val_check_interval=2 validates more than once in "
     "an epoch of 4 training batches"),
    (["data.val_size=56", "data.batch_size=64", "x_axis=epoch", "trainer.val_check_interval=0.5"],
     "trainer.val_check_interval=0.5 validates more than once in an epoch of 4 training batches"),
    (["data.val_size=56", "data.batch_size=64", "x_axis=epoch", "trainer.val_check_interval=3",
      "trainer.check_val_every_n_epoch=null"],
     "trainer.val_check_interval=3 validates more than once in an epoch of 4 training batches"),
    # Counted across epochs, past the run's last batch: no validation in training, so no checkpoint either.
    (["data.val_size=56", "data.batch_size=64", "trainer.max_epochs=2", "trainer.check_val_every_n_epoch=null",
      "trainer.val_check_interval=9"],
     "trainer.val_check_interval=9 with trainer.check_val_every_n_epoch=null validates every 9 training batches of "
     "the run, which trains 8: it would never validate, nor keep a checkpoint; give at most 8"),
    (["data.val_size=56", "data.batch_size=64", "trainer.max_steps=3", "trainer.check_val_every_n_epoch=null",
      "trainer.val_check_interval=4"], "validates every 4 training batches of the run, which trains 3"),
])
def test_bad_data_is_refused_before_the_run_folder_exists(overrides, expected, mnist_root, tmp_path, monkeypatch,
                                                          capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("")
    arguments = [f"data.root={mnist_root}", "data.download=false", *overrides, f"hydra.run.dir={tmp_path / 'run'}"]
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(arguments)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert sorted(path.name for path in tmp_path.iterdir()) == ["FILE"]


@pytest.mark.parametrize("overrides", [["trainer.val_check_interval=4"],
                                       ["trainer.val_check_interval=5", "trainer.check_val_every_n_epoch=null"],
                                       ["trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
                                        "trainer.val_check_interval=2"],
                                       # Once an epoch (at its 3rd of 4 batches): one point at each epoch's x.
                                       ["x_axis=epoch", "trainer.val_check_interval=3"],
                                       ["x_axis=epoch", "trainer.val_check_interval=0.75"],
                                       ["x_axis=epoch", "trainer.val_check_interval=4",
                                        "trainer.check_val_every_n_epoch=null"],
                                       ["trainer.max_epochs=2", "trainer.val_check_interval=8",
                                        "trainer.check_val_every_n_epoch=null"],
                                       ["trainer.max_steps=4", "trainer.accumulate_grad_batches=2",
                                        "trainer.val_check_interval=8", "trainer.check_val_every_n_epoch=null"]])
def test_a_val_check_interval_within_an_epoch_or_across_epochs_passes(overrides, mnist_root, tmp_path) -> None:
    arguments = [f"data.root={mnist_root}", "data.download=false", "data.val_size=56", "data.batch_size=64",
                 *overrides, f"hydra.run.dir={tmp_path / 'run'}"]
    assert check_command_line(arguments) == (arguments, None)


def test_a_read_only_output_folder_is_refused_before_anything_runs(tmpfs, mnist_root, capsys) -> None:
    read_only = tmpfs("read-only", read_only=True)
    for key in ("hydra.run.dir", "hydra.sweep.dir"):
        with pytest.raises(SystemExit) as exit_info:
            check_command_line([*tiny_overrides(mnist_root), f"{key}={read_only / 'run'}"]
                               + (["-m"] if "sweep" in key else []))
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            f"error: {key}={read_only / 'run'} cannot be written (Read-only file system): choose another {key}, or "
            f"make it writable"]


def excluded_from_job_names(arguments: list[str]) -> set[str]:
    """The keys `prepare` leaves out of each sweep job's folder name."""
    key = "hydra.job.config.override_dirname.exclude_keys="
    prepared, sweep_lock = prepare(arguments)
    sweep_lock.close()  # at once, not when collected: the next command into the folder would find it held
    (exclude,) = [argument for argument in prepared if argument.startswith(key)]
    return set(exclude.removeprefix(key).strip("[]").split(","))


def test_sweep_jobs_are_named_by_what_the_config_and_the_command_line_vary(mnist_root: Path, tmp_path: Path) -> None:
    # Data on disk: with none, the check would download MNIST before it names the jobs.
    experiment = ["-m", "experiment=clip_value", "hydra.sweeper.params={clip.value:'0.1,1.0',seed:'0'}",
                  "trainer.max_epochs=1", f"hydra.sweep.dir={tmp_path / 'sweep'}", f"data.root={mnist_root}",
                  "data.download=false", f"data.val_size={VAL_IMAGES}"]
    excluded = excluded_from_job_names(experiment)
    assert {"seed", "trainer.max_epochs"} <= excluded and "clip.value" not in excluded
    # A key the command line sweeps names the jobs, whatever the config gives it.
    assert "seed" not in excluded_from_job_names([*experiment, "seed=0,1"])


def test_a_glob_sweeps_the_options_it_matches_and_hydra_is_given_them_listed(mnist_root: Path, tmp_path: Path) -> None:
    # As Hydra's basic sweeper expands it, with an option of a --config-dir folder among them; the sweep's
    # multirun.yaml then names the options, which plot reads to know the jobs the sweep was asked for.
    extra = own_optimizer(tmp_path / "mine")
    arguments = ["-m", "-cd", str(extra), "optim=glob(*,exclude=adam*)", "seed=0,1",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}", *tiny_overrides(mnist_root)]
    assert listed_globs(parse_command_line(arguments), str(CONFIG_DIR)) == {
        "optim=glob(*,exclude=adam*)": "optim=mine,sgd"}
    prepared, lock = prepare(arguments)
    lock.close()
    assert prepared[:6] == ["-m", "-cd", str(extra), "optim=mine,sgd", "seed=0,1",
                            f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    jobs = check_jobs(parse_command_line(prepared), str(CONFIG_DIR))[1]
    assert [job.overrides for job in jobs] == [["optim=mine", "seed=0"], ["optim=mine", "seed=1"],
                                               ["optim=sgd", "seed=0"], ["optim=sgd", "seed=1"]]


def globbed_experiment(folder: Path, params: str) -> Path:
    """`folder`'s experiment/globbed.yaml: a sweep of its own, over `params` (YAML: its optim's) and seeds 0 and 1."""
    (folder / "experiment").mkdir(parents=True, exist_ok=True)
    (folder / "experiment" / "globbed.yaml").write_text(
        f"# @package _global_\nhydra:\n  sweeper:\n    params:\n      {params}\n      seed: 0,1\n")
    return folder


def test_a_glob_in_a_configs_own_sweep_params_sweeps_the_options_it_matches_as_on_the_command_line(
        mnist_root: Path, tmp_path: Path) -> None:
    # Refused before ("expanded on the command line only"), though Hydra's basic sweeper expands it there too.
    extra = globbed_experiment(own_optimizer(tmp_path / "mine"), "optim: glob(*,exclude=adam*)")
    arguments = ["-m", "-cd", str(extra), "experiment=globbed", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                 *tiny_overrides(mnist_root)]
    assert [job.overrides for job in check_jobs(parse_command_line(arguments), str(CONFIG_DIR))[1]] == [
        ["optim=mine", "seed=0"], ["optim=mine", "seed=1"], ["optim=sgd", "seed=0"], ["optim=sgd", "seed=1"]]
    prepared, lock = prepare(arguments)
    lock.close()
    # Hydra runs the options checked, and writes them to multirun.yaml, whose params plot reads.
    assert "hydra.sweeper.params.optim='mine,sgd'" in prepared
    # A glob that matches one option varies nothing, and names no job, as on the command line.
    (extra / "experiment" / "globbed.yaml").write_text(
        (extra / "experiment" / "globbed.yaml").read_text().replace("glob(*,exclude=adam*)", "glob(mi*)"))
    assert "optim" in excluded_from_job_names(arguments)


@pytest.mark.parametrize("params,said", [
    ("optim: glob(z*)", "optim=glob(z*): matches none of the options adam, adamw, mine, sgd"),
    ("optim.lr: glob(*)", "optim.lr=glob(*): optim.lr is not a config group, and glob(...) chooses among a group's "
                          "options (optim=glob(*) runs each optim); list the values"),
])
def test_a_glob_in_a_configs_own_sweep_params_that_lists_no_option_is_refused_as_on_the_command_line(
        params: str, said: str, mnist_root: Path, tmp_path: Path) -> None:
    extra = globbed_experiment(own_optimizer(tmp_path / "mine"), params)
    with pytest.raises(ConfigError) as refused:
        check_jobs(parse_command_line(["-m", "-cd", str(extra), "experiment=globbed", *tiny_overrides(mnist_root)]),
                   str(CONFIG_DIR))
    assert str(refused.value) == said


@pytest.mark.slow
def test_a_sweep_of_a_glob_in_a_configs_own_sweep_params_runs_and_resumes_the_jobs_checked(
        mnist_root: Path, tmp_path: Path) -> None:
    extra = globbed_experiment(own_optimizer(tmp_path / "mine"), "optim: glob(*,exclude=adam*)")
    sweep = tmp_path / "sweep"
    command = ["-m", "-cd", str(extra), "experiment=globbed", f"hydra.sweep.dir={sweep}", *tiny_overrides(mnist_root)]
    done = run_train(command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = ["optim=mine,seed=0", "optim=mine,seed=1", "optim=sgd,seed=0", "optim=sgd,seed=1"]
    assert sorted(path.parent.name for path in sweep.glob("*/results.json")) == jobs
    assert OmegaConf.load(sweep / "multirun.yaml").hydra.sweeper.params.optim == "mine,sgd"
    assert [job[:2] for job in expected_jobs(sweep)] == [job.split(",") for job in jobs]
    done = run_train([*command, "resume=true"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"sweep {sweep}: 4 of 4 jobs completed" in done.stdout
    assert sorted(path.parent.name for path in sweep.glob("*/.hydra")) == jobs


def own_optimizer(folder: Path) -> Path:
    """A folder of one's own configs, as --config-dir takes: optim/mine.yaml, SGD at lr 0.02."""
    (folder / "optim").mkdir(parents=True)
    (folder / "optim" / "mine.yaml").write_text((Path(CONFIG_DIR) / "optim" / "sgd.yaml").read_text()
                                                .replace("lr: 0.01", "lr: 0.02"))
    return folder


def test_config_dir_adds_a_folder_of_ones_own_configs(tmp_path: Path) -> None:
    extra = own_optimizer(tmp_path / "mine")
    assert checked("--config-dir", str(extra), "optim=mine", "optim.momentum=0.5") == 1
    with pytest.raises(ConfigError, match=r"optim.lrr: no such key"):
        checked("-cd", str(extra), "optim=mine", "+optim.lrr=1")
    with pytest.raises(ConfigError, match=r"--config-dir .*nowhere: no such folder"):
        checked("-cd", str(tmp_path / "nowhere"))


@pytest.mark.parametrize("name", ["a,b", "a]b", "it's"])
def test_a_config_dir_is_read_whatever_its_name_holds(name: str, tmp_path: Path) -> None:
    # The check handed Hydra the folder unquoted, as an override: `,` split it in two, `]` and `'` were
    # refused as an override the command did not hold, where Hydra's own --config-dir reads it.
    extra = own_optimizer(tmp_path / name)
    assert checked("--config-dir", str(extra), "optim=mine", "optim.momentum=0.5") == 1


def test_a_config_dir_whose_path_holds_an_interpolation_is_refused_naming_it(tmp_path: Path) -> None:
    # Hydra read the folder's `${x}` as an interpolation, and failed on a key of its own runtime config.
    extra = own_optimizer(tmp_path / "a${x}")
    with pytest.raises(ConfigError, match=r"^--config-dir .*a\$\{x\}: Hydra reads '\$\{' in a folder's path as an "
                                          r"interpolation; rename the folder"):
        checked("--config-dir", str(extra), "optim=mine")


def test_a_misspelt_key_of_a_config_dir_class_names_the_keys_it_takes(tmp_path: Path) -> None:
    # A class only the --config-dir folder names: the line advised adding the misspelt key with `+`.
    (tmp_path / "mine" / "optim").mkdir(parents=True)
    (tmp_path / "mine" / "optim" / "plain.yaml").write_text("_target_: own_classes.Plain\n_partial_: true\nlr: 0.1\n")
    HydraConfig.instance().cfg = None  # as in a fresh `python train.py`
    with pytest.raises(ConfigError, match=r"^optim.dampning: no such key; allowed: lr, dampening$"):
        checked("-cd", str(tmp_path / "mine"), "optim=plain", "optim.dampning=0.1")
    assert checked("-cd", str(tmp_path / "mine"), "optim=plain", "+optim.dampening=0.1") == 1


def test_config_path_replaces_conf_and_must_be_absolute(tmp_path: Path) -> None:
    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    (conf / "clip" / "value.yaml").write_text((conf / "clip" / "value.yaml").read_text().replace("value:", "vlaue:"))
    with pytest.raises(ConfigError, match=r"clip.vlaue .*no such key"):
        checked("--config-path", str(conf))
    with pytest.raises(ConfigError, match=r"--config-path conf: give an absolute path"):
        checked("-cp", "conf")
    with pytest.raises(ConfigError, match=r"--config-path .*nowhere: no such folder"):
        checked("-cp", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"--config-path .*clip: holds no config.yaml; give the folder that holds it"):
        checked("-cp", str(conf / "clip"))


def test_config_path_may_name_a_python_package_of_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = shutil.copytree(CONFIG_DIR, tmp_path / "my_configs")
    (package / "__init__.py").write_text("")
    (package / "clip" / "value.yaml").write_text(
        (package / "clip" / "value.yaml").read_text().replace("value:", "vlaue:"))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"clip.vlaue .*no such key"):  # read from the package, not conf/
        checked("--config-path", "pkg://my_configs")


@pytest.mark.slow
def test_train_py_runs_with_an_added_config_dir(mnist_root: Path, tmp_path: Path) -> None:
    extra = own_optimizer(tmp_path / "mine")
    done = subprocess.run([sys.executable, str(PROJECT / "train.py"), "-cd", str(extra), "optim=mine",
                           *tiny_overrides(mnist_root), f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lr: 0.02" in (tmp_path / "run" / ".hydra" / "config.yaml").read_text()


def test_a_new_option_is_one_yaml_file_and_its_misspelled_key_is_named(tmp_path: Path) -> None:
    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    rmsprop = conf / "optim" / "rmsprop.yaml"
    rmsprop.write_text("_target_: torch.optim.RMSprop\n_partial_: true\nlr: 0.001\nalpha: 0.9\n")
    assert checked("optim=rmsprop", "optim.lr=0.01", conf=str(conf)) == 1
    rmsprop.write_text("_target_: torch.optim.RMSprop\n_partial_: true\nlr: 0.001\nalpah: 0.9\n")
    with pytest.raises(ConfigError, match=r"optim.alpah \(in conf/optim/rmsprop.yaml\): no such key; allowed: "
                                          r"lr, alpha"):
        checked("optim=rmsprop", conf=str(conf))
    # Without `_partial_`, torch's own words named only a missing argument, `params`.
    rmsprop.write_text("_target_: torch.optim.RMSprop\nlr: 0.001\n")
    with pytest.raises(ConfigError, match=r"^optim: the module builds the optimizer over the model's parameters, so "
                                          r"its file \(optim=rmsprop\) needs `_partial_: true`$"):
        checked("optim=rmsprop", conf=str(conf))


def test_a_new_options_value_of_the_wrong_type_is_refused_naming_it() -> None:
    # conf/optim/adamw.yaml names no schema: its values are checked against AdamW's signature all the same.
    with pytest.raises(ConfigError, match=r"optim.weight_decay: Value 'abc' of type 'str' could not be converted"):
        checked("optim=adamw", "optim.weight_decay=abc")
    with pytest.raises(ConfigError, match=r"optim.amsgrad: Value 'maybe' is not a valid bool"):
        checked("optim=adamw", "+optim.amsgrad=maybe")
    assert checked("optim=adamw", "+optim.amsgrad=true") == 1


def test_a_class_no_config_names_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    for override in ("+callbacks.x={_target_:os.system}", "++logger.tensorboard._target_=builtins.print",
                     "++trainer.plugins=[{_target_:os.system}]"):
        with pytest.raises(ConfigError, match=r"is not a class this project's configs name"):
            checked(override, f"hydra.run.dir={tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()


def test_an_option_extending_a_shipped_one_for_a_subclass_takes_the_subclasss_own_argument(tmp_path: Path) -> None:
    # Refused before: the shipped option's schema (VAE's signature) had no key for `dropout`.
    (tmp_path / "mine" / "model").mkdir(parents=True)
    extends = "defaults:\n  - vae\n  - _self_\n_target_: own_classes.DropoutVAE\n"
    (tmp_path / "mine" / "model" / "dropout.yaml").write_text(extends + "dropout: 0.2\n")
    HydraConfig.instance().cfg = None  # as in a fresh `python train.py`
    arguments = parse_command_line(["-cd", str(tmp_path / "mine"), "model=dropout", "model.latent_dim=4"])
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        model = compose("config", overrides=[f"hydra.searchpath=[file://{tmp_path / 'mine'}]", "model=dropout",
                                             "model.latent_dim=4"]).model
    assert check_jobs(arguments, str(CONFIG_DIR))[1][0].definition["model.dropout"] == 0.2
    assert model.dropout == 0.2 and model.latent_dim == 4 and model.hidden_dims == [400]  # the rest from vae.yaml
    # Its own argument is typed and spelled by its own signature, as the shipped ones are by theirs.
    (tmp_path / "mine" / "model" / "dropout.yaml").write_text(extends + "dropuot: 0.2\n")
    with pytest.raises(ConfigError, match=r"^model.dropuot \(in .*mine/model/dropout.yaml\): no such key; allowed: "
                                          r"input_dim, hidden_dims, latent_dim, mc_samples, tied_weights, dropout$"):
        check_jobs(arguments, str(CONFIG_DIR))
    (tmp_path / "mine" / "model" / "dropout.yaml").write_text(extends + "dropout: lots\n")
    with pytest.raises(ConfigError, match=r"^model.dropout: Value 'lots' of type 'str' could not be converted to "
                                          r"Float"):
        check_jobs(arguments, str(CONFIG_DIR))
    # Added on the command line, a key is named as the command line's: neither file holds it.
    (tmp_path / "mine" / "model" / "dropout.yaml").write_text(extends + "dropout: 0.2\n")
    added = parse_command_line(["-cd", str(tmp_path / "mine"), "model=dropout", "+model.dropuot=0.1"])
    with pytest.raises(ConfigError, match=r"^model.dropuot: no such key; allowed: input_dim, .*, dropout$"):
        check_jobs(added, str(CONFIG_DIR))


def test_a_misspelt_key_of_the_option_an_option_extends_is_named_in_that_options_file(tmp_path: Path) -> None:
    # DropoutVAE takes every key of base.yaml's VAE: the line told to drop the defaults entry, naming child.yaml.
    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "base.yaml").write_text("_target_: vae_lightning.paper.model.VAE\nlatnt_dim: 3\n")
    (tmp_path / "mine" / "model" / "child.yaml").write_text("defaults:\n  - base\n  - _self_\n"
                                                            "_target_: own_classes.DropoutVAE\n")
    HydraConfig.instance().cfg = None  # as in a fresh `python train.py`
    with pytest.raises(ConfigError, match=r"^model.latnt_dim \(in .*mine/model/base.yaml\): no such key; allowed: "
                                          r"input_dim, hidden_dims, latent_dim, mc_samples, tied_weights, dropout$"):
        check_jobs(parse_command_line(["-cd", str(tmp_path / "mine"), "model=child"]), str(CONFIG_DIR))


def test_a_local_config_sets_this_machines_keys_once(tmp_path: Path) -> None:
    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    (conf / "local").mkdir(exist_ok=True)
    (conf / "local" / "default.yaml").write_text(f"# @package _global_\ndata:\n  root: {tmp_path / 'mnist'}\n")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["seed=1"])
        assert cfg.data.root == str(tmp_path / "mnist")
        assert compose(config_name="config", overrides=["data.root=elsewhere"]).data.root == "elsewhere"


def conf_with_local_data(tmp_path: Path, root: Path) -> Path:
    """A copy of conf/ whose local/default.yaml says where MNIST is, as the README has users write it, and
    with data=random, a data module of one's own that takes no root or download."""
    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    (conf / "local").mkdir(exist_ok=True)
    (conf / "local" / "default.yaml").write_text(f"# @package _global_\ndata:\n  root: {root}\n  download: false\n")
    (conf / "data" / "random.yaml").write_text("_target_: own_classes.RandomImages\nimages: 32\n")
    return conf


def test_a_local_configs_data_keys_reach_only_a_data_module_that_takes_them(mnist_root: Path, tmp_path: Path) -> None:
    # data.root and data.download of conf/local/default.yaml refused every command of a data module without them.
    conf = conf_with_local_data(tmp_path, mnist_root)
    assert checked("data=random", "trainer.max_epochs=1", conf=str(conf)) == 1
    # Given on the command line, they are the user's own mistake.
    with pytest.raises(ConfigError, match=r"^data.root: no such key; allowed: images, batch_size$"):
        checked("data=random", "data.root=/data", conf=str(conf))
    # MNIST still reads them: it is found where the file says (the default, data/ with a download, is not there).
    here = [override for override in tiny_overrides(mnist_root) if not override.startswith(("data.root", "data.down"))]
    assert checked(*here, conf=str(conf)) == 1


@pytest.mark.slow
def test_a_data_module_without_root_trains_with_a_local_config_present(mnist_root: Path, tmp_path: Path) -> None:
    conf = conf_with_local_data(tmp_path, mnist_root)
    done = run_train(["-cp", str(conf), "data=random", "trainer.max_epochs=1", "trainer.accelerator=cpu",
                      f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["epochs"] == 1


def test_a_sweep_that_lists_a_job_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="seed=0: the sweep lists this job twice"):
        checked("-m", "seed=0,0")
    assert checked("-m", "seed=0,1") == 2
    # As numbers: clip.value=1 and 1.0 ran the same job twice, in two folders, as two points of the figure.
    with pytest.raises(ConfigError, match=r"^clip.value=1.0: the sweep lists this job twice, which would run it "
                                          r"twice; give each value once \(1 and 1.0 are one value\)$"):
        checked("-m", "clip.value=1,1.0")
    # A boolean as the command line writes it: Hydra writes each job's as Python's (data.download=False).
    with pytest.raises(ConfigError, match=r"^data.download=false: the sweep lists this job twice"):
        checked("-m", "data.download=false,false")


def test_a_sweep_whose_two_jobs_would_share_a_folder_is_refused(tmp_path: Path) -> None:
    # A job's folder writes a value's '/' as '_': the second job ran over the first, and the sweep counted one job.
    first, second = tmp_path / "a" / "b", tmp_path / "a_b"
    with pytest.raises(ConfigError, match=rf"^data.root={first} and data.root={second}: both jobs would run in the "
                                          rf"folder data.root={str(second).replace('/', '_')}, the second over the "
                                          rf"first \(a job's folder names the values the sweep varies, a '/' written "
                                          rf"'_', less hydra.job.config.override_dirname.exclude_keys\)"):
        checked("-m", f"data.root={first},{second}", "seed=0")
    with pytest.raises(ConfigError, match=r"^seed=0 clip.value=0.5 and seed=1 clip.value=0.5: both jobs would run in "
                                          r"the folder clip.value=0.5, the second"):
        checked("-m", "seed=0,1", "clip.value=0.5,1", "hydra.job.config.override_dirname.exclude_keys=[seed]")
    with pytest.raises(ConfigError, match=r"^seed=0 data.download=false and seed=1 data.download=false: both jobs"):
        checked("-m", "seed=0,1", "data.download=false,true", "hydra.job.config.override_dirname.exclude_keys=[seed]")
    # Each seed's folder names its data.root too: they differ. (data.download=true: the folders hold no MNIST,
    # and a machine's conf/local/default.yaml may turn the download off, as README advises.)
    assert checked("-m", f"data.root={first},{tmp_path / 'c'}", "seed=0,1", "data.download=true") == 4


@pytest.mark.parametrize("n_jobs", ["0", "-1", "abc"])
def test_no_jobs_at_a_time_is_refused_before_the_sweep_folder_exists(n_jobs: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"hydra.launcher.n_jobs={n_jobs} is out of range: allowed a whole number "
                                          rf">= 1"):
        prepare(["-m", "hydra/launcher=parallel", f"hydra.launcher.n_jobs={n_jobs}", "seed=0,1",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert not (tmp_path / "sweep").exists()


def test_without_loggers_or_callbacks_a_run_writes_only_into_its_folder(compose_config, mnist_root, tmp_path,
                                                                         monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = compose_config([*tiny_overrides(mnist_root), "~logger", "~callbacks"])
    assert run_job(cfg, tmp_path / "run") == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]
    assert list((tmp_path / "run").rglob("*.ckpt"))  # Lightning's own checkpoint, inside the run's folder


def test_a_relative_data_root_with_chdir_is_refused(mnist_root: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.root=data is relative, but hydra.job.chdir=true"):
        checked("data.root=data", "hydra.job.chdir=true")
    assert checked(*tiny_overrides(mnist_root), "hydra.job.chdir=true") == 1


@pytest.mark.parametrize("key,said", [
    ("hydra.run.dir", "hydra.run.dir={path} cannot be made (File name too long): choose another hydra.run.dir, or "
                      "make it writable"),
    ("data.root", "{path}: File name too long; choose another path"),
])
def test_a_path_the_system_refuses_is_one_line(key: str, said: str, mnist_root: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    too_long = tmp_path / ("x" * 300)
    with pytest.raises(SystemExit) as exit_:
        check_command_line([*tiny_overrides(mnist_root), f"{key}={too_long}"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: " + said.format(path=too_long)]


def test_a_sweep_whose_folder_is_on_a_full_disk_is_one_line_and_exit_1(mnist_root: Path, tmpfs,
                                                                      capsys: pytest.CaptureFixture) -> None:
    # The sweep's lock took the last byte: "error: None: No space left on device; choose another path", exit 2.
    disk = tmpfs("full", size="1m")
    fill_disk(disk)
    with pytest.raises(SystemExit) as exit_:
        check_command_line(["-m", "seed=0,1", *tiny_overrides(mnist_root), f"hydra.sweep.dir={disk / 'sweep'}"])
    assert exit_.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: no space left on device as the command started: free some space, then run it again"]


def test_a_single_runs_folder_says_what_its_command_line_changed(mnist_root: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # A key given twice is named once, by the value that wins (the last, as Hydra reads it).
    arguments, _ = prepare([*tiny_overrides(mnist_root), "clip.value=0.2", "clip.value=0.5", "trainer.accelerator=cpu",
                            "debug=fast"])
    (folder,) = [argument.partition("=")[2].strip("'") for argument in arguments
                 if argument.startswith("hydra.run.dir=")]
    name = Path(folder).name
    # What defines the run names it; where its data is and what runs it do not.
    assert name.endswith("_clip.value=0.5,data.batch_size=32,data.val_size=64,debug=fast,model.hidden_dims=[32],"
                         "model.latent_dim=4,trainer.max_epochs=1")
    assert (tmp_path / folder).is_dir() and Path(folder).parent == Path("outputs", "runs")


def test_a_fast_dev_run_names_its_folder(mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # It trains a batch and writes results.json: in a folder named by its time alone it read as a full run's.
    monkeypatch.chdir(tmp_path)
    arguments, _ = prepare([*tiny_overrides(mnist_root), "trainer.fast_dev_run=true"])
    (folder,) = [argument.partition("=")[2].strip("'") for argument in arguments
                 if argument.startswith("hydra.run.dir=")]
    assert "trainer.fast_dev_run=true" in Path(folder).name


def test_a_single_runs_folder_names_an_interpolation_by_its_value(mnist_root: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Named `seed=${oc.env:SEED}`, the claimed folder stayed empty: Hydra resolved the `${` in hydra.run.dir
    # again and ran in a folder of its own, `seed=3`.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEED", "3")
    arguments, _ = prepare([*tiny_overrides(mnist_root), "seed=${oc.env:SEED}", "trainer.accelerator=cpu"])
    (override,) = OverridesParser.create().parse_overrides([argument for argument in arguments
                                                            if argument.startswith("hydra.run.dir=")])
    assert ",seed=3," in Path(override.value()).name
    assert list((tmp_path / "outputs" / "runs").iterdir()) == [tmp_path / override.value()]


def test_a_quoted_folder_reads_back_whole_through_hydras_parser() -> None:
    for name in ("outputs/runs/2026_clip.value=0.5,model.hidden_dims=[32],x='y',back\\slash",
                 "runs/a\\'b", "runs/end\\"):
        (override,) = OverridesParser.create().parse_overrides([f"hydra.run.dir={quoted(name)}"])
        assert override.value() == name


COMMAND_LINES = [
    ["-m", "--config-dir", "elsewhere", "--config-name", "other", "clip.value=0.1,1"],
    ["--multirun", "-cd", "conf", "-cn", "x", "seed=1", "+a=b"],
    ["--cfg", "job", "--resolve", "-p", "model"],
    ["--info"], ["-i", "plugins"], ["--hydra-help"], ["-h"], ["-sc"], ["-r", "optim.lr=0.1"],
    ["--experimental-rerun", "config.pickle"], ["--multi", "seed=0,1"], ["--config-path", "/abs", "seed=2"],
]


def actions(parser: argparse.ArgumentParser) -> dict[str, tuple]:
    return {action.dest: (tuple(action.option_strings), action.nargs, action.const, action.choices)
            for action in parser._actions}


def test_every_flag_of_hydras_parser_is_declared_alike() -> None:
    hydras = actions(get_args_parser())
    # Hydra's --version prints and exits as it parses; ours only notes it, and Hydra answers it later.
    assert hydras["version"] == (("--version",), 0, None, None)
    assert actions(command_line_parser()) == {**hydras, "version": (("--version",), 0, True, None)}


@pytest.mark.parametrize("arguments", COMMAND_LINES, ids=" ".join)
def test_a_command_line_reads_as_hydra_reads_it(arguments: list[str]) -> None:
    ours, hydras = parse_command_line(arguments), get_args_parser().parse_known_args(arguments)[0]
    assert vars(ours) == {**vars(hydras), "version": False}


def test_hydra_reads_the_flags_and_overrides_we_rely_on() -> None:
    args = parse_command_line(["-m", "--config-dir", "elsewhere", "--config-name", "other", "clip.value=0.1,1"])
    assert args.multirun and args.config_dir == "elsewhere" and args.config_name == "other"
    assert args.overrides == ["clip.value=0.1,1"] and not runs_nothing(args)


def test_flags_that_only_print_run_no_job() -> None:
    for flags in (["--cfg", "job"], ["--help"], ["--hydra-help"], ["--info"], ["--shell-completion"], ["--version"]):
        assert runs_nothing(parse_command_line(flags)), flags


@pytest.mark.parametrize("flags,line", [
    (["--help"], "--config-path {empty}: holds no config.yaml; give the folder that holds it"),
    (["--cfg", "job"], "--config-path {empty}: holds no config.yaml; give the folder that holds it"),
    (["--shell-completion"],
     "--shell-completion: say what to do, e.g. python train.py --shell-completion install=bash"),
    (["-m", "--cfg", "job", "seed=0,1"], "--multirun and --cfg: Hydra takes one of --run, --multirun, --cfg, --info "
                                         "and --shell-completion; drop all but one"),
    (["--run", "--info"], "--run and --info: Hydra takes one of"),
    (["--cfg", "job", "seed=0,1"], "seed=0,1 lists several values, and Hydra prints the config of one job"),
    (["--help", "optim=glob(*)"], "optim=glob(*) lists several values, and Hydra prints the config of one job"),
])
def test_a_flag_that_only_prints_is_one_line_where_hydra_would_fail(flags: list[str], line: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    # Hydra answered each with a traceback of its own.
    empty = tmp_path / "empty"
    empty.mkdir()
    arguments = [*flags, "-cp", str(empty)] if "config.yaml" in line else flags
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(arguments)
    assert exit_info.value.code == 2
    (said,) = capsys.readouterr().err.strip().splitlines()
    assert said.startswith("error: " + line.format(empty=empty))


@pytest.mark.parametrize("download", ["true", "false"])
def test_a_data_root_in_a_symbolic_link_loop_is_refused_before_the_run_folder_exists(download, tmp_path, monkeypatch,
                                                                                      capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(SystemExit) as exit_info:
        check_command_line([f"data.root={tmp_path / 'a'}", f"data.download={download}",
                            f"hydra.run.dir={tmp_path / 'run'}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: data.root={tmp_path / 'a'} cannot be opened (Too many levels of symbolic links): point data.root "
        "at the folder that holds MNIST/raw"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b"]


@pytest.mark.parametrize("multirun,linked", [(False, ".lock"), (False, "run.log"), (False, "checkpoints/last.ckpt"),
                                             (True, ".lock"), (True, "seed=1/.hydra/config.yaml")])
@pytest.mark.parametrize("resume", [False, True])
def test_a_folder_handed_over_with_a_symbolic_link_out_of_it_is_refused_and_the_links_target_kept(
    multirun: bool, linked: str, resume: bool, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "someone's file"
    target.write_text("kept\n")
    folder = tmp_path / "handed-over"
    (folder / linked).parent.mkdir(parents=True)
    (folder / linked).symlink_to(target)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    with pytest.raises(SystemExit) as exit_info:
        check_command_line([*(["-m", "seed=1,2"] if multirun else []), *tiny_overrides(mnist_root),
                            f"{key}={folder}", f"resume={str(resume).lower()}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {folder / linked} is a symbolic link out of the folder, which the run would write through; replace "
        f"it with what it links to (cp -rL), or choose another {key}"]
    assert target.read_text() == "kept\n"


@pytest.mark.parametrize("multirun", [False, True])
@pytest.mark.parametrize("resume", [False, True])
def test_a_single_run_into_a_sweeps_folder_and_a_sweep_into_a_runs_are_refused(
    multirun: bool, resume: bool, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "folder"
    # What the other kind leaves: a sweep's job folder, or a single run's saved config.
    (folder / ("." if multirun else "seed=1") / ".hydra").mkdir(parents=True)
    written = sorted(folder.rglob("*"))
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    with pytest.raises(SystemExit) as exit_info:
        check_command_line([*(["-m", "seed=1,2"] if multirun else []), *tiny_overrides(mnist_root),
                            f"{key}={folder}", f"resume={str(resume).lower()}"])
    assert exit_info.value.code == 2
    expected = (f"error: {folder} holds a single run, not a sweep; continue it without -m" if multirun else
                f"error: {folder} holds a sweep, not a single run; continue it with -m")
    assert capsys.readouterr().err.strip().startswith(expected)
    assert sorted(folder.rglob("*")) == written


def test_a_new_single_run_beside_a_sweeps_jobs_is_refused_and_a_job_continued_alone_is_not(
    mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # Accepted, the run was read by plot as one of the sweep's jobs, and ended saying it was "a job of the sweep".
    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "sweep"
    (sweep / "seed=1" / ".hydra").mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("{}")
    written = sorted(sweep.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        check_command_line([*tiny_overrides(mnist_root), f"hydra.run.dir={sweep / 'mine'}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {sweep} holds a sweep, and hydra.run.dir={sweep / 'mine'} would put this run among its jobs (plot "
        f"would read it as one); choose a hydra.run.dir outside the sweep's folder")
    assert sorted(sweep.rglob("*")) == written
    check_command_line([*tiny_overrides(mnist_root), f"hydra.run.dir='{sweep / 'seed=1'}'", "resume=true"])


@pytest.mark.parametrize("outer,multirun", [("runs/2026-12-04_10-00-00", False), ("runs/2026-12-04_10-00-00", True),
                                            ("sweeps/2026-12-04_10-00-00/seed=1", False)])
def test_a_run_or_sweep_within_a_runs_folder_is_refused(
    outer: str, multirun: bool, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture
) -> None:
    # Nested, the inner run's metrics.csv was moved aside by the outer's resume=true, which finds them by rglob.
    monkeypatch.chdir(tmp_path)
    (tmp_path / outer / ".hydra").mkdir(parents=True)
    (tmp_path / outer / "results.json").write_text("{}")
    written = sorted(tmp_path.rglob("*"))
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    with pytest.raises(SystemExit) as exit_info:
        check_command_line([*(["-m", "seed=1,2"] if multirun else []), *tiny_overrides(mnist_root),
                            f"{key}='{outer}/sub'"])  # quoted: a job's folder name holds '='
    assert exit_info.value.code == 2
    kind = "sweep" if multirun else "run"
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / outer} holds a run, and {key}={outer}/sub would nest this {kind} in it (resume=true of "
        f"that run would move its metrics.csv aside); choose a {key} outside it")
    assert sorted(tmp_path.rglob("*")) == written


@pytest.mark.parametrize("multirun", [False, True])
def test_the_folder_of_all_runs_is_refused_and_a_refused_sweep_leaves_no_lock(
    multirun: bool, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # hydra.run.dir=outputs trained into the folder beside runs/ and sweeps/; a sweep refused there kept a .lock.
    monkeypatch.chdir(tmp_path)
    outputs = tmp_path / "outputs"
    (outputs / "runs" / "2026-12-04_10-00-00" / ".hydra").mkdir(parents=True)
    (outputs / "runs" / "2026-12-04_10-00-00" / "results.json").write_text("{}")
    written = sorted(outputs.rglob("*"))
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    with pytest.raises(SystemExit) as exit_info:
        check_command_line([*(["-m", "seed=1,2"] if multirun else []), *tiny_overrides(mnist_root), f"{key}={outputs}"])
    assert exit_info.value.code == 2
    kind, name = ("sweep", "my-sweep") if multirun else ("run", "my-run")
    assert capsys.readouterr().err.strip() == (f"error: {outputs} holds folders of runs and sweeps, not a {kind}; give "
                                                f"this one a folder of its own, e.g. {key}={outputs / name}")
    assert sorted(outputs.rglob("*")) == written
    with pytest.raises(SystemExit):
        check_command_line(["-m", "seed=1,2", *tiny_overrides(mnist_root), f"hydra.sweep.dir={outputs / 'runs'}"])
    assert "already holds a sweep" in capsys.readouterr().err and sorted(outputs.rglob("*")) == written



def completed_grid(sweep: Path, mnist_root: Path) -> Path:
    """The folder of a completed sweep of clip.value=0.1,1.0, as far as resume's check reads it."""
    for value in ("0.1", "1.0"):
        job = sweep / f"clip.value={value}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump([*tiny_overrides(mnist_root), f"clip.value={value}"]))
        (job / "results.json").write_text("{}")
    return sweep


def test_a_sweep_resumed_without_a_job_it_ran_is_refused_and_with_new_values_continues(
        mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # Continued with clip.value=0.1,0.25, multirun.yaml listed those alone, and plot dropped the completed 1.0.
    monkeypatch.chdir(tmp_path)
    sweep = completed_grid(tmp_path / "sweep", mnist_root)
    written = {path: path.read_bytes() for path in sweep.rglob("*") if path.is_file()}
    command = ["-m", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}", "resume=true"]
    with pytest.raises(SystemExit) as exit_info:
        check_command_line([*command, "clip.value=0.1,0.25"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: resume=true continues the sweep in {sweep}, but leaves out its job clip.value=1.0: list every value "
        f"the sweep ran (adding new ones is fine), or give another hydra.sweep.dir")
    assert {path: path.read_bytes() for path in sweep.rglob("*") if path.is_file()} == written
    arguments, sweep_lock = check_command_line([*command, "clip.value=0.1,0.25,1.0"])
    sweep_lock.close()



@pytest.mark.parametrize("swept,said", [
    # Both told to list every value the sweep ran, which the command had done.
    (["clip.value=0.1,1"], "but its job clip.value=1.0 ran with clip.value=1.0, which this command gives as "
                           "clip.value=1 (another folder): give each value as the sweep ran it, or give another "
                           "hydra.sweep.dir"),
    (["clip.value=0.1,1.0", "seed=0,1"], "but sweeps seed, which its job clip.value=0.1 ran without: sweep the keys "
                                         "the sweep swept (its multirun.yaml holds its command), or give another "
                                         "hydra.sweep.dir"),
])
def test_a_sweep_resumed_with_its_values_written_otherwise_or_another_key_is_told_which(
        swept: list[str], said: str, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    sweep = completed_grid(tmp_path / "sweep", mnist_root)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["-m", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}", "resume=true", *swept])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: resume=true continues the sweep in {sweep}, {said}"


def test_a_sweep_resumed_with_a_command_that_sweeps_nothing_is_told_to_list_its_values(
        mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # `-m clip.value=0.1` was matched to the 1.0 job's folder: "clip.value=0.1, but the run was trained with 1.0".
    monkeypatch.chdir(tmp_path)
    sweep = completed_grid(tmp_path / "sweep", mnist_root)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["-m", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}", "resume=true",
                            "clip.value=0.1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: resume=true continues the sweep in {sweep}, whose jobs ran with values of their own, but this command "
        f"sweeps nothing: list every value the sweep ran (its multirun.yaml holds its command), or give another "
        f"hydra.sweep.dir")


@pytest.mark.parametrize("swept", [["clip.value=0.1", "seed=0,1"], ["seed=0,1"]])
def test_a_sweep_resumed_without_sweeping_a_key_its_jobs_are_named_by_is_told_to_list_its_values(
        swept: list[str], mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    # Let through, its jobs ran in new folders (seed=0, seed=1) beside the sweep's, whose summary then mixed them.
    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "sweep"
    for value, seed in itertools.product(("0.1", "1.0"), ("0", "1")):
        job = sweep / f"clip.value={value},seed={seed}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump([*tiny_overrides(mnist_root), f"clip.value={value}", f"seed={seed}"]))
        (job / "results.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["-m", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}", "resume=true", *swept])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: resume=true continues the sweep in {sweep}, whose jobs are named by the clip.value they ran with, "
        f"but this command does not sweep it: list every value the sweep ran (its multirun.yaml holds its command), "
        f"or give another hydra.sweep.dir")


@pytest.mark.parametrize("where", ["no controller", "no sbatch"])
def test_a_slurm_sweep_where_no_controller_answers_is_one_line_and_writes_nothing(
        where: str, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    # submitit failed at its first sbatch with a 45-line traceback, the sweep folder written.
    monkeypatch.chdir(tmp_path)
    if where == "no controller":
        if shutil.which("scontrol") is None:
            pytest.skip("Slurm's client commands are not installed here")
        conf = tmp_path / "slurm.conf"  # a cluster whose controller's port nothing listens on
        conf.write_text("ClusterName=none\nSlurmctldHost=localhost\nSlurmctldPort=9\nNodeName=localhost CPUs=1\n"
                        "PartitionName=debug Nodes=localhost Default=YES\n")
        monkeypatch.setenv("SLURM_CONF", str(conf))
        said = "no Slurm controller answers here (scontrol ping: Slurmctld(primary) at "
    else:
        monkeypatch.setenv("PATH", str(tmp_path))
        said = "this machine has no sbatch and scontrol on its PATH"
    written = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["-m", "hydra/launcher=slurm", "clip.value=0.1,1.0", "hydra.launcher.partition=debug",
                            *tiny_overrides(mnist_root), f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: hydra/launcher=slurm: {said}") and line.endswith("hydra/launcher=parallel"), line
    assert sorted(tmp_path.rglob("*")) == written


# Lightning's loggers that need a package of their own (name, _target_, its module, its pip name), and one's
# own subclass of one: none is installed with the project.
LOGGERS_NEEDING_PACKAGES = [
    ("wandb", "lightning.pytorch.loggers.WandbLogger", "wandb", "wandb"),
    ("mlflow", "lightning.pytorch.loggers.MLFlowLogger", "mlflow", "mlflow"),
    ("comet", "lightning.pytorch.loggers.CometLogger", "comet_ml", "comet-ml"),
    ("lit", "lightning.pytorch.loggers.LitLogger", "litlogger", "litlogger"),
    ("own", "own_classes.OwnWandbLogger", "wandb", "wandb"),
]


def refusable_here(target: str, module: str) -> bool:
    """Whether the logger class `target` exists here (a Lightning older than LitLogger has none) and `module`, the
    package it needs, is not installed."""
    module_name, _, name = target.rpartition(".")
    return hasattr(importlib.import_module(module_name), name) and importlib.util.find_spec(module) is None


def neptune_sunset() -> bool:
    """Whether this Lightning's NeptuneLogger is the class it keeps only to say Neptune has been sunset, no logger."""
    neptune = importlib.util.find_spec("lightning.pytorch.loggers.neptune")
    return neptune is not None and not issubclass(
        importlib.import_module("lightning.pytorch.loggers.neptune").NeptuneLogger, Logger)


@pytest.mark.parametrize("file,content,chosen,said", [
    # A nested class (a callback's, a logger's) that cannot be imported: a 60-line traceback.
    ("callbacks/mine.yaml", "defaults: [default, _self_]\nearly:\n  _target_: lightning.pytorch.callbacks.EarlyStop\n",
     "callbacks=mine", "callbacks.early: _target_ lightning.pytorch.callbacks.EarlyStop is not a class that can be "
                       "imported (No module named 'lightning.pytorch.callbacks.EarlyStop'); fix its file, or put its "
                       "module on the PYTHONPATH"),
    # Built partially, the model failed at fit with "optimizer got an empty parameter list", its run folder made.
    ("model/mine.yaml", "_target_: vae_lightning.paper.model.VAE\n_partial_: true\nhidden_dims: [32]\nlatent_dim: 4\n",
     "model=mine",
     "model._partial_=true: only the optimizer is built partially (over the model's parameters); remove _partial_"),
    ("logger/mine.yaml",
     "tb:\n  _target_: lightning.pytorch.loggers.TensorBoardLogger\n  save_dir: .\n  _partial_: true\n",
     "logger=mine", "logger.tb._partial_=true: only the optimizer is built partially"),
    # Without its package line, an experiment's keys landed under `experiment.`: the line named neither cause nor fix.
    ("experiment/mine.yaml", "optim:\n  lr: 0.05\n", "experiment=mine",
     "conf/experiment/mine.yaml sets keys of the whole config, but without `# @package _global_` as its first line "
     "they land under `experiment.`: add that line"),
    ("experiment/mine.yaml", "defaults:\n  - override /optim: adam\n", "experiment=mine",
     "conf/experiment/mine.yaml sets keys of the whole config, but without `# @package _global_`"),
    # Any command read every file of a --config-dir folder, and one that is not YAML gave a traceback.
    ("optim/broken.yaml", "lr: [0.01\n", "optim=sgd", "optim/broken.yaml: not valid YAML at line 2"),
    # One callback or logger at the file's top, as an optimizer's file has it: a 40-line traceback.
    ("callbacks/stop.yaml", "_target_: lightning.pytorch.callbacks.EarlyStopping\nmonitor: val/loss\n",
     "callbacks=stop", "callbacks=stop: its file names one class at its top, but the callbacks group holds named ones, "
                       "as conf/callbacks/default.yaml does: put its keys under a name (mine: {_target_: ...}), with "
                       "`defaults: [default, _self_]` above to keep the default ones"),
    ("logger/flat.yaml", "_target_: lightning.pytorch.loggers.CSVLogger\nsave_dir: .\n", "logger=flat",
     "logger=flat: its file names one class at its top, but the logger group holds named ones"),
    # An option extending the shipped one for a class that does not take its keys: the line named
    # conf/model/wide.yaml, a file that does not exist, and gave no way out.
    ("model/wide.yaml", "defaults:\n  - vae\n  - _self_\n_target_: own_classes.Wide\nwidth: 8\n", "model=wide",
     "model.input_dim (from model/vae, which wide.yaml extends): no such key; allowed: width, latent_dim; "
     "own_classes.Wide does not take model/vae's keys: give its own in wide.yaml, without that defaults entry"),
    # A misspelt key of a callback's or logger's option: the line named the key but not the file that holds it.
    ("callbacks/mine.yaml",
     "defaults: [default, _self_]\nearly:\n  _target_: lightning.pytorch.callbacks.EarlyStopping\n  monitr: val/loss\n",
     "callbacks=mine",
     "callbacks.early.monitr (in {options}/callbacks/mine.yaml): no such key; allowed: monitor,"),
    ("logger/mine.yaml", "defaults: [default, _self_]\ncsv:\n  flush_logs_every_n_step: 2\n", "logger=mine",
     "logger.csv.flush_logs_every_n_step (in {options}/logger/mine.yaml): no such key; allowed: save_dir,"),
    # A callback of another class under a default one's name: the line named neither the file nor the way out.
    ("callbacks/mine.yaml",
     "defaults: [default, _self_]\ncheckpoint:\n  _target_: lightning.pytorch.callbacks.EarlyStopping\n",
     "callbacks=mine", "EarlyStopping does not take callbacks/default's keys of checkpoint: give it a name of its "
                       "own in mine.yaml"),
    # A logger whose package is not installed: Lightning's ModuleNotFoundError failed the run, its folder made.
    *[pytest.param(f"logger/{name}.yaml", f"defaults: [default, _self_]\n{name}:\n  _target_: {target}\n",
                   f"logger={name}", f"error: logger.{name}: {target} needs the package {package}, which is not "
                                     f"installed; pip install {package}, or run without this logger: ~logger.{name}",
                   marks=pytest.mark.skipif(not refusable_here(target, module),
                                            reason=f"{package} is installed here, or this Lightning has no {target}"))
      for name, target, module, package in LOGGERS_NEEDING_PACKAGES],
    # No logger: the run failed with a traceback, its folder made ('EarlyStopping' object has no attribute
    # 'finalize'; NeptuneLogger is no longer supported).
    ("logger/stop.yaml", "defaults: [default, _self_]\nstop:\n  _target_: lightning.pytorch.callbacks.EarlyStopping\n"
                         "  monitor: val/loss\n", "logger=stop",
     "error: logger.stop: lightning.pytorch.callbacks.EarlyStopping is not a Lightning logger "
     "(lightning.fabric.loggers.Logger), which the Trainer logs through; give one, or run without it: ~logger.stop"),
    pytest.param("logger/neptune.yaml",
                 "defaults: [default, _self_]\nneptune:\n  _target_: lightning.pytorch.loggers.neptune.NeptuneLogger\n",
                 "logger=neptune", "error: logger.neptune: lightning.pytorch.loggers.neptune.NeptuneLogger is not a "
                                   "Lightning logger",
                 marks=pytest.mark.skipif(not neptune_sunset(), reason="this Lightning's NeptuneLogger is a logger")),
])
def test_a_mistake_in_a_config_dir_option_is_one_line_and_writes_nothing(
        file: str, content: str, chosen: str, said: str, mnist_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    options = tmp_path / "mine"
    (options / file).parent.mkdir(parents=True)
    (options / file).write_text(content)
    written = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["-cd", str(options), chosen, *tiny_overrides(mnist_root)])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert said.replace("{options}", str(options)) in line, line
    assert sorted(tmp_path.rglob("*")) == written


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
@pytest.mark.parametrize("swept", [["seed=0,1", "logger=wandb"], ["logger=default,wandb"]])
def test_a_sweep_with_a_logger_whose_package_is_missing_is_refused_before_its_folder(
        swept: list[str], mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    options = tmp_path / "mine"
    (options / "logger").mkdir(parents=True)
    (options / "logger" / "wandb.yaml").write_text(
        "defaults: [default, _self_]\nwandb:\n  _target_: lightning.pytorch.loggers.WandbLogger\n")
    written = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["-m", "-cd", str(options), *swept, *tiny_overrides(mnist_root),
                            f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: logger.wandb: lightning.pytorch.loggers.WandbLogger needs the package wandb"), line
    assert sorted(tmp_path.rglob("*")) == written


# Each package's release below the versions Lightning 2.6.6 requires of it.
OLDER_THAN_REQUIRED = {"wandb": ("0.12.0", ">=0.12.10"), "mlflow": ("0.9.1", ">=1.0.0"),
                       "comet-ml": ("3.44.3", ">=3.44.4"), "litlogger": ("0.0.9", ">=0.1.0")}


@pytest.mark.parametrize("name,target,module,package", LOGGERS_NEEDING_PACKAGES)
def test_a_logger_whose_package_is_older_than_lightning_requires_is_refused_before_its_folder(
        name: str, target: str, module: str, package: str, mnist_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Lightning's logger raised its ModuleNotFoundError in the run, its folder made (wandb 0.12.0 installed:
    `logger.wandb: Requirement 'wandb>=0.12.10' not met...; or change the setting of logger.wandb that needs it`)."""
    module_name, _, class_name = target.rpartition(".")
    if not hasattr(importlib.import_module(module_name), class_name):
        pytest.skip(f"this Lightning has no {target}")
    older, required = OLDER_THAN_REQUIRED[package]
    installed = tmp_path / "site-packages"  # as pip lays out a package it installed: its module and its metadata
    (installed / module).mkdir(parents=True)
    (installed / module / "__init__.py").write_text("")
    (installed / f"{package.replace('-', '_')}-{older}.dist-info").mkdir()
    (installed / f"{package.replace('-', '_')}-{older}.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {package}\nVersion: {older}\n")
    monkeypatch.syspath_prepend(str(installed))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine" / "logger").mkdir(parents=True)
    (tmp_path / "mine" / "logger" / f"{name}.yaml").write_text(
        f"defaults: [default, _self_]\n{name}:\n  _target_: {target}\n")
    written = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["-cd", str(tmp_path / "mine"), f"logger={name}", *tiny_overrides(mnist_root)])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (f"error: logger.{name}: {target} needs {package}{required}, and {older} is installed; pip install "
                    f"-U \"{package}{required}\", or run without this logger: ~logger.{name}")
    assert sorted(tmp_path.rglob("*")) == written


def test_a_refused_sweep_leaves_the_lock_file_an_earlier_sweep_left(mnist_root: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "sweep"
    (sweep / "seed=1" / ".hydra").mkdir(parents=True)
    (sweep / "seed=1" / "results.json").write_text("{}")
    (sweep / ".lock").write_text("8202")  # the pid of the process that ran it, long gone
    with pytest.raises(SystemExit):
        check_command_line(["-m", "seed=1,2", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}"])
    assert "already holds a sweep" in capsys.readouterr().err
    assert (sweep / ".lock").read_text() == "8202"


@pytest.mark.parametrize("multirun,planted", [(False, "hpc_ckpt_1.ckpt"), (True, "seed=1/hpc_ckpt_3.ckpt")])
def test_a_folder_holding_a_lightning_hpc_checkpoint_is_refused(multirun: bool, planted: str, mnist_root: Path,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    # Under Slurm, trainer.fit(ckpt_path=None) would resume from it by itself, whoever wrote it.
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "handed-over"
    (folder / planted).parent.mkdir(parents=True)
    (folder / planted).write_bytes(b"not this run's")
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    with pytest.raises(SystemExit) as exit_info:
        check_command_line([*(["-m", "seed=1,2"] if multirun else []), *tiny_overrides(mnist_root), f"{key}={folder}",
                            "resume=true"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {folder / planted}: under Slurm, Lightning resumes from such a checkpoint by itself, and this "
        f"project writes none; delete it, or choose another {key}")



def test_a_symbolic_link_within_a_sweeps_folder_is_its_own(mnist_root: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # As submitit's .submitit/ holds them: every write through it stays in the sweep.
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "sweep"
    (folder / ".submitit").mkdir(parents=True)
    (folder / ".submitit" / "job.sh").write_text("#!/bin/sh\n")
    (folder / ".submitit" / "submission.sh").symlink_to("job.sh")
    arguments, sweep_lock = check_command_line(["-m", "seed=1,2", *tiny_overrides(mnist_root),
                                                f"hydra.sweep.dir={folder}", "resume=true"])
    sweep_lock.close()


@pytest.mark.parametrize("arguments,line", [
    # Hydra opened the file "" with a traceback; the check names the flag, whatever file it names.
    (["--experimental-rerun", ""], "--experimental-rerun : a pickled config can run any code"),
    # --info with a value of its own, then an override: Hydra composes the config to print it.
    (["--info", "config", "optim=adamm"], "optim=adamm: no such option; choose one of adam, adamw, sgd"),
    (["hydra.run.dir='~alice/runs'"], "hydra.run.dir=~alice/runs: nothing expands '~' here"),
    (["-m", "seed=0,1", "logger.csv.version=v1"], "logger: a sweep's summary and figures read each job's csv/"),
    # Hydra's launcher is not used by a single run: nothing would start the other node.
    (["hydra/launcher=slurm", "trainer.num_nodes=2"], "trainer.num_nodes=2: nothing here starts the other nodes"),
])
def test_more_bad_input_is_one_line_exit_2_and_writes_nothing(arguments: list[str], line: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    said = command_line_refusal(arguments, tmp_path, monkeypatch, capsys)
    assert said.startswith("error: " + line), said


def test_shell_completions_query_passes_to_hydra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert check_command_line(["--shell-completion", "query=bash"]) == (["--shell-completion", "query=bash"], None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("overrides,expected", [
    # An int limit is a count of batches: 2 of the 4 an epoch has.
    (["trainer.limit_train_batches=2", "trainer.val_check_interval=3"],
     "trainer.val_check_interval=3 is more than an epoch's 2 training batches: give at most 2"),
])
def test_bad_batch_limits_are_refused_before_the_run_folder_exists(overrides, expected, mnist_root, tmp_path,
                                                                  monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    arguments = [f"data.root={mnist_root}", "data.download=false", "data.val_size=56", "data.batch_size=64", *overrides,
                 f"hydra.run.dir={tmp_path / 'run'}"]
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(arguments)
    assert exit_info.value.code == 2
    (said,) = capsys.readouterr().err.strip().splitlines()
    assert expected in said, said
    assert list(tmp_path.iterdir()) == []


def test_a_single_run_without_validation_passes(mnist_root: Path, tmp_path: Path) -> None:
    # 0.0 of the val batches is no validation, which a single run may choose (a sweep may not).
    arguments = [*tiny_overrides(mnist_root), "trainer.limit_val_batches=0.0", f"hydra.run.dir={tmp_path / 'run'}"]
    assert check_command_line(arguments) == (arguments, None)


def test_a_sweep_validating_at_its_last_epoch_only_passes() -> None:
    # conf/trainer's max_epochs is 20: validating every 20 epochs still gives each job a val loss.
    assert checked("-m", "seed=0,1", "trainer.check_val_every_n_epoch=20") == 2


def test_an_experiments_seed_fixed_on_the_command_line_wins_over_its_sweep_params() -> None:
    # conf/experiment/clip_value.yaml sweeps 6 thresholds and 5 seeds; seed=3 runs the 6 thresholds once.
    assert checked("experiment=clip_value", "seed=3") == 6


def test_a_config_path_without_config_yaml_passes_with_the_config_it_names(tmp_path: Path) -> None:
    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    (conf / "config.yaml").rename(conf / "main.yaml")
    assert checked("-cp", str(conf), "-cn", "main") == 1


def test_a_config_dir_that_is_no_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["--config-dir", str(tmp_path / "nope")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --config-dir {tmp_path / 'nope'}: no such folder; give a folder of config groups (optim/, ...)"]
    assert list(tmp_path.iterdir()) == []


def fake_slurm(folder: Path, scontrol: str | None) -> None:
    """A PATH of sbatch alone, or of sbatch and an scontrol running the shell line `scontrol`."""
    folder.mkdir()
    for name, line in (("sbatch", "exit 0"), ("scontrol", scontrol)):
        if line is not None:
            (folder / name).write_text(f"#!/bin/sh\n{line}\n")
            (folder / name).chmod(0o755)


@pytest.mark.parametrize("scontrol,said", [
    (None, "this machine has no sbatch and scontrol on its PATH"),
    # An scontrol ended by a signal (a negative return code) answered nothing.
    ("kill -9 $$", "no Slurm controller answers here (scontrol ping: no output)"),
    # A controller that never answers: the wait is cut to 3 s here, from the check's 120.
    ("exec /bin/sleep 60", "scontrol ping had no answer in 120 s"),
])
def test_a_slurm_sweep_without_a_working_scontrol_is_one_line_and_writes_nothing(
        scontrol: str | None, said: str, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: run(*args, **{**kwargs, "timeout": 3}))
    fake_slurm(tmp_path / "bin", scontrol)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    written = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["-m", "hydra/launcher=slurm", "clip.value=0.1,1.0", *tiny_overrides(mnist_root),
                            f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: hydra/launcher=slurm: {said}"), line
    assert sorted(tmp_path.rglob("*")) == written


def saved_grid(sweep: Path, values: dict[str, bool]) -> Path:
    """A sweep's job folders of clip.value, each whose overrides.yaml holds that override alone (the
    data set for every run elsewhere) and, where `values` says so, its results."""
    for value, completed in values.items():
        job = sweep / f"clip.value={value}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"clip.value={value}"]))
        if completed:
            (job / "results.json").write_text("{}")
    return sweep


@pytest.mark.parametrize("values,command", [
    # A job whose saved overrides are exactly the job's own is that job.
    ({"0.1": True, "1.0": True}, "clip.value=0.1,1.0"),
    # A sweep of one job, completed: the command names it alone.
    ({"0.1": True}, "clip.value=0.1"),
    # A job folder that holds nothing yet (its job cut before it trained) may be left out.
    ({"0.1": True, "1.0": False}, "clip.value=0.1,0.25"),
])
def test_a_sweep_resumed_with_each_job_it_ran_continues(values: dict[str, bool], command: str, mnist_root: Path,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sweep = saved_grid(tmp_path / "sweep", values)
    arguments, sweep_lock = check_command_line(["-m", *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep}",
                                                "resume=true", command])
    sweep_lock.close()


def test_a_folder_in_another_users_home_is_written_out_as_that_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture) -> None:
    # The advice for hydra.run.dir=~root/runs was hydra.run.dir=$HOMEroot/runs, a folder of no one's.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        check_command_line(["hydra.run.dir='~root/runs'"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: hydra.run.dir=~root/runs: nothing expands '~' here (a folder named '~' would be made); write the path "
        f"out, e.g. hydra.run.dir={os.path.expanduser('~root/runs')}"]
    assert list(tmp_path.iterdir()) == []


def test_a_search_resumed_from_its_storage_needs_no_sweep_folder(mnist_root: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # conf/search/sgd.yaml: a study kept in a storage continues by the same command with resume=true; the
    # sweep folder is needed only with storage: null.
    monkeypatch.chdir(tmp_path)
    arguments, sweep_lock = check_command_line(["-m", "search=sgd", *tiny_overrides(mnist_root), "resume=true",
                                                f"hydra.sweeper.storage=sqlite:///{tmp_path / 'study.db'}"])
    sweep_lock.close()
    assert Path(sweep_lock.name).parent.parent == Path("outputs", "sweeps")  # a fresh folder, named by the time


def test_a_run_folder_this_locale_cannot_read_is_refused_before_anything_runs(tmp_path: Path) -> None:
    # Under LC_ALL=C with PYTHONUTF8=0, hydra.run.dir='runs/grün' reached Python as undecodable bytes (surrogates),
    # and TensorBoard, encoding its event file's path as UTF-8, failed the run with a traceback, its folder made.
    undecoded = f"{tmp_path}/gr\udcc3\udcbcn"  # grün's UTF-8 bytes, as an ASCII locale decodes them
    with pytest.raises(ConfigError, match=r"^hydra.run.dir=.*: this locale \(.*\) cannot read the folder's name, which "
                                          r"TensorBoard cannot then write to; run under a UTF-8 locale"):
        check_writable(undecoded, "hydra.run.dir")
    assert not list(tmp_path.iterdir())
