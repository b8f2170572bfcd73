"""Once a long document's questions are answered, embed the rest of its passages.

`ask` embeds, per question, only the passages BM25 ranks best (retrieve.LAZY_CANDIDATES), so
a new question in a new process pays for embedding its own (~0.5 s on a 100k-token
document). As git's automatic gc does, `ask` then starts one background process that embeds
the rest into the index cache and exits; later questions in later processes find every
passage embedded (~0.1 s). Only one runs at a time per cache (no other is started meanwhile),
at the lowest priority, on one thread. BERTCLI_NO_FILL turns it off. `serve` and `chat`, which
live on, fill on a thread of their own instead (`fill_on_thread`).

    python -c "$CHILD" KEY TEXT_FILE UNIT LANGUAGE     # what `start_process` runs
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .retrieve import Index, Retriever

KEEP_EVERY_S = 15.0  # the filled vectors are stored this often, so an `ask` meanwhile uses them
CHUNK = 16  # passages embedded between two looks for askers (and at the clock)
TEXT_PREFIX = ".fill-"  # the document's text, handed to the process (it removes the file)
ASKING = ".asking"  # a file that every asking process holds a shared lock on
POLL_S = 0.1  # how often a paused fill looks again
# The process: its priority lowered before anything is imported, so that even its start-up
# does not compete with the `ask` that started it.
CHILD = ("import os, sys; hasattr(os, 'nice') and os.nice(19); "
         "from bertcli.ask.fill import run; run(sys.argv[1:])")


def _fill_lock(timeout: float) -> Any:
    """The lock a filling process holds, acquired (or None: another process holds it)."""
    from filelock import FileLock, Timeout

    from . import index_cache

    lock = FileLock(str(index_cache.cache_dir() / ".fill.lock"))
    try:
        lock.acquire(timeout=timeout)
    except (Timeout, OSError):
        return None
    return lock


@contextmanager
def asking() -> Iterator[None]:
    """Held while questions are answered: the fill pauses between two chunks meanwhile, so
    that it never slows a question down (its low priority alone did not always do it: on a
    busy 2-core machine new questions ran 1.5-3x slower beside a fill). A shared lock: askers
    never wait for each other; released by the system if the process dies. No-op where there
    is no fcntl (Windows)."""
    fd = _open_asking()
    if fd is None:
        yield
        return
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # (closing releases the lock)


def wait_for_askers(stop: threading.Event | None = None) -> None:
    """Return once no process holds `asking` (or `stop` is set)."""
    fd = _open_asking()
    if fd is None:
        return
    import fcntl

    try:
        while stop is None or not stop.is_set():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(POLL_S)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return
    finally:
        os.close(fd)


def _open_asking() -> int | None:
    from . import index_cache

    try:
        import fcntl  # noqa: F401
    except ImportError:
        return None
    folder = index_cache.cache_dir()
    try:
        if not folder.is_dir():
            return None  # nothing cached: nothing is filling
        return os.open(folder / ASKING, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None


def _fillable(index: Index) -> bool:
    """A cached index with passages left to embed, by an ONNX encoder (a torch one is let go
    once the questions are planned: not loaded again for this)."""
    return index.cache_key is not None and index.encoder is not None \
        and hasattr(index.encoder, "session") and index.embedded is not None \
        and not index.embedded.all()


def start_process(index: Index, unit: str, language: str | None) -> bool:
    """Start the background fill of `index` (a long document's, already in the index cache)
    unless it is fully embedded, fills are off, or another fill is running. True if started."""
    from .. import settings
    from . import index_cache

    key = index.cache_key
    if settings.no_fill() or key is None or not _fillable(index) or index_cache.limit_bytes() == 0:
        return False
    probe = _fill_lock(timeout=0)
    if probe is None:
        return False
    probe.release()
    text_file = None
    try:
        # readable by this user alone (mkstemp): it is the document itself
        fd, name = tempfile.mkstemp(prefix=TEXT_PREFIX, suffix=".txt", dir=index_cache.cache_dir())
        text_file = Path(name)
        with os.fdopen(fd, "wb") as out:
            out.write(index.text.encode("utf-8", "surrogatepass"))
        # Detached: its own session, no terminal, nothing inherited that a pipe waits on.
        subprocess.Popen(
            [sys.executable, "-c", CHILD, key, str(text_file), unit, language or ""],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True, env=dict(os.environ, BERTCLI_THREADS="1"))
    except OSError:
        if text_file is not None:
            text_file.unlink(missing_ok=True)
        return False
    return True


def fill(key: str, text: str, unit: str, language: str | None,
         keep_every_s: float = KEEP_EVERY_S) -> int:
    """Embed every passage of `text`'s cached index `key` that has no vector yet, storing
    them as it goes; returns how many were embedded (0: nothing to do, or the entry is
    gone or was made with other settings)."""
    from .retrieve import Retriever

    retriever = Retriever(notice=lambda message: None)
    if retriever.entry_key(text, unit, language) != key:
        return 0  # another precision or version than the asking process's: not its entry
    found = retriever.stored_index(text, key, language)
    if found is None:
        return 0
    index, _ = found
    assert index.embedded is not None
    missing = int((~index.embedded).sum())
    kept = time.monotonic()

    def go_on() -> bool:
        nonlocal kept
        wait_for_askers()
        if time.monotonic() - kept > keep_every_s:
            kept = time.monotonic()
            return retriever.keep(index, if_stored=True)  # cleared meanwhile: stop
        return True

    if index.embed_rest(go_on, CHUNK) and retriever.keep(index, if_stored=True):
        return missing
    return 0


def main(argv: list[str]) -> int:
    key, text_path, unit, language = argv
    path = Path(text_path)
    try:
        text = path.read_bytes().decode("utf-8", "surrogatepass")
    finally:
        path.unlink(missing_ok=True)
    lock = _fill_lock(timeout=0)
    if lock is None:
        return 0
    try:
        fill(key, text, unit, language or None)
    finally:
        lock.release()
    return 0


def run(argv: list[str]) -> None:
    """The process's entry (CHILD): `main`, its exit status, and no traceback."""
    try:
        sys.exit(main(argv))
    except Exception:  # nobody to tell: a fill that fails only means questions embed as they go
        sys.exit(1)


_threads: dict[str, threading.Thread] = {}  # cache key -> the thread embedding the rest of it
_stop_threads = threading.Event()
_threads_lock = threading.Lock()


def fill_on_thread(retriever: Retriever, index: Index) -> threading.Thread | None:
    """In a long-lived process (`serve`, `chat`), embed the rest of a cached document's
    passages on a background thread and keep them in the index cache, so that later new
    questions on it embed nothing. One thread per document; stopped at exit between chunks
    (never mid-run inside ONNX Runtime); only with an ONNX encoder (a torch one is let go)."""
    key = index.cache_key
    if key is None or not _fillable(index):
        return None
    with _threads_lock:
        if key in _threads and _threads[key].is_alive():
            return None
        if not _threads:  # (registering twice stops twice: harmless)
            atexit.register(stop_filling)

        def go_on() -> bool:
            wait_for_askers(_stop_threads)
            return not _stop_threads.is_set()

        def run() -> None:
            try:
                if index.embed_rest(go_on):
                    retriever.keep(index, if_stored=True)
            except Exception:  # a failed fill only means later questions embed as they go
                pass

        thread = _threads[key] = threading.Thread(target=run, name="bertcli-fill", daemon=True)
    thread.start()
    return thread


def stop_filling(timeout: float = 5.0) -> None:
    """Stop every fill thread between two chunks and wait for it (at exit; tests)."""
    _stop_threads.set()
    for thread in list(_threads.values()):
        thread.join(timeout=timeout)
    with _threads_lock:
        _threads.clear()
    _stop_threads.clear()
