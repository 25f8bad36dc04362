"""RunRecord: what a run's status.json and exit code say, however the run ends."""

import logging
import shutil
from pathlib import Path

import pytest

from vae_lightning.harness.runs import Interrupted, RunRecord, read_status


def test_an_interrupt_inside_a_checkpoints_write_is_an_interrupt(tmp_path: Path) -> None:
    with RunRecord(tmp_path) as record:
        try:
            raise Interrupted(2)
        except Interrupted as interrupt:  # as torch's writer wraps what interrupted it
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from interrupt
    assert record.exit_code == 130
    assert read_status(tmp_path)["status"] == "interrupted"


def test_a_run_folder_deleted_while_it_trains_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.ERROR), RunRecord(run_dir) as record:
        shutil.rmtree(run_dir)
        raise FileNotFoundError(2, "No such file or directory", str(run_dir / "checkpoints" / "last.ckpt"))
    assert record.exit_code == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"{run_dir} was deleted while its run trained; nothing of it is left to resume"]
