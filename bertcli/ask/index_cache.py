"""Document indexes kept on disk, so that a second `ask` on the same document skips indexing.

An entry holds what indexing a long document costs: its sentence boundaries, its passages,
their embeddings and their BM25 statistics (numpy arrays in one .npz file). It is keyed by the
SHA-256 of the text, the retriever, the passage settings and CACHE_VERSION, so a changed
document, model or setting never meets an old entry.

- Written atomically (a temporary file in the same folder, then `os.replace`): another
  process sees the old entry, the new one, or none; two processes writing the same entry at
  once both write whole files and the last rename wins.
- Bounded: after each write the least recently used entries (by modification time, touched on
  every read) go until the folder is under its limit: BERTCLI_INDEX_CACHE_MB, default
  DEFAULT_LIMIT_MB; 0 turns the cache off.
- A damaged entry (truncated, not an .npz, arrays that do not fit together, or any byte
  changed: each entry carries a SHA-256 of its arrays, checked on every read, ~1 ms for a
  long document) is never used: `load` reports it and removes it, and the caller rebuilds it.
- A cache that cannot be used (a full disk, no permission, its path under a regular file) is
  no error: one notice per process and folder, then the run goes on without caching.
- A writer killed mid-write leaves only its `.write-*` temporary file, never read as an entry
  (removed after STALE_WRITE_S).

Lives under bertcli's cache folder (bertcli.backends.onnx_backend.cache_root), in `index/`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CACHE_VERSION = 3  # 3: a checksum in every entry. Bump when what an entry holds, or how it is computed, changes
DEFAULT_LIMIT_MB = 300
SUFFIX = ".npz"
LOCK_TIMEOUT_S = 30.0  # a write waits this long for another process's merge and write
CHECKSUM = "_sha256"  # the array in each entry that holds the SHA-256 of the others
# Errors that say the folder, not an entry, is unusable (read-only, under a regular file, full).
UNUSABLE = (errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
            errno.EISDIR, errno.ELOOP)
_unusable: set[str] = set()  # folders this process found unusable: said once, then skipped


def cache_dir() -> Path:
    from ..backends.onnx_backend import cache_root

    return cache_root() / "index"


def limit_bytes() -> int:
    """The cache's size limit in bytes (BERTCLI_INDEX_CACHE_MB; 0 turns it off)."""
    from .. import settings

    return int(settings.index_cache_mb(DEFAULT_LIMIT_MB) * 1024 * 1024)


def entry_key(text: str, *settings: object) -> str:
    """The key of `text` indexed with `settings` (retriever name, passage size, ...)."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}\0".encode())
    for setting in settings:
        digest.update(f"{setting}\0".encode())
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def _path(key: str) -> Path:
    return cache_dir() / f"{key}{SUFFIX}"


def checksum(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The SHA-256 of `arrays` (names, dtypes, shapes and bytes), as an array to store."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return np.frombuffer(digest.digest(), dtype=np.uint8)


def _say_unusable(folder: Path, err: OSError, notice: Callable[[str], None] | None) -> None:
    """One notice per process and folder; later reads and writes skip it."""
    if str(folder) in _unusable:
        return
    _unusable.add(str(folder))
    from .. import notices

    reason = err.strerror or type(err).__name__
    (notice or notices.notice)(f"cannot use the index cache in {folder} ({reason}); "
                               "going on without it")


def load(key: str, notice: Callable[[str], None] | None = None,
         source: str = "the document") -> dict[str, np.ndarray] | None:
    """The arrays stored under `key`, or None (absent, cache off or unusable, or damaged:
    removed)."""
    if limit_bytes() == 0 or str(cache_dir()) in _unusable:
        return None
    path = _path(key)
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno in UNUSABLE:
            _say_unusable(path.parent, err, notice)
            return None
        _damaged(path, err, notice, source)
        return None
    except (ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        _damaged(path, err, notice, source)
        return None
    stored_sum = arrays.pop(CHECKSUM, None)
    if stored_sum is None or not np.array_equal(stored_sum, checksum(arrays)):
        _damaged(path, ValueError("its checksum does not match"), notice, source)
        return None
    try:
        os.utime(path)  # recently used: evicted last
    except OSError:
        pass
    return arrays


def _damaged(path: Path, err: BaseException, notice: Callable[[str], None] | None,
             source: str) -> None:
    if notice is not None:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
        notice(f"the cached index of {source} is damaged ({reason}); indexing it again")
    try:
        path.unlink()
    except OSError:
        pass


def stamp(key: str) -> tuple[int, int, int] | None:
    """What tells one stored file of `key` from another (inode, modification time, size), or
    None: no entry. Entries are replaced whole (os.replace), so another stamp means that
    another process wrote it."""
    try:
        found = _path(key).stat()
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def discard(key: str, err: BaseException, notice: Callable[[str], None] | None = None,
            source: str = "the document") -> None:
    """Remove an entry whose arrays turned out not to fit together, with the damage notice."""
    _damaged(_path(key), err, notice, source)


def store(key: str, arrays: Mapping[str, np.ndarray],
          notice: Callable[[str], None] | None = None) -> bool:
    """Write an entry (with its checksum) atomically, then keep the cache under its limit.
    False when the cache is off or the entry could not be written: a full or read-only disk
    is not an error here (one notice, then no caching)."""
    limit = limit_bytes()
    folder = cache_dir()
    if limit == 0 or str(folder) in _unusable:
        return False
    buffer = io.BytesIO()
    # numpy's stubs read the names as its flags
    np.savez(buffer, **arrays, **{CHECKSUM: checksum(arrays)})  # type: ignore[arg-type]
    tmp_name = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".write-", suffix=SUFFIX, dir=folder)
        _write_file(fd, buffer.getbuffer())
        os.replace(tmp_name, _path(key))
        tmp_name = None
    except OSError as err:
        _say_unusable(folder, err, notice)
        return False
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    evict(limit)
    return True


def _write_file(fd: int, data: memoryview) -> None:
    """`data` into the open file `fd`, on disk before it is renamed into place."""
    from .. import faults

    with os.fdopen(fd, "wb") as out:
        half = len(data) // 2
        out.write(data[:half])
        out.flush()
        faults.point("index-cache-write")  # crash tests: killed with half an entry written
        out.write(data[half:])
        out.flush()
        os.fsync(out.fileno())


@contextmanager
def write_lock(timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Held while an entry is merged with the stored one and written, so that two processes
    adding vectors to one document's entry (an `ask`, the background fill) keep both's rows.
    Without a lock to be had (an unusable folder, a timeout) the write goes on unlocked: it is
    atomic all the same, and at worst one side's new rows are embedded again later."""
    from filelock import FileLock, Timeout

    lock = None
    try:
        if cache_dir().is_dir():  # (before the first entry there is nothing to merge with)
            lock = FileLock(str(cache_dir() / ".lock"))
            lock.acquire(timeout=timeout)
    except (OSError, Timeout):
        lock = None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def entries() -> list[tuple[Path, int, float]]:
    """(path, bytes, last used) of every entry, least recently used first."""
    found = []
    try:
        paths = list(cache_dir().glob(f"*{SUFFIX}"))
    except OSError:
        return []
    for path in paths:
        if path.name.startswith("."):
            continue
        try:
            stat = path.stat()
        except OSError:
            continue  # removed by another process meanwhile
        found.append((path, stat.st_size, stat.st_mtime))
    return sorted(found, key=lambda e: e[2])


STALE_WRITE_S = 3600.0  # a temporary file this old was left by a killed process


def evict(limit: int) -> int:
    """Remove least recently used entries until the cache holds at most `limit` bytes (the
    newest entry always stays, even alone over the limit); returns how many went."""
    now = time.time()
    for pattern in (".write-*", ".fill-*"):  # (.fill-*: a text no background fill read)
        for leftover in cache_dir().glob(pattern):
            try:
                if now - leftover.stat().st_mtime > STALE_WRITE_S:
                    leftover.unlink()
            except OSError:
                pass
    found = entries()
    total = sum(size for _, size, _ in found)
    removed = 0
    for path, size, _ in found[:-1]:
        if total <= limit:
            break
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError:
            continue
        total -= size
    return removed


def clear() -> tuple[int, int]:
    """Remove every entry; returns (entries, bytes) removed. Under the write lock, so that a
    background fill storing meanwhile sees its entry gone and stops (bertcli.ask.fill)."""
    count = size = 0
    with write_lock():
        for path, nbytes, _ in entries():
            try:
                path.unlink()
            except OSError:
                continue
            count, size = count + 1, size + nbytes
    return count, size
