"""argparse types of the benchmarks' counts (repeats, seeds, steps, threads): a count no measurement can be made
with is a usage error, in one line, before anything runs. `--repeats 0` measured nothing and then failed with a
traceback (no median of no pairs), as did `--parallel 0` (no run started to wait for), and `--batches 0` printed
zeros as a result."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for a whole number of at least `minimum`, as `epochs_after_warmup` is for --epochs."""

    def count(text: str) -> int:
        value = int(text)  # not a number: argparse says "invalid count value: 'x'"
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: needs at least {minimum}")
        return value

    return count


def thread_counts(text: str) -> list[int]:
    """An argparse type for a comma-separated list of thread counts, each at least 1 (`1,2`)."""
    return [at_least(1)(part) for part in text.split(",")]
