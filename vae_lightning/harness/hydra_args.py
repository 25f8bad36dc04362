"""`python train.py`'s own flags, as Hydra 1.3 reads them (https://hydra.cc/docs/advanced/hydra-command-line-flags/).

Hydra has no public way to read its command line before it runs; this parser declares the flags of
its documentation, and `tests/harness/test_hydra_args.py` fails if Hydra's own parser ever differs.
"""

from __future__ import annotations

import argparse

# (flags, destination, takes a value); `--info` takes an optional one. Every flag of Hydra 1.3.
FLAGS = [
    (("--help", "-h"), "help", False),
    (("--hydra-help",), "hydra_help", False),
    (("--version",), "version", False),
    (("--cfg", "-c"), "cfg", True),
    (("--resolve",), "resolve", False),
    (("--package", "-p"), "package", True),
    (("--run", "-r"), "run", False),
    (("--multirun", "-m"), "multirun", False),
    (("--shell-completion", "-sc"), "shell_completion", False),
    (("--config-path", "-cp"), "config_path", True),
    (("--config-name", "-cn"), "config_name", True),
    (("--config-dir", "-cd"), "config_dir", True),
    (("--experimental-rerun",), "experimental_rerun", True),
]
# Flags with which Hydra only prints something or completes the shell: no job runs.
PRINT_ONLY = ("help", "hydra_help", "version", "info", "cfg", "shell_completion", "experimental_rerun")


def command_line_parser() -> argparse.ArgumentParser:
    # add_help=False: --help is Hydra's to answer, after the check has let the command through.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("overrides", nargs="*")
    for flags, destination, takes_value in FLAGS:
        if takes_value:
            parser.add_argument(*flags, dest=destination)
        else:
            parser.add_argument(*flags, dest=destination, action="store_true")
    parser.add_argument("--info", "-i", dest="info", nargs="?", const="all")
    return parser


def parse_command_line(arguments: list[str]) -> argparse.Namespace:
    """Hydra's reading of the command line: .overrides, .multirun, .config_dir, .config_name, ..."""
    return command_line_parser().parse_known_args(arguments)[0]


def runs_nothing(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag, None) for flag in PRINT_ONLY)
