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
- A damaged entry (truncated, not an .npz, arrays that do not fit together) is never used:
  `load` reports it and removes it, and the caller rebuilds the index.

Lives under bertcli's cache folder (bertcli.backends.onnx_backend.cache_root), in `index/`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

CACHE_VERSION = 2  # bump when what an entry holds, or how it is computed, changes
DEFAULT_LIMIT_MB = 300
SUFFIX = ".npz"


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


def load(key: str, notice: Callable[[str], None] | None = None,
         source: str = "the document") -> dict[str, np.ndarray] | None:
    """The arrays stored under `key`, or None (absent, cache off, or damaged: removed)."""
    if limit_bytes() == 0:
        return None
    path = _path(key)
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        _damaged(path, err, notice, source)
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


def discard(key: str, err: BaseException, notice: Callable[[str], None] | None = None,
            source: str = "the document") -> None:
    """Remove an entry whose arrays turned out not to fit together, with the damage notice."""
    _damaged(_path(key), err, notice, source)


def store(key: str, arrays: Mapping[str, np.ndarray]) -> bool:
    """Write an entry atomically, then keep the cache under its limit. False when the cache is
    off or the entry could not be written (a full or read-only disk is not an error here)."""
    limit = limit_bytes()
    if limit == 0:
        return False
    folder = cache_dir()
    tmp_name = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".write-", suffix=SUFFIX, dir=folder)
        with os.fdopen(fd, "wb") as out:
            # numpy's stubs read the names as its flags
            np.savez(out, **arrays)  # type: ignore[arg-type]
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, _path(key))
        tmp_name = None
    except OSError:
        return False
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    evict(limit)
    return True


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
    for leftover in cache_dir().glob(".write-*"):
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
    """Remove every entry; returns (entries, bytes) removed."""
    count = size = 0
    for path, nbytes, _ in entries():
        try:
            path.unlink()
        except OSError:
            continue
        count, size = count + 1, size + nbytes
    return count, size
