"""Errors that the CLI turns into one-line messages and documented exit codes."""

from __future__ import annotations

# Exit codes, documented in README.md ("Exit codes").
EXIT_FAILURE = 1  # unexpected error (a bug): rerun with --verbose
EXIT_USAGE = 2  # bad option or argument value
EXIT_INPUT = 3  # an input could not be read or is empty
EXIT_MODEL = 4  # a model could not be resolved or loaded
EXIT_OUTPUT = 74  # the output could not be written (stdout full or closed); sysexits' EX_IOERR
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (e.g. `| head -1`)


class BertcliError(Exception):
    """An error with a message fit for one line on stderr and an exit code."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(BertcliError):
    exit_code = EXIT_USAGE


class InputError(BertcliError):
    exit_code = EXIT_INPUT


class ModelError(BertcliError):
    exit_code = EXIT_MODEL


def first_line(err: BaseException) -> str:
    """An exception as one short line: its message's first line (its type if it has none)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
