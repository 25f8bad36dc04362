"""Sweeps expanded through Hydra's public override parser, in the basic and in Optuna's syntax."""

import pytest

from vae_lightning.harness import sweeps
from vae_lightning.errors import ConfigError


def test_a_grid_is_the_product_of_every_swept_key_in_order() -> None:
    assert sweeps.grid(["clip.value=0.1,1.0", "seed=0,1", "trainer.max_epochs=2"]) == [
        ["clip.value=0.1", "seed=0", "trainer.max_epochs=2"], ["clip.value=0.1", "seed=1", "trainer.max_epochs=2"],
        ["clip.value=1.0", "seed=0", "trainer.max_epochs=2"], ["clip.value=1.0", "seed=1", "trainer.max_epochs=2"]]
    assert sweeps.grid(["seed=0,1", "seed=5"]) == [["seed=5"]]  # a key given again: the last one counts


def test_every_sweepers_syntax_is_read_and_each_value_checked_once() -> None:
    jobs = sweeps.jobs(["optim.lr=tag(log,interval(0.001,0.05))", "optim.momentum=choice(0.5,0.9)",
                        "seed=range(0,3)", "+callbacks.x=1"],
                       "hydra_plugins.vae_lightning_optuna.optuna_sweeper.OptunaSweeper")
    values = {override for job in jobs for override in job}
    assert {"optim.lr=0.001", "optim.lr=0.05", "optim.momentum=0.5", "optim.momentum=0.9", "seed=0", "seed=2"} <= values
    assert len(jobs) == 1 + 1 + 1 + 2  # each further value once, not the product


def test_parse_errors() -> None:
    with pytest.raises(ConfigError, match=r"a=\[1,2: Hydra cannot read this override; quote a value that holds ~"):
        sweeps.parse(["a=[1,2"])
    # A sweep job's folder, given unquoted: its name holds `=`, which the advice must name.
    with pytest.raises(ConfigError, match=r"quote a value that holds ~, =, .*given to a shell as \"key='value'\""):
        sweeps.parse(["hydra.run.dir=sweep/clip.value=0.1,seed=0"])
    assert sweeps.parse(["hydra.run.dir='sweep/clip.value=0.1,seed=0'"])[0].value() == "sweep/clip.value=0.1,seed=0"
    with pytest.raises(ConfigError, match="=5: an override needs a key, as in key=value"):
        sweeps.parse(["=5"])


@pytest.mark.parametrize("overrides,refusal", [
    (["seed=range(0,100000000)"], r"seed=range\(0,100000000\): more than 10,000 values, each a job of the sweep"),
    (["seed=shuffle(range(0,100000000))"], r"seed=shuffle\(range\(0,100000000\)\): more than 10,000 values"),
    (["a=range(0,200)", "b=range(0,200)"],
     r"a=range\(0,200\) b=range\(0,200\): a grid of 40,000 jobs, more than 10,000"),
])
def test_a_sweep_of_more_jobs_than_can_be_checked_is_refused_at_once(overrides: list[str], refusal: str) -> None:
    # A slip of a few zeros filled the memory (8 GB in 33 s) before a word was said.
    with pytest.raises(ConfigError, match=refusal):
        sweeps.grid(overrides)
    assert len(sweeps.grid(["a=range(0,100)", "b=range(0,100)"])) == 10_000


def test_a_glob_lists_the_options_it_matches_in_their_order() -> None:
    options = {"optim": ["adam", "adamw", "sgd"], "model": ["ae", "linear_ae", "vae"]}.get
    listed = sweeps.listed_globs(["optim=glob(*,exclude=adamw)", "+model=glob(*ae)", "seed=0,1", "clip=value"],
                                 lambda group: options(group, []))
    assert listed == {"optim=glob(*,exclude=adamw)": "optim=adam,sgd", "+model=glob(*ae)": "+model=ae,linear_ae,vae"}
    with pytest.raises(ConfigError, match=r"^optim=glob\(x\*\): matches none of the options adam, adamw, sgd$"):
        sweeps.listed_globs(["optim=glob(x*)"], lambda group: options(group, []))
    with pytest.raises(ConfigError, match=r"^seed=glob\(\*\): seed is not a config group"):
        sweeps.listed_globs(["seed=glob(*)"], lambda group: options(group, []))
    # A sweep's own params (its multirun.yaml's) are read as they stand, where no glob was listed.
    with pytest.raises(ConfigError, match=r"^model=glob\(\*\): glob\(...\) here is not listed as the group's options"):
        sweeps.jobs(["model=glob(*)"], "hydra._internal.core_plugins.basic_sweeper.BasicSweeper")


def test_a_sweep_of_exactly_the_most_values_passes() -> None:
    # MAX_JOBS is the most a sweep may list, not one more than it: a key of 10,000 values is a sweep of its own.
    assert len(sweeps.grid(["seed=range(0,10000)"])) == 10_000


def test_a_whole_number_interval_is_checked_at_the_whole_numbers_within_it() -> None:
    # Optuna draws tag(int, interval(0.5, 3.5)) from 1 to 3: the check composes the jobs at both ends.
    optuna = "hydra_plugins.vae_lightning_optuna.optuna_sweeper.OptunaSweeper"
    jobs = sweeps.jobs(["x=tag(int,interval(0.5,3.5))"], optuna)
    assert jobs == [["x=1"], ["x=3"]]
