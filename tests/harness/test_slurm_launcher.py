"""The Slurm launcher's parts that need no cluster (tests/cluster/test_slurm.py runs it on a real one)."""

import io

from hydra_plugins.vae_lightning_launcher.slurm_launcher import SbatchEcho, reason_of


def test_sbatch_echo_drops_only_the_refusal_it_is_told_of_and_writes_anything_else() -> None:
    terminal = io.StringIO()
    echo = SbatchEcho(terminal)
    print("UserWarning: at once", file=echo)
    print("sbatch: error: Invalid partition\nsbatch: error: Batch job submission failed", file=echo)
    print("sbatch: warning: not the refusal", file=echo)
    print("after", file=echo)
    assert terminal.getvalue() == "UserWarning: at once\nafter\n"
    echo.forget("sbatch: error: Invalid partition\nsbatch: error: Batch job submission failed")
    echo.release()
    assert terminal.getvalue() == "UserWarning: at once\nafter\nsbatch: warning: not the refusal\n"


def test_sbatch_echo_writes_what_sbatch_said_when_there_was_no_refusal() -> None:
    terminal = io.StringIO()
    echo = SbatchEcho(terminal)
    print("sbatch: error: said", file=echo)
    echo.release()
    assert terminal.getvalue() == "sbatch: error: said\n"


def test_what_squeue_says_of_a_partition_that_leaves_a_job_out_is_read_as_its_reason() -> None:
    # Slurm 22.05's words, which squeue's %r shows in place of the reason's name.
    said = "Job's account not known, so it can't use this partition (debug allows science)"
    assert reason_of(said) == "AccountNotAllowed"
    assert reason_of("Job's QOS not permitted to use this partition (gpu allows high not normal)") == "QOSNotAllowed"
    assert reason_of("PartitionConfig") == "PartitionConfig"
    assert reason_of("ReqNodeNotAvail, UnavailableNodes:vm") == "ReqNodeNotAvail, UnavailableNodes:vm"
