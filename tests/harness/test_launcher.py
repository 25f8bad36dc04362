"""The parallel launcher (hydra/launcher=parallel): jobs side by side in forked processes, what a
job that dies sends back, and a sweep stopped by Ctrl-C or SIGTERM."""

import json
import os
import pickle
import signal
import time
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from helpers import injected, run_train, start_train, tiny_overrides
from hydra_plugins.vae_lightning_launcher.parallel_launcher import (CONTEXT, ParallelLauncher, RunningJob, job_return,
                                                                    pickled)
from vae_lightning.harness.runs import read_status, write_status


def test_each_job_gets_an_equal_share_of_the_cores() -> None:
    assert ParallelLauncher(n_jobs=1).threads == len(os.sched_getaffinity(0))
    assert ParallelLauncher(n_jobs=10_000).threads == 1


def die_by_sigkill(sender=None, run_dir: str | None = None) -> None:
    if run_dir is not None:
        sender.send(run_dir)  # as a job does once it knows its folder
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_job_process_that_dies_without_a_result_is_recorded_and_the_sweep_goes_on(tmp_path, caplog) -> None:
    receiver, sender = CONTEXT.Pipe(duplex=False)
    write_status(tmp_path, "running")
    process = CONTEXT.Process(target=die_by_sigkill, args=(sender, str(tmp_path)))
    process.start()
    sender.close()
    result = job_return(RunningJob(process, receiver, ["seed=3"]))
    # Not a failed JobReturn, whose return_value would raise in Hydra's sweeper before the report.
    assert result.status == JobStatus.COMPLETED and result.return_value == float("inf")
    assert "seed=3: the job's process was killed by SIGKILL" in caplog.text
    assert caplog.text.count("killed by SIGKILL") == 1  # said by the launcher, not again as it is recorded
    assert read_status(tmp_path) == {"status": "failed", "error": "the job's process was killed by SIGKILL",
                                     "exit_code": -9}


def test_a_result_that_cannot_be_pickled_arrives_as_its_text() -> None:
    result = JobReturn(overrides=["seed=1"], status=JobStatus.COMPLETED)
    result.return_value = lambda: None
    sent = pickle.loads(pickled(result))
    assert sent.status == JobStatus.FAILED
    with pytest.raises(RuntimeError, match="could not be sent to the sweep"):
        sent.return_value


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signalled_sweep_records_its_running_jobs_as_interrupted_and_starts_no_more(
    signum: signal.Signals, mnist_root: Path, tmp_path: Path
) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep = start_train(["-m", *tiny_overrides(mnist_root), *injected("slow", "Slow", seconds=0.2),
                         "trainer.max_epochs=100", "seed=0,1,2", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
                         f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    while len(list(sweep_dir.glob("*/checkpoints/last.ckpt"))) < 2:
        assert sweep.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
        time.sleep(0.2)
    sweep.send_signal(signum)
    assert sweep.wait(timeout=120) == 128 + signum
    statuses = {job.parent.name: json.loads(job.read_text()) for job in sweep_dir.glob("*/status.json")}
    assert sorted(statuses) == ["seed=0", "seed=1"]
    assert all(status["status"] == "interrupted" and status["signal"] == signum.name for status in statuses.values())
    output = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    assert f"sweep interrupted by {signum.name}" in output and "1 never started" in output
    assert "Traceback" not in output


@pytest.mark.slow
def test_an_optuna_search_runs_its_trials_side_by_side(mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "search"
    done = run_train(["-m", "search=sgd", "hydra/launcher=parallel", "hydra.sweeper.n_trials=4",
                      *tiny_overrides(mnist_root), f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    statuses = [json.loads(path.read_text())["status"] for path in sweep_dir.glob("*/status.json")]
    assert statuses == ["completed"] * 4
    best = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert 0 < best.best_value < float("inf") and "optim.lr" in best.best_params
    # Where the best trial's run is: its folder in the sweep, whose status.json holds the best value.
    assert Path(best.best_folder).parent == sweep_dir.resolve()
    assert json.loads((Path(best.best_folder) / "status.json").read_text())["results"]["val"]["loss"] == best.best_value


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_every_job_including_those_that_never_started(mnist_root: Path,
                                                                                     tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    arguments = ["-m", *tiny_overrides(mnist_root), *injected("slow", "Slow", seconds=0.05), "trainer.max_epochs=4",
                 "seed=0,1,2", "hydra/launcher=parallel", f"hydra.sweep.dir={sweep_dir}"]
    sweep = start_train(arguments, tmp_path)
    while len(list(sweep_dir.glob("*/checkpoints/last.ckpt"))) < 2:
        assert sweep.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
        time.sleep(0.2)
    sweep.send_signal(signal.SIGINT)
    assert sweep.wait(timeout=120) == 130
    resumed = run_train([*arguments, "resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "3 of 3 jobs completed" in resumed.stdout
    for job in ("seed=0", "seed=1", "seed=2"):
        assert json.loads((sweep_dir / job / "status.json").read_text())["results"]["epochs"] == 4
    # The job the interrupt kept from starting has its config where every job's is.
    assert (sweep_dir / "seed=2" / ".hydra" / "overrides.yaml").exists()
    assert list((sweep_dir / "seed=0" / ".hydra").glob("resumed-*"))


@pytest.mark.slow
def test_a_job_that_starts_on_a_full_disk_is_counted_and_listed_and_resume_completes_the_sweep(mnist_root: Path,
                                                                                                tmpfs) -> None:
    # The first job filled the disk; Hydra's write of the second's .hydra/config.yaml, before any code of the
    # project runs in the job, then raised in its process: its traceback printed, and the report, finding
    # no .hydra/overrides.yaml, said "0 of 1 jobs completed" of a sweep of 2.
    sweep_dir = tmpfs("full", size="5m") / "sweep"
    arguments = ["-m", *tiny_overrides(mnist_root), "seed=0,1", "hydra/launcher=parallel", "hydra.launcher.n_jobs=1",
                 f"hydra.sweep.dir={sweep_dir}"]
    done = run_train([*arguments, *injected("fill", "Fault", kind="fill_disk", at_step=2)], timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output, output[-3000:]
    assert f"sweep {sweep_dir}: 0 of 2 jobs completed" in output
    failed = [line for line in output.splitlines() if "] failed: " in line]
    assert len(failed) == 2 and "seed=1" in failed[1], failed
    # The first job's disk, too full for its status.json, left it saying running.
    assert failed[0].endswith(f"{sweep_dir}/seed=0/status.json still says running: the job ended without recording "
                              f"its outcome, as on a disk too full to write it; free some space, then the same command "
                              f"with hydra.sweep.dir={sweep_dir} resume=true")
    assert failed[1].endswith(f": no space left on device writing the job's config in {sweep_dir}/seed=1/.hydra: free "
                              f"some space, then the same command with hydra.sweep.dir={sweep_dir} resume=true")
    (sweep_dir / "seed=0" / "filler").unlink()
    # Hydra's write left the second job an empty .hydra/config.yaml: resumed, it writes its record there again.
    resumed = run_train([*arguments, "resume=true"], timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "2 of 2 jobs completed" in resumed.stdout + resumed.stderr
    assert [read_status(sweep_dir / job)["status"] for job in ("seed=0", "seed=1")] == ["completed"] * 2
    assert (sweep_dir / "seed=1" / ".hydra" / "overrides.yaml").stat().st_size > 0
