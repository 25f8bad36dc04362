"""A Lightning profiler that records nothing, at the lowest cost Lightning allows."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from lightning.pytorch.profilers import Profiler


class NullProfiler(Profiler):
    """Lightning wraps every hook of every callback in `profiler.profile(...)`, a dozen times a step.

    The default PassThroughProfiler builds a generator-based context manager for each; this one
    returns one shared no-op context, which benchmarks/epoch_speed.py measures as a few percent of
    an epoch. Set `trainer.profiler=simple` (or `advanced`) to profile for real.
    """

    _context = nullcontext()

    def start(self, action_name: str) -> None:
        return None

    def stop(self, action_name: str) -> None:
        return None

    def profile(self, action_name: str) -> AbstractContextManager:
        return self._context
