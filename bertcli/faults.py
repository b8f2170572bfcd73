"""Deterministic crash points for the crash tests (tests/batch/test_crash_resume.py,
benchmarks/crash_resume.py): with BERTCLI_FAULT=POINT:N the process kills itself with SIGKILL
the N-th time it reaches `point(POINT)`, as a power cut or the OOM killer would: no cleanup, no
`finally`, no flush of Python's buffers. Unset (always, outside those tests), a point costs one
environment lookup.

Points: batch-row (the driver received a row), batch-write (a row written to a temporary
output file), batch-shard (a shard renamed into place, not yet in the manifest),
batch-manifest (the manifest lists it), batch-finish (OUT or the index renamed into place,
the shards not yet removed), index-write (the corpus index's files written, not yet renamed),
index-cache-write (half of a document-index cache entry written), onnx-export (an ONNX copy
exported into its work folder, not yet renamed).
"""

from __future__ import annotations

import os
import signal

from . import settings

_reached: dict[str, int] = {}


def point(name: str) -> None:
    """Die here (SIGKILL) if BERTCLI_FAULT names this point and this is its N-th time."""
    wanted = settings.fault()
    if wanted is None or wanted[0] != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == wanted[1]:
        kill = getattr(signal, "SIGKILL", None)
        if kill is None:  # Windows: no SIGKILL; an exit that skips every cleanup
            os._exit(137)
        os.kill(os.getpid(), kill)
