"""SHA-256 records of model files (ONNX copies, pulled models), checked before use.

A record is {name: {"size", "mtime_ns", "sha256"}}, written when the files are made (export)
or fetched (`models pull`). The check on load is cheap: a file whose size differs is changed;
one whose size and modification time both match the record is taken as unchanged (a stat, no
read); only when the time moved but the size did not is the file hashed again (hundreds of
MB: about a second), and a match is then recorded with the new time so the next load is cheap
again. Hashing on every load would cost more than loading; any write through the file system
moves the time, so what this misses is a change that also restored the time by hand.
`full=True` (`models pull` on a cached model) hashes everything regardless.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .files import fsync_directory

MANIFEST = ".bertcli-sha256.json"  # beside a pulled model's files


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record(folder: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Size, modification time and SHA-256 of each named file of `folder`."""
    found = {}
    for name in sorted(names):
        stat = (folder / name).stat()
        found[name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       "sha256": sha256_file(folder / name)}
    return found


def check(folder: Path, files: dict[str, dict[str, Any]],
          full: bool = False) -> tuple[str | None, bool]:
    """(what is wrong, or None; whether a record's time was refreshed after a full hash).
    Refreshed records are updated in `files` in place."""
    refreshed = False
    for name, expected in files.items():
        try:
            stat = (folder / name).stat()
        except OSError as err:
            return f"{name}: {err.strerror or err}", refreshed
        if stat.st_size != expected.get("size"):
            return f"{name} is {stat.st_size:,} bytes, not {expected.get('size'):,}", refreshed
        if not full and stat.st_mtime_ns == expected.get("mtime_ns"):
            continue
        try:
            actual = sha256_file(folder / name)
        except OSError as err:
            return f"{name}: {err.strerror or err}", refreshed
        if actual != expected.get("sha256"):
            return f"{name} does not match its SHA-256", refreshed
        if stat.st_mtime_ns != expected.get("mtime_ns"):
            expected["mtime_ns"] = stat.st_mtime_ns
            refreshed = True
    return None, refreshed


# --- pulled models: a manifest file beside the snapshot's files ----------------------------


def model_files(folder: Path) -> list[str]:
    """Every file of a model folder (relative names; links followed), but the manifest."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p.name != MANIFEST)


def write_manifest(folder: Path) -> None:
    """Record every file of `folder` (after a pull). Best effort: a read-only cache keeps
    working, unverified."""
    from .errors import InputError
    from .files import write_atomically

    try:
        content = json.dumps({"files": record(folder, model_files(folder))}, indent=1)
        write_atomically(str(folder / MANIFEST), content + "\n")
    except (OSError, InputError):
        pass


def verify_model(folder: Path, full: bool = False) -> str | None:
    """What is wrong with a pulled model's files, or None (also when nothing was recorded:
    a model pulled by another tool, or before bertcli kept records)."""
    path = folder / MANIFEST
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{MANIFEST} is unreadable ({err})"
    problem, refreshed = check(folder, files, full)
    if problem is None and refreshed:
        from .errors import InputError
        from .files import write_atomically

        try:
            write_atomically(str(path), json.dumps({"files": files}, indent=1) + "\n")
        except InputError:
            pass
    return problem


def checked_model(folder: Path, name: str) -> None:
    """Raise ModelError (one line: what and how to fix) if a pulled model changed."""
    from .errors import ModelError

    problem = verify_model(folder)
    if problem is not None:
        raise ModelError(f"{name}: the cached copy is damaged ({problem}); run "
                         f"`bertcli models pull {name}` to download it again")


def fsync_tree(folder: Path) -> None:
    """Every file of `folder` and of its subfolders on disk, and the subfolders' entries
    (before a rename makes the folder count)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif path.is_dir():
            fsync_directory(str(path))
