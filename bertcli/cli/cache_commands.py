"""`cache info` and `cache clear`: bertcli's own cache (ONNX copies of models, document
indexes), not the Hugging Face cache of downloaded models (`models list`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from .core import cache_app, note, run_guarded
from .options import FORMAT_OPT, QUIET_OPT, VERBOSE_OPT, Format


def _folder_size(path: Path) -> tuple[int, int]:
    """(entries directly inside, bytes of every file below) of `path`."""
    if not path.is_dir():
        return 0, 0
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    size = 0
    for file in path.rglob("*"):
        try:
            if file.is_file():
                size += file.stat().st_size
        except OSError:
            pass
    return len(entries), size


def _rows() -> list[dict]:
    from ..ask import index_cache
    from ..backends.onnx_backend import cache_root

    root = cache_root()
    copies, copies_size = _folder_size(root / "onnx")
    found = index_cache.entries()
    return [
        {"cache": "models", "what": "fast CPU (ONNX) copies of models", "entries": copies,
         "bytes": copies_size, "limit_bytes": None, "path": str(root / "onnx")},
        {"cache": "indexes", "what": "document indexes (ask on long documents)",
         "entries": len(found), "bytes": sum(size for _, size, _ in found),
         "limit_bytes": index_cache.limit_bytes(), "path": str(index_cache.cache_dir())},
    ]


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


@cache_app.command("info")
def cache_info(
    fmt: Format = FORMAT_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Where bertcli's cache is, what it holds and its size limits ($BERTCLI_CACHE moves it;
    $BERTCLI_INDEX_CACHE_MB bounds the document indexes, 0 turns them off)."""

    def body() -> int:
        from ..render import Sink

        def cells(row) -> list[str]:
            return [row["cache"], row["what"], str(row["entries"]), _mb(row["bytes"]),
                    _mb(row["limit_bytes"]), row["path"]]

        Sink(fmt.value).table(["cache", "what", "entries", "size", "limit", "path"], _rows(), cells)
        return 0

    run_guarded(body, verbose)


@cache_app.command("clear")
def cache_clear(
    indexes: bool = typer.Option(False, "--indexes", help="Only the document indexes."),
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Delete what bertcli cached: document indexes and fast model copies (made again on next
    use). Downloaded models stay (they are in the Hugging Face cache)."""

    def body() -> int:
        from ..ask import index_cache
        from ..backends.onnx_backend import cache_root

        count, size = index_cache.clear()
        removed = [f"{count} document index(es)"]
        if not indexes:
            copies, copies_size = _folder_size(cache_root() / "onnx")
            for folder in (cache_root() / "onnx", cache_root() / "onnx-failed"):
                shutil.rmtree(folder, ignore_errors=True)
            removed.append(f"{copies} fast model copy(ies)")
            size += copies_size
        note(f"removed {' and '.join(removed)}, {_mb(size)}")
        return 0

    run_guarded(body, verbose)
