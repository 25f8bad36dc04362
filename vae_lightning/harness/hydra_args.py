"""`python train.py`'s own flags, as Hydra 1.3 reads them (https://hydra.cc/docs/advanced/hydra-command-line-flags/).

Hydra has no public way to read its command line before it runs; this parser declares the flags of
its documentation, and `tests/harness/test_hydra_args.py` fails if Hydra's own parser ever differs.
"""

from __future__ import annotations

import argparse

# Flags with which Hydra only prints something or completes the shell: no job runs.
PRINT_ONLY = ("help", "hydra_help", "version", "info", "cfg", "shell_completion", "experimental_rerun")


def command_line_parser() -> argparse.ArgumentParser:
    """Every flag of Hydra 1.3. add_help=False: --help is Hydra's to answer once the check has let the
    command through; --version likewise (Hydra's parser prints and exits as it parses)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--help", "-h", action="store_true")
    parser.add_argument("--hydra-help", action="store_true")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--cfg", "-c")
    parser.add_argument("--resolve", action="store_true")
    parser.add_argument("--package", "-p")
    parser.add_argument("--run", "-r", action="store_true")
    parser.add_argument("--multirun", "-m", action="store_true")
    parser.add_argument("--shell-completion", "-sc", action="store_true")
    parser.add_argument("--config-path", "-cp")
    parser.add_argument("--config-name", "-cn")
    parser.add_argument("--config-dir", "-cd")
    parser.add_argument("--experimental-rerun")
    parser.add_argument("--info", "-i", nargs="?", const="all")
    return parser


def parse_command_line(arguments: list[str]) -> argparse.Namespace:
    """Hydra's reading of the command line: .overrides, .multirun, .config_dir, .config_name, ..."""
    return command_line_parser().parse_known_args(arguments)[0]


def runs_nothing(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag, None) for flag in PRINT_ONLY)
