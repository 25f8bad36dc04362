"""Our reading of `python train.py`'s flags against Hydra's own parser: fails here first if Hydra changes it."""

import argparse

import pytest
from hydra._internal.utils import get_args_parser  # only to compare: the package itself never imports it

from vae_lightning.harness.hydra_args import command_line_parser, parse_command_line, runs_nothing

COMMAND_LINES = [
    ["-m", "--config-dir", "elsewhere", "--config-name", "other", "clip.value=0.1,1"],
    ["--multirun", "-cd", "conf", "-cn", "x", "seed=1", "+a=b"],
    ["--cfg", "job", "--resolve", "-p", "model"],
    ["--info"], ["-i", "plugins"], ["--hydra-help"], ["-h"], ["-sc"], ["-r", "optim.lr=0.1"],
    ["--experimental-rerun", "config.pickle"], ["--multi", "seed=0,1"], ["--config-path", "/abs", "seed=2"],
]


def actions(parser: argparse.ArgumentParser) -> dict[str, tuple]:
    return {action.dest: (tuple(action.option_strings), action.nargs, action.const) for action in parser._actions}


def test_every_flag_of_hydras_parser_is_declared_alike() -> None:
    hydras = actions(get_args_parser())
    # Hydra's --version prints and exits as it parses; ours only notes it, and Hydra answers it later.
    assert hydras["version"] == (("--version",), 0, None)
    assert actions(command_line_parser()) == {**hydras, "version": (("--version",), 0, True)}


@pytest.mark.parametrize("arguments", COMMAND_LINES, ids=" ".join)
def test_a_command_line_reads_as_hydra_reads_it(arguments: list[str]) -> None:
    ours, hydras = parse_command_line(arguments), get_args_parser().parse_known_args(arguments)[0]
    assert vars(ours) == {**vars(hydras), "version": False}


def test_hydra_reads_the_flags_and_overrides_we_rely_on() -> None:
    args = parse_command_line(["-m", "--config-dir", "elsewhere", "--config-name", "other", "clip.value=0.1,1"])
    assert args.multirun and args.config_dir == "elsewhere" and args.config_name == "other"
    assert args.overrides == ["clip.value=0.1,1"] and not runs_nothing(args)


def test_flags_that_only_print_run_no_job() -> None:
    for flags in (["--cfg", "job"], ["--help"], ["--hydra-help"], ["--info"], ["--shell-completion"], ["--version"]):
        assert runs_nothing(parse_command_line(flags)), flags
