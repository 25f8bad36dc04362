"""Sweeps on a real one-node Slurm cluster: job folders as local ones, DDP over Slurm tasks, failures,
cancellation and resume, requeue at a time limit, and an Optuna study."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import optuna
import pytest

from conftest import Slurm
from helpers import importing_torch, injected, run_train, start_train, tiny_overrides

pytestmark = pytest.mark.slow
# What a local sweep job leaves in its folder, besides its TensorBoard event files.
LOCAL_JOB_FILES = {".hydra", ".lock", "checkpoints", "csv", "hparams.yaml", "results.json", "run.log", "status.json"}


def slurm_sweep(slurm: Slurm, mnist_root: Path, sweep_dir: Path, *arguments: str) -> list[str]:
    return ["-m", "hydra/launcher=slurm", *tiny_overrides(mnist_root), *arguments, f"hydra.sweep.dir={sweep_dir}"]


def job_folders(sweep_dir: Path) -> dict[str, Path]:
    return {job.name: job for job in sweep_dir.iterdir() if job.is_dir() and not job.name.startswith(".")}


def status(job: Path) -> dict:
    return json.loads((job / "status.json").read_text())


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the sweep ended before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.5)


def what_happened(tmp_path: Path, job: Path) -> str:
    """The end of a sweep's output (start_train's stdout.txt) and of its job's log, for a failed assertion."""
    logs = [tmp_path / "stdout.txt", job / "run.log"]
    return "\n".join(f"--- {log}\n{log.read_text()[-2000:]}" for log in logs if log.exists())


def test_a_sweep_leaves_the_folders_of_a_local_sweep(slurm: Slurm, mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    done = run_train(slurm_sweep(slurm, mnist_root, sweep_dir, "clip.value=0.1,1.0"), tmp_path, env=slurm.env)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = job_folders(sweep_dir)
    assert sorted(jobs) == ["clip.value=0.1", "clip.value=1.0"]
    for job in jobs.values():
        assert status(job)["status"] == "completed" and (job / "results.json").exists()
        assert {path.name for path in job.iterdir() if not path.name.startswith("events.out")} == LOCAL_JOB_FILES
    assert (sweep_dir / "figure.png").exists() and (sweep_dir / "summary.md").exists()
    # What the project silences in a local job (quiet_known_warnings), a Slurm job's log said.
    job_logs = "".join(path.read_text() for path in (sweep_dir / ".submitit").rglob("*_log.*"))
    assert "litlogger" not in job_logs and "LeafSpec" not in job_logs, job_logs[-3000:]
    assert "2 of 2 jobs completed" in done.stdout


def test_a_failing_job_fails_alone(slurm: Slurm, mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    faults = [injected("fault", "Fault")[0], "+callbacks.fault.kind=none,raise,exit"]
    done = run_train(slurm_sweep(slurm, mnist_root, sweep_dir, *faults), tmp_path, env=slurm.env)
    assert done.returncode == 1, done.stderr[-3000:]
    found = {name.split("kind=")[1]: status(job) for name, job in job_folders(sweep_dir).items()}
    assert found["none"]["status"] == "completed"
    assert "injected fault" in found["raise"]["error"] and "SystemExit(4)" in found["exit"]["error"]
    assert "1 of 3 jobs completed" in done.stdout


def warn_of_the_time_limit_soon(slurm: Slurm, sweep: subprocess.Popen, job: Path) -> str:
    """Once `job` has trained an epoch, bring its Slurm job's time limit within a minute of its warning
    (hydra.launcher.signal_delay_s=60), so that Slurm warns it within a minute. A 2-minute limit from the
    start was warned 30-60 s in, before a busy CI machine had started a DDP run, which had nothing yet to
    record the warning with: submitit failed the job without a word in its folder. Returns the Slurm job's id."""
    wait_for(job / "checkpoints" / "last.ckpt", sweep)
    (slurm_job,) = slurm.run("squeue", "-h", "-o", "%i").split()
    elapsed = slurm.run("squeue", "-h", "-o", "%M").strip().split(":")  # [hours:]minutes:seconds
    elapsed_minutes = int(elapsed[-2]) + 60 * int(elapsed[-3] if len(elapsed) > 2 else 0)
    slurm.run("scontrol", "update", f"JobId={slurm_job}", f"TimeLimit={elapsed_minutes + 2}")
    return slurm_job


def without_logging_errors(text: str) -> str:
    """`text` without Python logging's reports of a write that a signal handler's log line reentered (submitit
    logs in its SIGUSR2 and SIGCONT handlers, which can land in each other's write): no failure of the job."""
    return re.sub(r"--- Logging error ---\n.*?\nMessage: [^\n]*\n(Arguments: [^\n]*\n)?", "", text, flags=re.S)


@pytest.mark.parametrize("setting,refusal", [
    ("hydra.launcher.partition=nosuch",
     "(sbatch: error: invalid partition specified: nosuch; "
     "sbatch: error: Batch job submission failed: Invalid partition name specified)"),
    # sbatch's last line alone did not say what: memory.
    ("hydra.launcher.mem_gb=100000",
     "(sbatch: error: Memory specification can not be satisfied; "
     "sbatch: error: Batch job submission failed: Requested node configuration is not available)"),
    # The test cluster has no GPUs to give.
    ("hydra.launcher.gpus_per_node=1", "(sbatch: error: Invalid generic resource (gres) specification)"),
])
def test_a_setting_sbatch_refuses_ends_the_sweep_in_one_line_with_exit_2(setting: str, refusal: str, slurm: Slurm,
                                                                         mnist_root: Path, tmp_path: Path) -> None:
    """sbatch's refusal is said in one line that names it, where Hydra printed submitit's traceback; no job runs."""
    sweep_dir = tmp_path / "sweep"
    done = run_train(slurm_sweep(slurm, mnist_root, sweep_dir, setting, "seed=0,1"), tmp_path, env=slurm.env)
    assert done.returncode == 2, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if "hydra/launcher=slurm: sbatch refused the jobs" in line]
    assert line.endswith(f"{refusal}; fix that setting of hydra.launcher (docs/cluster.md lists them), or ask the "
                         f"cluster's admins what it takes")
    assert job_folders(sweep_dir) == {}
    # Said once: submitit printed sbatch's lines on stderr too, before the launcher quoted them.
    for sbatch_line in refusal.strip("()").split("; "):
        assert output.count(sbatch_line) == 1, output


@pytest.mark.parametrize("settings,reason", [
    ([f"hydra.launcher.cpus_per_task={2 * os.cpu_count()}"], "PartitionConfig"),
    (["hydra.launcher.nodes=2", "trainer.num_nodes=2"], "PartitionNodeLimit"),
])
def test_jobs_slurm_can_never_start_are_cancelled_in_one_line_with_exit_2(settings: list[str], reason: str,
                                                                         slurm: Slurm, mnist_root: Path,
                                                                         tmp_path: Path) -> None:
    """sbatch accepts jobs larger than the partition's nodes, which then wait for ever: the sweep waited with them."""
    sweep_dir = tmp_path / "sweep"
    done = run_train(slurm_sweep(slurm, mnist_root, sweep_dir, *settings, "seed=0,1"), tmp_path, env=slurm.env)
    assert done.returncode == 2, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if "Slurm keeps the sweep's jobs" in line]
    assert f"(reason {reason}: they ask for " in line and "they are cancelled. Change that setting" in line
    assert "waiting until nodes of partition" not in output
    assert slurm.run("squeue", "-h", "-o", "%i") == ""
    assert job_folders(sweep_dir) == {}


def test_jobs_their_partition_does_not_allow_are_cancelled_in_one_line_that_says_so(slurm: Slurm, mnist_root: Path,
                                                                                    tmp_path: Path) -> None:
    """A partition whose AllowAccounts leaves the jobs out: sbatch accepts them (no EnforcePartLimits), Slurm keeps
    them waiting for AccountNotAllowed, which squeue names by what Slurm said ("Job's account not known, so it can't
    use this partition ..."), and the sweep waited with them, silent. (AllowQos is not enforced without accounting,
    which the test cluster has none of; AllowGroups, by sbatch, refuses no job of root, which the tests run as.)"""
    sweep_dir = tmp_path / "sweep"
    settings = dict(item.split("=", 1) for item in slurm.run("scontrol", "show", "partition", "-o", "debug").split()
                    if "=" in item)
    slurm.run("scontrol", "update", "partitionname=debug", "allowaccounts=science")
    try:
        done = run_train(slurm_sweep(slurm, mnist_root, sweep_dir, "seed=0,1"), tmp_path, env=slurm.env, timeout=180)
    finally:
        left = slurm.run("squeue", "-h", "-o", "%A").split()  # array jobs by their ids, which scancel takes
        if left:
            slurm.run("scancel", *left)
        slurm.run("scontrol", "update", "partitionname=debug", f"allowaccounts={settings['AllowAccounts']}")
    assert done.returncode == 2, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if "Slurm keeps the sweep's jobs" in line]
    assert ("(reason AccountNotAllowed: they ask for an account their partition does not allow "
            "(hydra.launcher.account); Slurm says: Job's account not known, so it can't use this partition "
            "(debug allows science)); they are cancelled. Change that setting" in line), line
    assert line.endswith("(scontrol show partition debug lists whom it lets in: AllowAccounts, AllowQos, AllowGroups, "
                         "RootOnly, DisableRootJobs, AllocNodes, ReqResv)")
    assert "waiting until nodes of partition" not in output
    assert left == [] and job_folders(sweep_dir) == {}


def test_jobs_a_partition_shuts_out_after_sbatch_took_them_are_cancelled_in_one_line_that_says_so(
        slurm: Slurm, mnist_root: Path, tmp_path: Path) -> None:
    """Slurm's reason for jobs that a partition's settings, changed after sbatch accepted them, shut out (here ReqResv,
    which root's jobs must meet too; AllowGroups lets root in) is PartitionConfig, its reason for more CPUs than the
    partition has: the sweep said the jobs asked for those CPUs. (sbatch refuses a job the settings shut out.)"""
    sweep_dir = tmp_path / "sweep"
    (node,) = slurm.run("sinfo", "-h", "-N", "-o", "%N").split()
    settings = dict(item.split("=", 1) for item in slurm.run("scontrol", "show", "partition", "-o", "debug").split()
                    if "=" in item)
    sweep = None
    # Drained, the node keeps the jobs pending until the partition's settings change.
    slurm.run("scontrol", "update", f"nodename={node}", "state=drain", "reason=test_slurm")
    try:
        sweep = start_train(slurm_sweep(slurm, mnist_root, sweep_dir, "seed=0,1"), tmp_path, env=slurm.env)
        deadline = time.monotonic() + 120
        while not slurm.run("squeue", "-h", "-o", "%A").strip():
            assert sweep.poll() is None and time.monotonic() < deadline, what_happened(tmp_path, sweep_dir)
            time.sleep(1)
        slurm.run("scontrol", "update", "partitionname=debug", "reqresv=yes")
        sweep.wait(timeout=120)
    finally:
        if sweep is not None and sweep.poll() is None:
            sweep.kill()
        left = slurm.run("squeue", "-h", "-o", "%A").split()
        if left:
            slurm.run("scancel", *left)
        slurm.run("scontrol", "update", "partitionname=debug", f"reqresv={settings['ReqResv']}")
        slurm.run("scontrol", "update", f"nodename={node}", "state=resume")
    assert sweep.returncode == 2, what_happened(tmp_path, sweep_dir)
    output = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if "Slurm keeps the sweep's jobs" in line and "for ever" in line]
    assert ("(reason PartitionConfig: they ask for a partition that shuts them out (hydra.launcher.partition; its "
            "AllowGroups, RootOnly, DisableRootJobs, AllocNodes, or ReqResv: a reservation, "
            "+hydra.launcher.additional_parameters.reservation=NAME)); they are cancelled" in line), line
    assert line.endswith("(scontrol show partition debug lists whom it lets in: AllowAccounts, AllowQos, AllowGroups, "
                         "RootOnly, DisableRootJobs, AllocNodes, ReqResv)")
    assert left == [] and job_folders(sweep_dir) == {}


def test_a_sweep_submitted_while_its_node_is_drained_waits_and_says_so_once(slurm: Slurm, mnist_root: Path,
                                                                          tmp_path: Path) -> None:
    """Jobs that wait for a drained node are not cancelled (the watch cancelled any job Slurm said PartitionNodeLimit
    of; now only one that asks for more nodes than its partition has: the test above), and the command says why
    they wait, once: it waited in silence. (Slurm 22.05 says ReqNodeNotAvail of a drained node, not
    PartitionNodeLimit.)"""
    sweep_dir = tmp_path / "sweep"
    (node,) = slurm.run("sinfo", "-h", "-N", "-o", "%N").split()
    slurm.run("scontrol", "update", f"nodename={node}", "state=drain", "reason=test_slurm")
    try:
        sweep = start_train(slurm_sweep(slurm, mnist_root, sweep_dir, "seed=0,1"), tmp_path, env=slurm.env)
        stdout = tmp_path / "stdout.txt"
        deadline = time.monotonic() + 120
        while "waiting until nodes of partition" not in stdout.read_text():
            assert sweep.poll() is None and time.monotonic() < deadline, what_happened(tmp_path, sweep_dir)
            time.sleep(1)
        time.sleep(12)  # two more looks at the queue: the jobs still wait, not cancelled
        assert sweep.poll() is None, what_happened(tmp_path, sweep_dir)
        assert slurm.run("squeue", "-h", "-t", "PD", "-o", "%i").strip(), "the sweep's jobs left the queue"
    finally:
        slurm.run("scontrol", "update", f"nodename={node}", "state=resume")
    assert sweep.wait(timeout=300) == 0, what_happened(tmp_path, sweep_dir)
    output = stdout.read_text() + (tmp_path / "stderr.txt").read_text()
    (line,) = [line for line in output.splitlines() if "waiting until nodes of partition" in line]
    assert f"waiting until nodes of partition debug are up again ({node}: drained); they start when" in line
    assert "2 of 2 jobs completed" in output


def test_a_ddp_job_runs_over_two_slurm_tasks_in_one_folder(slurm: Slurm, mnist_root: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    ddp = ["hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2"]
    done = run_train(slurm_sweep(slurm, mnist_root, sweep_dir, *ddp), tmp_path, env=slurm.env)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = job_folders(sweep_dir)
    assert list(jobs) == ["job0"] and status(jobs["job0"])["status"] == "completed"
    assert "1 of 1 jobs completed" in done.stdout
    task_logs = "".join(log.read_text() for log in (sweep_dir / ".submitit").rglob("*_log.err"))
    assert "MEMBER: 1/2" in task_logs and "MEMBER: 2/2" in task_logs


def test_a_cancelled_job_is_listed_interrupted_and_the_sweep_resumes(slurm: Slurm, mnist_root: Path,
                                                                     tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    command = slurm_sweep(slurm, mnist_root, sweep_dir, *injected("slow", "Slow", seconds=0.3),
                          "trainer.max_epochs=4", "seed=0,1")
    sweep = start_train(command, tmp_path, env=slurm.env)
    wait_for(sweep_dir / "seed=1" / "checkpoints" / "last.ckpt", sweep)
    array_task = next(job for job in slurm.run("squeue", "-h", "-o", "%i").split() if job.endswith("_1"))
    slurm.run("scancel", array_task)
    assert sweep.wait(timeout=300) == 1, (tmp_path / "stderr.txt").read_text()[-3000:]
    cancelled = status(sweep_dir / "seed=1")
    assert cancelled["status"] == "interrupted" and cancelled["signal"] == "SIGTERM"
    report = [line for line in (tmp_path / "stdout.txt").read_text().splitlines() if "interrupted: " in line]
    assert len(report) == 1 and report[0].endswith("seed=1: interrupted by SIGTERM"), report

    resumed = run_train([*command, "resume=true"], tmp_path, env=slurm.env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "2 of 2 jobs completed" in resumed.stdout
    assert "resuming from" in (sweep_dir / "seed=1" / "run.log").read_text()
    assert status(sweep_dir / "seed=1")["results"]["epochs"] == 4


def test_ctrl_c_of_the_sweep_cancels_its_slurm_jobs(slurm: Slurm, mnist_root: Path, tmp_path: Path) -> None:
    """Ctrl-C of the command waiting for its jobs printed submitit's traceback and left them training on Slurm."""
    sweep_dir = tmp_path / "sweep"
    command = slurm_sweep(slurm, mnist_root, sweep_dir, *injected("slow", "Slow", seconds=0.3),
                          "trainer.max_epochs=50", "seed=0,1")
    sweep = start_train(command, tmp_path, env=slurm.env)
    wait_for(sweep_dir / "seed=1" / "checkpoints" / "last.ckpt", sweep)
    sweep.send_signal(signal.SIGINT)
    assert sweep.wait(timeout=300) == 130, what_happened(tmp_path, sweep_dir / "seed=1")
    stderr = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if "sweep interrupted by SIGINT" in line]
    assert line.endswith(f"cancelled); the same command with hydra.sweep.dir={sweep_dir} resume=true continues it")
    assert slurm.run("squeue", "-h", "-o", "%i") == ""
    assert status(sweep_dir / "seed=1") == {"status": "interrupted", "error": "interrupted by SIGTERM",
                                           "signal": "SIGTERM", "exit_code": 143}


def test_a_job_cancelled_as_it_waits_to_be_requeued_is_said_in_one_line(slurm: Slurm, mnist_root: Path,
                                                                        tmp_path: Path) -> None:
    """A job that left no result (here: cancelled while Slurm held it after its requeue) ended the command
    with submitit's UncompletedJobError traceback, the sweep's other jobs running on unwatched."""
    sweep_dir = tmp_path / "sweep"
    limit = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60"]
    command = slurm_sweep(slurm, mnist_root, sweep_dir, *injected("slow", "Slow", seconds=0.5), *limit,
                          "trainer.max_epochs=25")
    sweep = start_train(command, tmp_path, env=slurm.env)
    job = sweep_dir / "job0"
    wait_for(job / "run.log", sweep)
    # Held after its requeue: Slurm has ended its first allocation (cancelled before, its end was never logged).
    while "BeginTime" not in slurm.run("squeue", "-h", "-o", "%r"):
        assert sweep.poll() is None, what_happened(tmp_path, job)
        time.sleep(1)
    (slurm_job,) = slurm.run("squeue", "-h", "-o", "%i").split()
    slurm.run("scancel", slurm_job)
    assert sweep.wait(timeout=600) == 1, what_happened(tmp_path, job)
    output = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in output, output[-3000:]
    (line,) = [line for line in output.splitlines() if "ended without a result" in line]
    assert f"Slurm job {slurm_job} ended without a result (state CANCELLED)" in line
    assert line.endswith(f"hydra.sweep.dir={sweep_dir} resume=true continues it")


def test_a_cancelled_ddp_job_is_listed_interrupted_by_each_of_its_tasks(slurm: Slurm, mnist_root: Path,
                                                                      tmp_path: Path) -> None:
    # Rank 1 took scancel's SIGTERM through Lightning, which ends the fit after the step, and left without
    # a result: the sweep ended with submitit's UncompletedJobError for task 1 and no summary. Asleep
    # after each step, both tasks get the signal there (asleep before it, rank 1 met rank 0's end in the
    # step's gradient exchange instead, an error that Hydra returns as a result).
    sweep_dir = tmp_path / "sweep"
    ddp = ["hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2"]
    slow = injected("slow", "Slow", seconds=0.3, after="true")
    sweep = start_train(slurm_sweep(slurm, mnist_root, sweep_dir, *ddp, *slow, "trainer.max_epochs=50"), tmp_path,
                        env=slurm.env)
    wait_for(sweep_dir / "job0" / "checkpoints" / "last.ckpt", sweep)
    slurm.run("scancel", *slurm.run("squeue", "-h", "-o", "%i").split())
    assert sweep.wait(timeout=300) == 1, what_happened(tmp_path, sweep_dir / "job0")
    cancelled = status(sweep_dir / "job0")
    assert cancelled["status"] == "interrupted" and cancelled["signal"] == "SIGTERM"
    stdout, stderr = (tmp_path / "stdout.txt").read_text(), (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in stdout + stderr and "0 of 1 jobs completed" in stdout, (stdout + stderr)[-3000:]
    report = [line for line in stdout.splitlines() if "interrupted: " in line]
    assert len(report) == 1 and report[0].endswith(": interrupted by SIGTERM"), report


@pytest.mark.parametrize("tasks", [1, 2])
def test_a_job_at_its_time_limit_is_requeued_and_resumes(tasks: int, slurm: Slurm, mnist_root: Path,
                                                         tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    # Warned 60 s before its limit, which the test brings within a minute once the job trains. Slurm's
    # time-limit pass runs every 30 s and warns up to 30 s early. The first allocation would sleep through
    # 90 s of steps and is always interrupted; the requeued one trains at full speed, its limit raised again.
    # (Asleep in every allocation, or warned 30 to 60 s into each under a limit kept low, a busy CI machine's
    # job spent all 8 requeues on starting up.) Two DDP tasks each train half an epoch's steps, asleep after
    # each, and each must end its allocation without a result of its own for the requeued job to resume.
    limit = ["hydra.launcher.timeout_min=5", "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=8"]
    ddp = ["hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2"] if tasks == 2 else []
    slow = injected("slow", "Slow", seconds=0.5, after=tasks == 2, until_requeued=True)
    command = slurm_sweep(slurm, mnist_root, sweep_dir, *slow, *limit, *ddp, f"trainer.max_epochs={30 * tasks}")
    sweep = start_train(command, tmp_path, env=slurm.env)
    job = sweep_dir / "job0"
    slurm_job = warn_of_the_time_limit_soon(slurm, sweep, job)
    # Requeued, then resumed. (Not submitit's own "Requeued job", which its signal handler logs: when the signal
    # lands while the job writes to run.log, logging refuses the reentrant write and the line is lost.)
    requeued = "requeued: it continues from the last checkpoint when Slurm starts it again"
    limit_raised = False
    while sweep.poll() is None:
        if not limit_raised and requeued in (job / "run.log").read_text():
            slurm.run("scontrol", "update", f"JobId={slurm_job}", "TimeLimit=10")
            limit_raised = True
        slurm.kick()  # a requeued job starts at once instead of in two minutes
        time.sleep(2)
    assert sweep.returncode == 0, what_happened(tmp_path, job)
    assert status(job)["status"] == "completed" and status(job)["results"]["epochs"] == 30 * tasks
    log = (job / "run.log").read_text()
    assert requeued in log and log.index(requeued) < log.index("resuming from")
    # A requeue is no interrupt to act on: the job's log said "resume=true continues from the last checkpoint".
    assert "resume=true" not in log


def job_process(sweep_dir: Path) -> int | None:
    """The pid of the Python process of the sweep's Slurm job, once it has one."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with suppress(OSError):  # a process that ended meanwhile
            command = cmdline.read_bytes().split(b"\0")  # srun's holds the job's command line too
            if (Path(command[0].decode()).name.startswith("python") and b"submitit.core._submit" in command
                    and str(sweep_dir).encode() in command[-2]):
                return int(cmdline.parent.name)
    return None


def test_a_warning_as_the_job_imports_torch_is_held_for_its_run_which_is_requeued(slurm: Slurm, mnist_root: Path,
                                                                                  tmp_path: Path) -> None:
    """Slurm's warning while a job imported torch, before submitit had a handler for it, killed the job outright:
    the sweep said "ended without a result (state FAILED)", and the job's folder held nothing."""
    sweep_dir = tmp_path / "sweep"
    sweep = start_train(slurm_sweep(slurm, mnist_root, sweep_dir, "hydra.launcher.timeout_min=5"), tmp_path,
                        env=slurm.env)
    deadline = time.monotonic() + 300
    while (pid := job_process(sweep_dir)) is None or not importing_torch(pid):
        assert sweep.poll() is None and time.monotonic() < deadline, what_happened(tmp_path, sweep_dir / "job0")
        time.sleep(0.05)
    slurm.run("scancel", "--signal", "USR2", *slurm.run("squeue", "-h", "-o", "%i").split())
    while sweep.poll() is None:
        slurm.kick()  # a requeued job starts at once instead of in two minutes
        time.sleep(2)
    job = sweep_dir / "job0"
    assert sweep.returncode == 0, what_happened(tmp_path, job)
    assert status(job)["status"] == "completed"
    log = (job / "run.log").read_text()
    requeued = "requeued: it continues from the last checkpoint when Slurm starts it again"
    assert requeued in log and log.index(requeued) < log.index("holds no checkpoint yet"), log


@pytest.mark.parametrize("tasks", [1, 2])
def test_a_job_past_its_requeues_is_listed_interrupted_with_what_to_raise(tasks: int, slurm: Slurm, mnist_root: Path,
                                                                          tmp_path: Path) -> None:
    """Submitit's refusal to requeue again was a crash: a traceback in the job's log, the job `failed` with
    UncompletedJobError('Job not requeued because: timed-out too many times.'). In a DDP job the task beside
    the first ended as if requeued, without a result: the sweep said the job was killed outright."""
    sweep_dir = tmp_path / "sweep"
    # Submitit takes any warning to a job of under 10 minutes for its time limit.
    limit = ["hydra.launcher.timeout_min=5", "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=0"]
    ddp = ["hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2"] if tasks == 2 else []
    command = slurm_sweep(slurm, mnist_root, sweep_dir, *injected("slow", "Slow", seconds=0.5, after=tasks == 2),
                          *limit, *ddp, f"trainer.max_epochs={25 * tasks}")
    sweep = start_train(command, tmp_path, env=slurm.env)
    job = sweep_dir / "job0"
    warn_of_the_time_limit_soon(slurm, sweep, job)
    assert sweep.wait(timeout=300) == 1, what_happened(tmp_path, job)
    stdout, stderr = (tmp_path / "stdout.txt").read_text(), (tmp_path / "stderr.txt").read_text()
    said = ("reached its Slurm time limit more times than hydra.launcher.max_num_timeout allows, and is not "
            "requeued: raise hydra.launcher.timeout_min or max_num_timeout")
    assert status(job) == {"status": "interrupted", "error": said, "signal": "SIGUSR2", "exit_code": 1}
    assert "Traceback" not in (job / "run.log").read_text() + stdout + stderr
    assert (job / "run.log").read_text().count(f"{said}; resume=true continues from the last checkpoint") == 1
    assert [line for line in stdout.splitlines() if "interrupted: " in line][0].endswith(f": {said}")
    assert "ended without a result" not in stdout + stderr
    # Each of the job's tasks left its result, none a traceback.
    submitit_files = list((sweep_dir / ".submitit").rglob("*"))
    assert len([path for path in submitit_files if path.name.endswith("_result.pkl")]) == tasks
    assert not any("Traceback" in without_logging_errors(path.read_text()) for path in submitit_files
                   if path.name.endswith("_log.err"))
    assert (job / "checkpoints" / "last.ckpt").exists()


def test_an_optuna_study_on_slurm_prunes_through_a_journal_file_and_continues_with_resume(
        slurm: Slurm, mnist_root: Path, tmp_path: Path) -> None:
    storage = tmp_path / "study.log"  # Optuna's journal file, on the file system the Slurm jobs share
    study = ["hydra/sweeper=optuna", "optim.lr=tag(log,interval(0.001,0.05))", f"hydra.sweeper.storage={storage}",
             "hydra.sweeper.study_name=lr",
             "++hydra.sweeper.pruner={_target_:optuna.pruners.ThresholdPruner,upper:1.0}", "trainer.max_epochs=2"]
    first = run_train(slurm_sweep(slurm, mnist_root, tmp_path / "first", *study, "hydra.sweeper.n_trials=2"),
                      tmp_path, env=slurm.env)
    assert first.returncode == 0, first.stderr[-3000:]
    jobs = job_folders(tmp_path / "first")
    assert len(jobs) == 2 and all(status(job)["status"] == "pruned" and status(job)["epoch"] == 1
                                  for job in jobs.values())
    again = run_train(slurm_sweep(slurm, mnist_root, tmp_path / "again", *study, "hydra.sweeper.n_trials=3",
                                  "resume=true"), tmp_path, env=slurm.env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(job_folders(tmp_path / "again")) == 1  # n_trials counts the study's trials in total
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(storage)))
    trials = optuna.load_study(study_name="lr", storage=journal).trials
    assert [trial.state for trial in trials] == [optuna.trial.TrialState.PRUNED] * 3
