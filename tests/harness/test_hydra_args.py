"""The adapter to Hydra's private command-line parser: fails here first if Hydra changes it."""

from vae_lightning.harness.hydra_args import parse_command_line, runs_nothing


def test_hydra_reads_the_flags_and_overrides_we_rely_on() -> None:
    args = parse_command_line(["-m", "--config-dir", "elsewhere", "--config-name", "other", "clip.value=0.1,1"])
    assert args.multirun and args.config_dir == "elsewhere" and args.config_name == "other"
    assert args.overrides == ["clip.value=0.1,1"] and not runs_nothing(args)


def test_flags_that_only_print_run_no_job() -> None:
    for flags in (["--cfg", "job"], ["--help"], ["--hydra-help"], ["--info"], ["--shell-completion"]):
        assert runs_nothing(parse_command_line(flags)), flags
