"""The one adapter to a private Hydra API: the parser of `python train.py`'s own flags.

Hydra has no public way to read its command line (-m, --cfg, --config-dir...) before it runs;
`tests/harness/test_hydra_args.py` fails if the parser below changes under us.
"""

from __future__ import annotations

import argparse

from hydra._internal.utils import get_args_parser

# Flags with which Hydra only prints something or completes the shell: no job runs.
PRINT_ONLY = ("help", "hydra_help", "info", "cfg", "shell_completion", "experimental_rerun")


def parse_command_line(arguments: list[str]) -> argparse.Namespace:
    """Hydra's reading of the command line: .overrides, .multirun, .config_dir, .config_name, ..."""
    return get_args_parser().parse_known_args(arguments)[0]


def runs_nothing(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag, None) for flag in PRINT_ONLY)
