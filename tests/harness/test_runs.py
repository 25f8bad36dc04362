"""RunRecord: what a run's status.json and exit code say, however the run ends."""

import errno
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

from injected import fill_disk
from vae_lightning.errors import ConfigError, DataError, NonFiniteLossError
from vae_lightning.harness.runs import (Interrupted, RunRecord, cause_of_death, config_subdir, failure, lock_holder,
                                       lock_run_dir, raise_interrupted, raise_lost_interrupt, read_status, record_death,
                                       record_first_death, refuse_if_taken, val_loss, write_status)


def test_an_interrupt_inside_a_checkpoints_write_is_an_interrupt(tmp_path: Path) -> None:
    with RunRecord(tmp_path) as record:
        try:
            raise Interrupted(2)
        except Interrupted as interrupt:  # as torch's writer wraps what interrupted it
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from interrupt
    assert record.exit_code == 130
    assert read_status(tmp_path)["status"] == "interrupted"


class SignalledQueue(queue.Queue):
    """A queue whose `put` is sent Ctrl-C as it stores the item, before its count of unfinished tasks and its
    notify: where a signal left TensorBoard's writer asleep."""

    def _put(self, item: object) -> None:
        super()._put(item)
        signal.raise_signal(signal.SIGINT)


def test_an_interrupt_inside_a_queues_code_is_raised_at_the_next_batch_end(tmp_path: Path) -> None:
    # Raised inside Queue.put between its count and its notify, Ctrl-C left TensorBoard's writer asleep until its
    # next flush, which the run's end waited for: the run took up to 2 minutes to stop (seen in CI).
    events = SignalledQueue()
    reached = []
    with RunRecord(tmp_path) as record:
        events.put("an event")
        reached.append("the put's end")
        raise_lost_interrupt()  # as a batch ends
        reached.append("the next batch")
    assert reached == ["the put's end"]
    assert events.unfinished_tasks == 1  # counted: the writer's flush waits for no missing task
    assert record.exit_code == 130
    assert read_status(tmp_path)["error"] == "interrupted by SIGINT"


def test_an_interrupt_put_off_past_the_last_batch_keeps_the_outcome_and_ends_the_process_as_the_signal_asks(
        tmp_path: Path) -> None:
    # Ctrl-C that the run put off as its last batch ended was dropped: `python train.py ... && next` went on.
    with RunRecord(tmp_path) as record:
        SignalledQueue().put("an event")
        record.complete({"val": {"loss": 1.0}, "test": {"loss": 1.0}})
    assert record.exit_code == 130
    assert read_status(tmp_path) == {"status": "completed", "results": {"val": {"loss": 1.0}, "test": {"loss": 1.0}}}


def test_a_ddp_peer_ended_by_the_signal_this_process_put_off_leaves_the_run_interrupted(tmp_path: Path) -> None:
    # Ctrl-C reaches every DDP process; the first, signalled inside a queue's code, puts it off, and the others,
    # ended at once, fail its next exchange of gradients: it recorded "another process of this DDP run died".
    with RunRecord(tmp_path) as record:
        SignalledQueue().put("an event")
        raise RuntimeError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:29500")
    assert record.exit_code == 130
    assert read_status(tmp_path) == {"status": "interrupted", "error": "interrupted by SIGINT", "signal": "SIGINT",
                                     "exit_code": 130}


def test_a_signal_as_a_completed_run_ends_keeps_its_outcome(tmp_path: Path) -> None:
    # A sweep's signal that reached a job just after it recorded its results made it `interrupted` (seen in CI).
    with RunRecord(tmp_path) as record:
        record.complete({"val": {"loss": 1.0}, "test": {"loss": 1.0}})
        raise Interrupted(signal.SIGTERM)
    assert record.exit_code == 128 + signal.SIGTERM
    assert read_status(tmp_path) == {"status": "completed", "results": {"val": {"loss": 1.0}, "test": {"loss": 1.0}}}


def test_a_run_folder_deleted_while_it_trains_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.ERROR), RunRecord(run_dir) as record:
        shutil.rmtree(run_dir)
        raise FileNotFoundError(2, "No such file or directory", str(run_dir / "checkpoints" / "last.ckpt"))
    assert record.exit_code == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"{run_dir} was deleted while its run trained; nothing of it is left to resume"]


def test_slurms_sigterm_after_a_requeue_is_no_interrupt_of_its_own(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def submitit_requeue(signum: int, frame: object) -> None:  # as submitit's handler ends: requeued, then exit
        sys.exit(-1)

    monkeypatch.setattr(signal, "getsignal", lambda signum: submitit_requeue if signum == signal.SIGUSR2 else None)
    with RunRecord(tmp_path) as record:
        found = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as Lightning's fit takes SIGTERM over
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(1)
        finally:
            # Its teardown puts back the handler it found while the requeue unwinds the fit, and the
            # requeue's SIGTERM arrives.
            signal.signal(signal.SIGTERM, found)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
    assert record.exit_code == 128 + signal.SIGUSR2
    assert read_status(tmp_path)["signal"] == "SIGUSR2"


def test_slurms_warning_ends_a_task_beside_the_first_as_the_first_while_that_one_requeues(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def submitit_requeue(signum: int, frame: object) -> None:  # as in a task other than the first: it returns
        pass

    monkeypatch.setattr(signal, "getsignal", lambda signum: submitit_requeue if signum == signal.SIGUSR2 else None)
    with RunRecord(tmp_path, first=False) as process:
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(1)
    assert process.exit_code == 128 + signal.SIGUSR2 and read_status(tmp_path) is None


def test_the_death_of_another_ddp_process_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), RunRecord(tmp_path) as record:
        # What rank 0 met when rank 1 was killed with -9 in the middle of a step.
        raise RuntimeError("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error "
                           "[127.0.0.1]:21701: Connection reset by peer. This is typically caused by a remote worker")
    line = ("another process of this DDP run died (killed, out of memory, or failed: see its log); resume=true "
            "continues from the last checkpoint")
    assert record.exit_code == 1 and [r.getMessage() for r in caplog.records] == [line]
    assert read_status(tmp_path)["error"] == line


@pytest.mark.parametrize("status,recorded", [("running", True), ("completed", False), ("interrupted", False)])
def test_a_ddp_process_records_the_first_ones_death_only_over_running(status: str, recorded: bool,
                                                                       tmp_path: Path) -> None:
    write_status(tmp_path, status)
    line = record_first_death(tmp_path, 123)
    assert (line is not None) == recorded and lock_holder(tmp_path) is None
    assert read_status(tmp_path) == ({"status": "failed", "error": line} if recorded else {"status": status})
    if recorded:
        assert line.startswith("the first process of this DDP run (pid 123) died without recording its outcome")


def test_a_ddp_process_leaves_a_run_folder_another_command_holds_to_it(tmp_path: Path) -> None:
    # A `resume=true` started as the first process died holds the folder: its status is its own to write.
    write_status(tmp_path, "running")
    held = lock_run_dir(tmp_path)
    try:
        assert record_first_death(tmp_path, 123) is None
    finally:
        held.close()
    assert read_status(tmp_path) == {"status": "running"}
    assert record_first_death(tmp_path / "deleted", 123) is None and not (tmp_path / "deleted").exists()


@pytest.mark.parametrize("held", ["[]", "3", "{}", '{"status": null}', '{"status": "completed", "results": 3}',
                                  '{"status": "completed", "results": {"val": {"loss": "x"}}}',
                                  '{"status": "completed", "results": {"val": {"loss": true}}}'])
def test_a_status_json_that_is_no_runs_status_reads_as_none(held: str, tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text(held)
    assert val_loss(tmp_path) is None
    assert read_status(tmp_path) is None or read_status(tmp_path)["status"] == "completed"


def test_a_run_folder_on_a_read_only_disk_is_read_as_free(tmpfs) -> None:
    # plot and compare ask whether a job marked running still has its process; they only read.
    disk = tmpfs("disk")
    (disk / "run").mkdir()
    (disk / "run" / ".lock").write_text("123")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    assert lock_holder(disk / "run") is None


def test_an_interrupt_that_a_writer_met_while_handling_it_is_an_interrupt(tmp_path: Path) -> None:
    # torch's writer closes its file as the interrupt unwinds it, and what that raises carries the interrupt
    # as its context (no `from`): the run was interrupted, not crashed, and resume=true continues it.
    with RunRecord(tmp_path) as record:
        try:
            raise Interrupted(signal.SIGTERM)
        except Interrupted:
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos")  # noqa: B904
    assert record.exit_code == 128 + signal.SIGTERM
    assert read_status(tmp_path)["status"] == "interrupted"


def test_a_run_says_running_only_once_it_starts_and_frees_its_folder_when_released(tmp_path: Path) -> None:
    write_status(tmp_path, "completed", results={"epochs": 2})
    record = RunRecord(tmp_path)
    assert lock_holder(tmp_path) == os.getpid()
    # Taken but not started (a refused resume, or nothing left to do): the run's outcome stands.
    assert read_status(tmp_path)["status"] == "completed"
    with record:
        assert read_status(tmp_path) == {"status": "running"}
        record.complete({"epochs": 3})
    record.release()
    assert lock_holder(tmp_path) is None
    assert read_status(tmp_path) == {"status": "completed", "results": {"epochs": 3}}


def test_the_lock_file_names_its_holder_and_no_earlier_one(tmp_path: Path) -> None:
    # A longer pid of an earlier holder left behind would make the refusal name a process that never held it.
    (tmp_path / ".lock").write_text("4194304")
    lock = lock_run_dir(tmp_path)
    try:
        assert (tmp_path / ".lock").read_text() == str(os.getpid()) and lock_holder(tmp_path) == os.getpid()
    finally:
        lock.close()


def test_a_busy_folder_is_refused_even_to_resume_it(tmp_path: Path) -> None:
    lock = lock_run_dir(tmp_path)
    try:
        for resume in (False, True):
            with pytest.raises(ConfigError,
                               match=rf"{tmp_path} is in use by process {os.getpid()}; wait for it to end"):
                refuse_if_taken(tmp_path, resume=resume)
    finally:
        lock.close()


@pytest.mark.parametrize("left", ["results.json", "checkpoints/best.ckpt", "checkpoints/epoch=0.ckpt"])
def test_a_folder_with_a_runs_results_or_any_checkpoint_holds_a_run(left: str, tmp_path: Path) -> None:
    # A run with trainer.enable_checkpointing=false leaves only its results.json; a new run would overwrite it.
    (tmp_path / left).parent.mkdir(exist_ok=True)
    (tmp_path / left).write_text("{}")
    with pytest.raises(ConfigError, match=rf"{tmp_path} already holds a run; pass resume=true to continue it"):
        refuse_if_taken(tmp_path, resume=False)
    refuse_if_taken(tmp_path, resume=True)


MISSHAPEN = [("status.json", "folder"), ("run.log", "folder"), (".hydra/overrides.yaml", "folder"),
             ("checkpoints/last.ckpt", "folder"), ("csv", "file"), (".hydra", "file")]


@pytest.mark.parametrize("path,made,sweep", [(path, made, sweep) for path, made in MISSHAPEN
                                             for sweep in (False, True)])
def test_a_runs_file_made_a_folder_or_its_folder_a_file_is_refused_before_it_resumes(
        path: str, made: str, sweep: bool, tmp_path: Path) -> None:
    # Each failed the resumed run with a traceback, exit 1; a folder named last.ckpt only once the run had
    # trained an epoch and saved there.
    run_dir = tmp_path / "seed=0" if sweep else tmp_path
    target = run_dir / path
    for folder in (".hydra", "checkpoints"):
        if folder != path:
            (run_dir / folder).mkdir(parents=True)
    if made == "folder":
        target.mkdir()
    else:
        target.write_text("x")
    said = "a folder where the run keeps a file" if made == "folder" else "a file where the run keeps a folder"
    for resume in (True, False):
        with pytest.raises(ConfigError) as refused:
            refuse_if_taken(tmp_path, resume=resume, sweep=sweep)
        assert str(refused.value) == f"{target} is {said}: move it out of {run_dir}, or choose another folder"


def test_a_job_that_died_is_recorded_by_its_exit_and_a_recorded_outcome_stands(tmp_path: Path) -> None:
    assert cause_of_death(-signal.SIGKILL) == "the job's process was killed by SIGKILL"
    assert cause_of_death(1) == "the job's process exited with code 1 before recording its outcome"
    assert cause_of_death(0) == "the job's process exited with code 0 before recording its outcome"
    assert cause_of_death(None) == "the job's process exited with code None before recording its outcome"
    for status in (None, "running"):
        if status:
            write_status(tmp_path, status)
        assert record_death(tmp_path, -signal.SIGKILL)
        assert read_status(tmp_path) == {"status": "failed", "error": "the job's process was killed by SIGKILL",
                                         "exit_code": -signal.SIGKILL}
    for outcome in ("completed", "interrupted"):
        write_status(tmp_path, outcome)
        assert not record_death(tmp_path, 0)
        assert read_status(tmp_path) == {"status": outcome}


def test_a_failure_is_2_for_bad_input_3_for_a_non_finite_loss_and_1_for_a_full_disk_naming_its_file(
        tmp_path: Path) -> None:
    assert failure(ConfigError("clip.value: not a number"), tmp_path) == (2, "clip.value: not a number")
    assert failure(DataError("no MNIST files"), tmp_path) == (2, "no MNIST files")
    assert failure(NonFiniteLossError("loss is nan"), tmp_path) == (3, "loss is nan")
    assert failure(RuntimeError("boom"), tmp_path) == (1, None)
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "checkpoints" / "last.ckpt"))
    try:
        raise RuntimeError("PytorchStreamWriter failed writing file") from full
    except RuntimeError as wrapped:
        assert failure(wrapped, tmp_path) == (1, f"no space left on device writing {tmp_path}/checkpoints/last.ckpt: "
                                                 f"free some space, then resume=true")
    unnamed = OSError(errno.ENOSPC, "No space left on device")
    assert failure(unnamed, tmp_path)[1].startswith(f"no space left on device writing a file in {tmp_path}:")


def test_a_quota_exceeded_is_said_as_a_full_disk_is(tmp_path: Path) -> None:
    # A shared cluster's users meet their quota long before its disk is full: that was a crash's traceback.
    quota = OSError(errno.EDQUOT, "Disk quota exceeded", str(tmp_path / "checkpoints" / "last.ckpt"))
    assert failure(quota, tmp_path) == (1, f"disk quota exceeded writing {tmp_path}/checkpoints/last.ckpt: "
                                           f"free some space, then resume=true")


def test_a_chain_of_causes_that_loops_ends(tmp_path: Path) -> None:
    # TensorBoard's writer thread keeps the one error it died of and raises that object at every later
    # write: raised again while a wrapper of it was handled, it became that wrapper's context, and the
    # walk along the causes went round for ever (a run on a full disk hung, its status.json `running`).
    tensorboards = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise tensorboards
        except OSError as error:
            raise RuntimeError("wrapped") from error
    except RuntimeError:
        try:
            raise tensorboards  # noqa: B904
        except OSError as again:
            looped = again
    assert looped.__context__.__cause__ is looped

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("the walk along the causes did not end")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        assert failure(looped, tmp_path) == (1, f"no space left on device writing a file in {tmp_path}: free some "
                                                f"space, then resume=true")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_disk_too_full_for_status_json_still_ends_the_run_in_one_line(tmpfs,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    # Another user's job filled the disk: the few bytes of status.json did not fit either, and the
    # harness's own write of it ended the run in a traceback.
    run_dir = tmpfs("full", size="1m") / "run"
    with caplog.at_level(logging.ERROR), RunRecord(run_dir) as record:
        fill_disk(run_dir)
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "csv" / "metrics.csv"))
    assert record.exit_code == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"no space left on device writing {run_dir}/csv/metrics.csv: free some space, then resume=true"]
    assert read_status(run_dir) == {"status": "running"}  # what resume=true continues


def test_an_interrupt_on_a_disk_too_full_for_status_json_is_an_interrupt(tmpfs) -> None:
    run_dir = tmpfs("full", size="1m") / "run"
    with RunRecord(run_dir) as record:
        fill_disk(run_dir)
        raise Interrupted(signal.SIGTERM)
    assert record.exit_code == 128 + signal.SIGTERM


def test_a_sweep_does_not_fail_on_recording_a_job_that_a_full_disk_ended(tmpfs) -> None:
    # The job said the disk was full and left `running`; the sweep's write of `failed` raised in its process,
    # which ended in a traceback, without its summary or its list of failed jobs.
    run_dir = tmpfs("full", size="1m") / "run"
    run_dir.mkdir()
    write_status(run_dir, "running")
    fill_disk(run_dir)
    assert not record_death(run_dir, 0)
    assert read_status(run_dir) == {"status": "running"}


def test_an_interrupt_lost_in_a_weakref_callback_stops_the_run_as_it_starts(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A sweep's job, signalled as it started, raised the interrupt inside a weakref callback, where Python
    # prints it and goes on: the job trained to the end, recorded completed.
    monkeypatch.setattr("vae_lightning.harness.runs.raised_interrupts", [])
    previous = signal.signal(signal.SIGINT, raise_interrupted)
    try:
        owner = Owner()
        watched = weakref.ref(owner, lambda _: os.kill(os.getpid(), signal.SIGINT))
        del owner  # the callback runs, and the handler within it
        assert watched() is None
        record = RunRecord(tmp_path)
        with pytest.raises(Interrupted, match="SIGINT"):
            with record:
                pytest.fail("the run started")
        record.release()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not (tmp_path / "status.json").exists()


def test_slurms_warning_lost_in_a_weakref_callback_ends_the_run_as_requeued_at_the_next_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # submitit requeued the job, then the handler's Requeued was printed and lost: the run trained on until Slurm
    # killed it, status.json saying running, its steps since the last checkpoint lost.
    def submitit_requeue(signum: int, frame: object) -> None:  # as submitit's handler ends: requeued, then exit
        sys.exit(-1)

    monkeypatch.setattr("vae_lightning.harness.runs.raised_interrupts", [])
    monkeypatch.setattr(signal, "getsignal", lambda signum: submitit_requeue if signum == signal.SIGUSR2 else None)
    with RunRecord(tmp_path) as record:
        owner = Owner()
        watched = weakref.ref(owner, lambda _: os.kill(os.getpid(), signal.SIGUSR2))
        del owner  # the callback runs, and the handler within it
        assert watched() is None
        raise_lost_interrupt()  # as at the end of the next training batch (harness.run.build_trainer)
        pytest.fail("the run trained on")
    assert record.exit_code == 128 + signal.SIGUSR2
    assert read_status(tmp_path) == {"status": "interrupted", "error": "interrupted by SIGUSR2", "signal": "SIGUSR2",
                                     "exit_code": 128 + signal.SIGUSR2}


class Owner:
    """An object a weakref can watch."""


def test_a_job_whose_first_config_a_full_disk_stopped_writes_it_again_when_resumed(tmp_path) -> None:
    # Hydra's write stopped by a full disk left an empty .hydra/config.yaml: resumed, the job wrote its config in
    # .hydra/resumed-<time>/, and the sweep's report, finding no .hydra/overrides.yaml, left the job out of its count.
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").touch()
    assert config_subdir(True, str(tmp_path)) == ".hydra"
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (tmp_path / ".hydra" / name).write_text("[]\n")
    assert config_subdir(True, str(tmp_path)).startswith(".hydra/resumed-")
    assert config_subdir(False, str(tmp_path)) == ".hydra"
