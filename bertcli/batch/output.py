"""Batch output: JSON Lines or Parquet rows, written in shards that a rerun resumes from.

Layout. While a run goes on, every `shard_size` finished documents are written as one shard,
`OUT.parts/part-NNNNN.<jsonl|parquet>` (through a temporary file and a rename, so a shard is
whole or absent), and then recorded in `OUT.parts/manifest.json` (also replaced atomically).
A shard that is not in the manifest does not count. At the end the rows of OUT (if it exists
from an earlier run), then of every shard in the manifest, are written into OUT (temporary
file + rename, no id twice) and OUT.parts is removed. A rerun after a kill reads the ids of OUT
and of the manifest's shards and skips them.

Crash safety (tests/batch/test_crash_resume.py kills it with SIGKILL at every step): every file
is fsynced before its rename, so a shard or manifest is whole or absent; a shard becomes done
only once the manifest lists it; at the end the manifest goes before the shards, so a kill
while they are removed never leaves a manifest naming a missing shard; OUT's temporary file is
written inside OUT.parts, so a kill then leaves nothing beside OUT. The index (`batch index`)
uses the same shards, with its own row schema, and builds its directory from them at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .. import faults
from ..errors import InputError, UsageError
from ..files import fsync_directory, write_atomically

OUTPUT_SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet"}
MANIFEST = "manifest.json"


def output_format(out: str) -> str:
    suffix = os.path.splitext(out)[1].lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise UsageError(f"--out {out}: name a .jsonl or .parquet file")
    return OUTPUT_SUFFIXES[suffix]


def _arrow_schema() -> Any:
    """The schema of `batch summarize`'s rows."""
    import pyarrow as pa

    sentence = pa.struct([("index", pa.int64()), ("start", pa.int64()), ("end", pa.int64()),
                          ("text", pa.string())])
    return pa.schema([("id", pa.string()), ("sentences", pa.list_(sentence)),
                      ("model", pa.string()), ("strategy", pa.string()), ("error", pa.string()),
                      ("source", pa.string()), ("format", pa.string()), ("language", pa.string())])


def read_rows(path: str) -> Iterator[dict[str, Any]]:
    """The rows of a JSONL or Parquet output file."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_ids(path: str) -> Iterator[str]:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=65536, columns=["id"]):
            yield from batch.column(0).to_pylist()
        return
    for row in read_rows(path):
        yield row["id"]


@contextmanager
def _replacing(path: str, directory: str | None = None) -> Iterator[str]:
    """A temporary file (beside `path`, or in `directory` on the same disk) to write; once the
    block finishes it is fsynced and replaces `path`; otherwise it is removed (so a failed or
    killed write never leaves half a file under `path`)."""
    folder = directory or os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bertcli-", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:  # on disk before the rename makes it count: a power cut leaves old or new
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_directory(os.path.dirname(os.path.abspath(path)))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_parquet(path: str, batches: Iterable[Sequence[dict[str, Any]]], schema: Any,
                   directory: str | None) -> int:
    """Rows into a Parquet file through a temporary file and a rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 0
    with _replacing(path, directory) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for rows in batches:
            if rows:
                writer.write_table(pa.Table.from_pylist(list(rows), schema=schema))
                count += len(rows)
                faults.point("batch-write")
    return count


def _write_jsonl(path: str, batches: Iterable[Sequence[dict[str, Any]]],
                 directory: str | None) -> int:
    count = 0
    with _replacing(path, directory) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for rows in batches:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
                handle.flush()  # so that a kill here leaves a torn temporary file, as for real
                faults.point("batch-write")
    return count


def write_rows(path: str, batches: Iterable[Sequence[dict[str, Any]]], schema: Any = None,
               directory: str | None = None) -> int:
    """Write rows (in batches) to a .jsonl or .parquet file atomically; returns the count.
    `schema`: Parquet's (default: summaries); `directory`: where the temporary file goes."""
    try:
        if path.endswith(".parquet"):
            return _write_parquet(path, batches, schema or _arrow_schema(), directory)
        return _write_jsonl(path, batches, directory)
    except OSError as err:
        raise InputError(f"{path}: cannot write ({err.strerror or err})") from None


class ShardedOutput:
    """OUT and its shard directory (see the module's docstring). `fmt` given (the corpus
    index): the shards are in that format with `schema`, and OUT is the caller's to write."""

    def __init__(self, out: str, options: dict[str, Any], shard_size: int,
                 fmt: str | None = None, schema: Any = None):
        if shard_size < 1:
            raise UsageError(f"--shard-size must be at least 1, got {shard_size}")
        self.out = out
        self.keeps_out = fmt is None  # OUT holds rows that count as done
        self.format = fmt or output_format(out)
        self.schema = schema
        self.parts = os.path.normpath(out) + ".parts"  # beside OUT, even as "INDEX/"
        self.options = options
        self.shard_size = shard_size
        self.shards: list[dict[str, Any]] = []
        directory = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(directory):
            raise InputError(f"{out}: cannot write (no such directory)")
        if self.keeps_out and os.path.isdir(out):
            raise InputError(f"{out}: cannot write (is a directory)")
        manifest = os.path.join(self.parts, MANIFEST)
        if os.path.exists(manifest):
            with open(manifest, encoding="utf-8") as handle:
                saved = json.load(handle)
            if saved.get("options") != options or saved.get("format") != self.format:
                raise UsageError(
                    f"{self.parts} holds an unfinished run with other options "
                    f"({_differences(saved.get('options') or {}, options)}); rerun with those, "
                    "or remove it to start over")
            self.shards = list(saved.get("shards", []))

    def _shard_paths(self) -> list[str]:
        return [os.path.join(self.parts, s["file"]) for s in self.shards]

    def done_ids(self) -> set[str]:
        """Ids already in OUT or in a finished shard: a rerun skips them."""
        done: set[str] = set()
        if self.keeps_out and os.path.exists(self.out):
            done.update(read_ids(self.out))
        for path in self._shard_paths():
            done.update(read_ids(path))
        return done

    def shard_rows(self) -> Iterator[dict[str, Any]]:
        """Every row of the finished shards, in order."""
        for path in self._shard_paths():
            yield from read_rows(path)

    def write_shard(self, rows: Sequence[dict[str, Any]]) -> None:
        """One shard, whole, then its line in the manifest."""
        os.makedirs(self.parts, exist_ok=True)
        number = max((s["number"] for s in self.shards), default=-1) + 1
        name = f"part-{number:05d}.{self.format}"
        write_rows(os.path.join(self.parts, name), [rows], self.schema)
        faults.point("batch-shard")
        self.shards.append({"number": number, "file": name, "rows": len(rows)})
        write_atomically(os.path.join(self.parts, MANIFEST), json.dumps(
            {"format": self.format, "options": self.options, "shards": self.shards}, indent=1) + "\n")
        faults.point("batch-manifest")

    def remove(self) -> None:
        """The shards, once OUT holds their rows: the manifest first (a kill midway must not
        leave a manifest that names a shard already gone), then the rest."""
        try:
            os.unlink(os.path.join(self.parts, MANIFEST))
        except FileNotFoundError:
            pass
        shutil.rmtree(self.parts, ignore_errors=True)

    def finish(self) -> int:
        """OUT's earlier rows and every shard's, into OUT (no id twice); the shards removed.
        Returns the number of rows in OUT."""
        if not self.shards and os.path.exists(self.out):
            self.remove()
            return sum(1 for _ in read_ids(self.out))
        sources = ([self.out] if os.path.exists(self.out) else []) + self._shard_paths()
        seen: set[str] = set()

        def batches() -> Iterator[list[dict[str, Any]]]:
            for path in sources:
                rows = []
                for row in read_rows(path):
                    if row["id"] not in seen:  # a kill between the rename and the clean-up
                        seen.add(row["id"])
                        rows.append(row)
                    if len(rows) >= 4096:
                        yield rows
                        rows = []
                yield rows

        os.makedirs(self.parts, exist_ok=True)  # OUT's temporary file: removed with the shards
        count = write_rows(self.out, batches(), directory=self.parts)
        faults.point("batch-finish")
        self.remove()
        return count


def _differences(saved: dict[str, Any], now: dict[str, Any]) -> str:
    keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    return ", ".join(f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in keys) or "format"
