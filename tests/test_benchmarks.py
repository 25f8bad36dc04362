"""The benchmarks' command lines: a count no measurement can be made with is a usage error before anything runs."""

import argparse
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# Each script's counts: a value below what it can measure with, the least it takes, and arguments that keep a run
# of the script, were the value taken, short (no data: a folder that does not exist; no optimizer variant to run).
COUNTS = [
    ("epoch_costs", "--repeats", "0", 1, []),
    ("epoch_costs", "--repeats", "-1", 1, []),
    ("epoch_costs", "--threads", "0", 1, ["--only", "checkpoints"]),
    ("epoch_speed", "--threads", "0", 1, []),
    ("false_worse_rate", "--sweeps", "0", 1, []),
    ("false_worse_rate", "--seed", "-1", 0, []),
    ("gradient_sizes", "--batches", "0", 1, []),
    ("gradient_sizes", "--batches", "-1", 1, []),
    ("lightning_step_cost", "--steps", "0", 1, ["--repeats", "1"]),
    ("lightning_step_cost", "--repeats", "0", 1, ["--steps", "10"]),
    ("linear_ae_vs_pca", "--latent-dim", "0", 1, []),
    ("linear_ae_vs_pca", "--epochs", "0", 1, []),
    ("optimizer_kernels", "--seeds", "0", 1, ["--variants="]),
    ("optimizer_kernels", "--first-seed", "-1", 0, ["--variants="]),
    ("optimizer_kernels", "--epochs", "0", 1, ["--variants="]),
    ("optimizer_kernels", "--threads", "0", 1, ["--variants="]),
    ("optimizer_kernels", "--parallel", "0", 1, ["--variants="]),
    ("peak_memory", "--epochs", "0", 1, []),
    ("plain_loop", "--epochs", "0", 1, []),
    ("plain_loop", "--batch-size", "0", 1, []),
    ("plain_loop", "--threads", "0", 1, []),
    ("precision", "--seeds", "0", 1, []),
    ("precision", "--epochs", "0", 1, ["--seeds", "1"]),
    ("precision", "--threads", "0", 1, ["--seeds", "1"]),
    ("pruning", "--trials", "0", 1, []),
    ("pruning", "--epochs", "0", 1, []),
    ("pruning", "--seeds", "-1", 0, []),
    ("pruning", "--n-jobs", "0", 1, []),
    ("sgd_kernel_steps", "--steps", "0", 1, []),
    ("sgd_kernel_steps", "--update-at", "0", 1, []),
    ("sgd_kernel_steps", "--threads", "1,0", 1, []),
    ("sgd_kernel_steps", "--repeats", "0", 1, []),
    ("sweep_speed", "--jobs", "0", 1, []),
    ("sweep_speed", "--epochs", "0", 1, []),
    ("sweep_speed", "--repeats", "0", 1, []),
]


@pytest.fixture
def benchmark_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """benchmarks/ importable, as its scripts import one another; the modules imported from it dropped after."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(BENCHMARKS)):
            del sys.modules[name]


@pytest.mark.parametrize("script,flag,value,minimum,others", COUNTS)
def test_a_count_no_measurement_can_be_made_with_is_a_usage_error(
        script: str, flag: str, value: str, minimum: int, others: list[str], benchmark_modules: None, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # --repeats 0 measured nothing, then failed with a traceback (no median of no pairs); --parallel 0 too (no run
    # started to wait for); --batches 0 printed zeros as its result.
    module = importlib.import_module(script)
    reads_data = script not in ("lightning_step_cost", "false_worse_rate")
    folders = ["--data-root", str(tmp_path / "no-data")] if reads_data else []
    if script == "pruning":
        folders += ["--out", str(tmp_path / "out")]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *folders, *others, flag, value])
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    refused = value.split(",")[-1]  # of a list of thread counts, the one refused
    assert err.splitlines()[-1].endswith(f"error: argument {flag}: {refused}: needs at least {minimum}"), err
    assert list(tmp_path.iterdir()) == []


def test_a_count_within_range_is_taken_and_one_that_is_no_number_is_said_so(
        benchmark_modules: None, capsys: pytest.CaptureFixture) -> None:
    from arguments import at_least, thread_counts

    assert at_least(1)("3") == 3 and at_least(0)("0") == 0 and thread_counts("1,2") == [1, 2]
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=at_least(1))
    with pytest.raises(SystemExit):
        parser.parse_args(["--repeats", "three"])
    assert capsys.readouterr().err.splitlines()[-1].endswith("error: argument --repeats: invalid count value: 'three'")
