"""Errors caused by the user's input, reported as one line naming the key or file and the fix."""

import sys


def say_error(message: str) -> None:
    """Print a command's error as its one line on stderr: a newline in a value given (a folder's name) shows as \\n."""
    print(f"error: {message}".replace("\n", "\\n"), file=sys.stderr, flush=True)


class UserInputError(Exception):
    """A bad config value, file or folder; its message says what is wrong and how to fix it."""


class ConfigError(UserInputError):
    """A config key or value that cannot work."""


class DataError(UserInputError):
    """Data files that are missing or cannot be read."""


class NonFiniteLossError(Exception):
    """Training produced a NaN or infinite loss; the message names the step and the last good checkpoint."""
