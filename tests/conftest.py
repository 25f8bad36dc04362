"""Fixtures: tiny MNIST files for the whole session, and job configs composed by Hydra; how many
workers pytest-xdist starts, and the order in which it hands them the test files."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from tensorboard.summary.writer import event_file_writer

from helpers import tiny_overrides, write_mnist
from vae_lightning.harness.runs import register_resolvers
from vae_lightning.harness.run import quiet_known_warnings, run_job
from vae_lightning.configs import CONFIG_DIR
from vae_lightning.harness.schema import register_schemas

register_resolvers()
register_schemas()
quiet_known_warnings()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """A worker per core, and one more where the Slurm tests run: their worker mostly waits on Slurm's
    minute-long time limits while the others keep the cores busy (the whole suite on 2 cores: 787 s
    with 3 workers, 872 s with 2). pyproject.toml's --maxprocesses caps it."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    slurm_runs = shutil.which("slurmctld") is not None and "not slow" not in (config.getoption("markexpr") or "")
    return cores + slurm_runs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with the most tests first, as pytest-xdist would order them, but Slurm's before all:
    its few tests wait on Slurm's scheduler for minutes, which started last would end the suite with
    one worker waiting and the others idle (pyproject.toml: --no-loadscope-reorder keeps this order)."""
    tests_in = Counter(item.path for item in items)
    items.sort(key=lambda item: ("cluster" not in item.path.parts, -tests_in[item.path]))


@pytest.fixture(autouse=True)
def event_files_named_in_written_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """TensorBoard reads a run's event files in the order of their names: the second, the host, the
    process, then the process's count of writers, compared as text. A run resumed in a test's own
    process within the second its interrupted part started sorted first once that count gained a
    digit (`.101` before `.99`), and TensorBoard dropped the earlier points (a flaky test_resume.py).
    Counted from 10**6, the count keeps its width. Runs of train.py are processes of their own."""
    monkeypatch.setattr(event_file_writer, "_global_uid", event_file_writer.AtomicCounter(10**6))


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mnist(tmp_path_factory.mktemp("data"))


@pytest.fixture
def compose_config(tmp_path: Path) -> Iterator:
    """compose_config(overrides, run="run") -> the job config, with Hydra's runtime set as in a
    real run whose folder is tmp_path/run."""

    def compose_with(overrides: list[str], run: str = "run") -> DictConfig:
        return compose_job(overrides, tmp_path / run, tmp_path / "sweep")

    yield compose_with
    HydraConfig.instance().cfg = None


def compose_job(overrides: list[str], run_dir: Path, sweep_dir: Path) -> DictConfig:
    """The job config of a real run whose folder is run_dir, set as Hydra's current one."""
    # Set both folders: resolving the defaults would create empty run folders in outputs/.
    folders = [f"hydra.run.dir={run_dir}", f"hydra.sweep.dir={sweep_dir}"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, *folders], return_hydra_config=True)
    run_dir.mkdir(exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory: pytest.TempPathFactory, mnist_root: Path) -> Iterator[dict[str, Path]]:
    """Tiny runs trained once per test session, by name: the paper's VAE ("vae"), the VAE
    with loss.reconstruction=bce ("bce"), a deterministic autoencoder ("ae"), a 2-D VAE ("vae2")."""
    variants = {"vae": [], "bce": ["loss.reconstruction=bce"], "ae": ["model=ae"], "vae2": ["model.latent_dim=2"]}
    root = tmp_path_factory.mktemp("trained")
    runs = {}
    for name, overrides in variants.items():
        cfg = compose_job([*tiny_overrides(mnist_root), *overrides], root / name, root / "sweep")
        assert run_job(cfg, root / name) == 0
        runs[name] = root / name
    HydraConfig.instance().cfg = None
    yield runs


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """tmpfs(name, size="5m", read_only=False) -> a folder on a small filesystem of its own, as a
    full disk or a read-only mount look to a run; the test is skipped where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(name: str, size: str = "5m", read_only: bool = False) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                              text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    # Lazily: a test whose run still holds a file open there (its lock) would leave the mount behind, busy.
    for folder in mounted:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)
