"""The one channel for notices: a logger named "bertcli" that writes `bertcli: message` lines
to stderr. Errors do not go through here (they are never silenced); `--quiet` silences notices.

Library users can attach their own handlers, or silence bertcli with
`logging.getLogger("bertcli").setLevel(logging.ERROR)`.
"""

from __future__ import annotations

import logging
import sys

from . import settings

logger = logging.getLogger("bertcli")


class _StderrHandler(logging.Handler):
    """Writes to the sys.stderr of the moment (tests and the CLI swap it), one line each."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"bertcli: {record.getMessage()}", file=sys.stderr)
        except (OSError, ValueError):  # stderr closed: notices are not worth a crash
            pass


if not logger.handlers:
    logger.addHandler(_StderrHandler())
    logger.propagate = False
    logger.setLevel(logging.ERROR if settings.quiet() else logging.INFO)


def notice(message: str) -> None:
    """Tell the user something that is not an error (a fallback, a one-time preparation)."""
    logger.info(message)


def set_quiet(quiet: bool = True) -> None:
    logger.setLevel(logging.ERROR if quiet else logging.INFO)
