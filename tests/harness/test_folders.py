"""Run folders: claimed once before Hydra starts; sweep jobs named by what the sweep varies."""

import os
from pathlib import Path

from vae_lightning.harness.runs import claim_fresh_dir, job_dir, run_name


def test_a_fresh_folder_is_never_one_that_exists(tmp_path: Path) -> None:
    taken = tmp_path / "runs" / "2026-01-01_00-00-00"
    taken.mkdir(parents=True)  # another run's, started the same second
    assert claim_fresh_dir(taken) == Path(f"{taken}-2") and Path(f"{taken}-2").is_dir()
    assert claim_fresh_dir(taken) == Path(f"{taken}-3")


def test_job_dir_is_a_pure_function_of_the_job() -> None:
    assert job_dir("clip.value=0.5,seed=1", 0) == job_dir("clip.value=0.5,seed=1", 0) == "clip.value=0.5,seed=1"
    assert job_dir("", 4) == "job4"
    assert os.sep not in job_dir("data.root=../x", 5)
    assert len(job_dir("x=" + "9" * 300, 7)) < 220


def test_a_cut_jobs_folder_keeps_its_name_when_a_resumed_sweep_shifts_its_number() -> None:
    # A value added to a resumed sweep (data.root=a,c to a,b,c) renumbers the jobs after it.
    long = "data.root=" + "x" * 300
    assert job_dir(long, 1) == job_dir(long, 2)
    assert job_dir(long, 1).startswith(long[:200]) and job_dir(long, 1) != job_dir(long + "y", 1)


def test_jobs_of_a_sweeper_that_picks_its_own_values_are_numbered() -> None:
    assert job_dir("optim.lr=0.01", 3, "hydra._internal.core_plugins.basic_sweeper.BasicSweeper") == "optim.lr=0.01"
    assert job_dir("optim.lr=0.01", 3,
                   "hydra_plugins.vae_lightning_optuna.optuna_sweeper.OptunaSweeper") == "3_optim.lr=0.01"
    sampled = "clip.value=0.7035737028722149,optim.lr=1.2520653814999465e-05,seed=12"
    assert job_dir(sampled, 4, "hydra_plugins.vae_lightning_optuna.optuna_sweeper.OptunaSweeper") == \
        "4_clip.value=0.7036,optim.lr=1.252e-05,seed=12"


def test_resolving_the_config_creates_no_folder(compose_config, tmp_path: Path) -> None:
    before = set(Path.cwd().rglob("outputs"))
    compose_config([])
    assert set(Path.cwd().rglob("outputs")) == before


def test_a_single_runs_folder_is_its_time_then_what_its_command_line_changed() -> None:
    # Sorted, each key once by the value Hydra keeps (the last), read as its key with `+`, `++` or `~` before it.
    assert run_name("2026-12-02_10-00-00", ["seed=1", "clip.value=0.2", "+model.mc_samples=2", "clip.value=0.5",
                                            "++model.mc_samples=3"]) == \
        "2026-12-02_10-00-00_++model.mc_samples=3,clip.value=0.5,seed=1"
    assert run_name("2026-12-02_10-00-00", []) == "2026-12-02_10-00-00"  # the default run: its time alone
    # A value with a slash stays one folder, not a folder within it.
    assert run_name("2026-12-02_10-00-00", ["model._target_=a/b.VAE"]) == "2026-12-02_10-00-00_model._target_=a_b.VAE"
