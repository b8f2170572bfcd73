"""Progress on long work: a rich display on stderr, for people watching a terminal.

The library reports through a plain callback, `progress(what, advance, total)` ("files",
"pages", "sentences", "passages", "questions"; `total` when known), so it stays free of any
UI. The CLI passes a `ProgressDisplay`, which shows nothing until the work has run for
`BERTCLI_PROGRESS_DELAY` seconds (default 2), and nothing at all unless stderr is a terminal,
notices are on (no --quiet) and the output format is text or Markdown. Notices printed while it
shows go above it; it vanishes when the work ends.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

ProgressCallback = Callable[[str, int, "int | None"], None]
DEFAULT_DELAY = 2.0  # seconds of work before a display appears
CHUNK = 256  # texts embedded between two reports


def report(progress: ProgressCallback | None, what: str, advance: int = 1,
           total: int | None = None) -> None:
    if progress is not None:
        progress(what, advance, total)


def embed_in_chunks(embed: Callable[[Sequence[str]], Any], texts: Sequence[str],
                    progress: ProgressCallback | None, what: str = "sentences") -> Any:
    """`embed(texts)`, reporting every CHUNK texts. Without a callback, or for few texts, one
    call: the same batches (and numbers) as before progress existed."""
    if progress is None or len(texts) <= CHUNK:
        vectors = embed(texts)
        report(progress, what, len(texts), len(texts))
        return vectors
    import numpy as np

    report(progress, what, 0, len(texts))
    parts = []
    for begin in range(0, len(texts), CHUNK):
        parts.append(embed(texts[begin:begin + CHUNK]))
        report(progress, what, len(parts[-1]), len(texts))
    return np.concatenate(parts)


def wanted(fmt: str = "text") -> bool:
    """Whether a display may show: stderr a terminal, notices on, text or Markdown output."""
    from .notices import logger

    try:
        terminal = sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return terminal and logger.isEnabledFor(20) and fmt in ("text", "markdown")


def _delay() -> float:
    from . import settings

    return settings.progress_delay(DEFAULT_DELAY)


class ProgressDisplay:
    """A context manager and a progress callback: one bar per kind of work."""

    def __init__(self, enabled: bool, delay: float | None = None):
        self.enabled = enabled
        self.delay = _delay() if delay is None else delay
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._shown = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._start = 0.0

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(file=sys.stderr, force_terminal=True)
            self._progress = Progress(TextColumn("{task.description:>10}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                      transient=True, redirect_stdout=False, redirect_stderr=True)
            self._start = time.monotonic()
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _show(self) -> None:
        with self._lock:
            if self._progress is not None and not self._shown:
                self._shown = True
                self._progress.start()

    def __call__(self, what: str, advance: int = 1, total: int | None = None) -> None:
        if self._progress is None:
            return
        with self._lock:
            task = self._tasks.get(what)
            if task is None:
                task = self._tasks[what] = self._progress.add_task(what, total=total)
            elif total is not None:
                self._progress.update(task, total=total)
            self._progress.advance(task, advance)
        if not self._shown and time.monotonic() - self._start >= self.delay:
            self._show()

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            if self._shown:
                self._progress.stop()
            self._progress = None
