"""Writing output files safely: checked before the work, written whole or not at all."""

from __future__ import annotations

from .errors import InputError


def umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str) -> None:
    """Raise InputError now if `path` cannot be written later (no such directory, a directory,
    no permission): a trial temporary file is created in its directory and removed."""
    import os
    import tempfile

    if os.path.isdir(path):
        raise InputError(f"{path}: cannot write (is a directory)")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"{path}: cannot write (no such directory)")
    if os.path.exists(path) and not os.access(path, os.W_OK) and not os.access(directory, os.W_OK):
        raise InputError(f"{path}: cannot write (permission denied)")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".bertcli-", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise InputError(f"{path}: cannot write ({err.strerror or err})") from None


def write_atomically(path: str, content: str) -> None:
    """Write `content` to `path` through a temporary file, so an error never leaves half a file.
    The file gets the usual permissions for a new file (0666 less the umask), not mkstemp's 0600."""
    import os
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".bertcli-", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())  # whole on disk before the rename makes it count
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError(f"{path}: cannot write ({err.strerror or err})") from None


def fsync_directory(directory: str) -> None:
    """Make a rename in `directory` durable (a power cut after it keeps it). Best effort: some
    systems (Windows, some network disks) cannot open or sync a directory."""
    import os

    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
