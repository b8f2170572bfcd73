"""`batch index`: a corpus's passages and embeddings into a new index, or added to one.

One writer at a time: the run holds an exclusive lock (flock) on the index directory while it
appends, or on INDEX.parts while it builds a new index, and a second writer gets a one-line
error instead of tearing the first one's shards.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import InputError, UsageError
from . import DEFAULT_SHARD_SIZE, _sharded  # defined before bertcli.batch imports this module
from .corpus import read_corpus
from .output import MANIFEST, ShardedOutput
from .tasks import IndexTask


@contextmanager
def writer_lock(folder: str, index: str) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (a directory) for the block, or raise InputError."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{index}: another bertcli is writing it (batch index or batch "
                             "delete); wait for it to finish") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _flags(options: dict[str, Any]) -> str:
    return ("--append --replace" if options.get("replace") else "--append"
            if options.get("append") else "no --append")


def _saved_options(parts: str) -> dict[str, Any]:
    try:
        with open(os.path.join(parts, MANIFEST), encoding="utf-8") as handle:
            return json.load(handle).get("options") or {}
    except (OSError, ValueError):
        return {}


def index_corpus(corpus: str, out: str, engine: str = "local", workers: int | None = None,
                 address: str | None = None, device: str = "cpu", id_field: str = "id",
                 text_field: str = "text", input_format: str | None = None,
                 max_bytes: int | None = None, on_notice: Callable[[str], None] | None = None,
                 shard_size: int = DEFAULT_SHARD_SIZE, append: bool = False,
                 replace: bool = False, resume: bool = False) -> Any:
    """Passages and embeddings of every document of `corpus` into the INDEX directory `out`
    (new, or with `append` added to it). Rows go into shards in `out`.parts first: after a
    kill, a rerun with `resume` embeds only the rest."""
    from .. import notices
    from . import index_store as store
    from .index import check_out

    if replace and not append:
        raise UsageError("--replace goes with --append (it replaces documents already indexed)")
    say = on_notice or notices.notice
    parts = os.path.normpath(out) + ".parts"
    if os.path.exists(parts):
        if not resume:
            raise InputError(f"{parts} holds an interrupted run; add --resume to finish it, or "
                             "remove it to start over")
        saved = _saved_options(parts)
        now = {"append": append, "replace": replace}
        if saved and (bool(saved.get("append")), bool(saved.get("replace"))) != (append, replace):
            raise UsageError(f"{parts} holds an interrupted run with {_flags(saved)}, this one "
                             f"has {_flags(now)}: rerun it as it was, with --resume, or remove "
                             f"{parts} to start over")
        if not append and os.path.exists(out) and saved:
            # A build is refused where an index exists, so this one is the interrupted run's
            # own, renamed into place just before the kill: only its shards are left to remove.
            with writer_lock(parts, out):
                meta = store.read_meta(out)
                shutil.rmtree(parts, ignore_errors=True)
            return store.IndexStats(meta["documents"], meta["passages"], store.read_errors(out))
    check_out(out, append)
    if append:
        with writer_lock(out, out):
            return _index(corpus, out, engine, workers, address, device, id_field, text_field,
                          input_format, max_bytes, say, shard_size, append, replace)
    os.makedirs(parts, exist_ok=True)
    try:
        with writer_lock(parts, out):
            return _index(corpus, out, engine, workers, address, device, id_field, text_field,
                          input_format, max_bytes, say, shard_size, append, replace)
    except BaseException:
        if not os.path.exists(os.path.join(parts, MANIFEST)):  # nothing recorded: no run to resume
            shutil.rmtree(parts, ignore_errors=True)
        raise


def _index(corpus: str, out: str, engine: str, workers: int | None, address: str | None,
           device: str, id_field: str, text_field: str, input_format: str | None,
           max_bytes: int | None, say: Callable[[str], None], shard_size: int, append: bool,
           replace: bool) -> Any:
    from .. import faults
    from ..ask.retrieve import Retriever
    from ..backends.load import resolve_device
    from . import engines
    from . import index_store as store
    from .index import append_index, shard_schema, write_index

    present: set[str] = set()
    if append:
        meta = store.read_meta(out)
        retriever = Retriever(device=resolve_device(device), notice=say,
                              precision=meta["encoder"]["precision"])
        store.check_encoder(out, meta["encoder"], retriever)
        encoder = meta["encoder"]
        present = store.present_ids(store.open_table(out), out)  # read once, for both stages
    else:
        retriever = Retriever(device=resolve_device(device), notice=say)
        encoder = store.encoder_record(retriever)
    del retriever  # the workers load their own
    options: dict[str, Any] = {"corpus": corpus, "id_field": id_field, "text_field": text_field,
                               "encoder": encoder["name"], "precision": encoder["precision"],
                               "append": append, "replace": replace}
    output = ShardedOutput(out, options, shard_size, fmt="parquet", schema=shard_schema())
    done = output.done_ids()  # embedded before an interruption
    seen: set[str] = set()
    repeated: list[str] = []
    already: list[str] = []

    def records():
        for record in read_corpus(corpus, id_field, text_field, input_format, max_bytes):
            if record.id in seen:
                repeated.append(record.id)
                continue
            seen.add(record.id)
            if record.id in present and not replace:
                already.append(record.id)
            elif record.id not in done:
                yield record

    task = IndexTask(device=device, precision=encoder["precision"])
    for _ in _sharded(output, engines.run(engine, task, records(), workers, say, address)):
        pass
    if repeated:
        say(f"{len(repeated)} rows skipped: their id came earlier in the corpus (first kept), "
            f"e.g. {repeated[0]!r}")
    if already:
        # a folder's ids are paths relative to it: another folder's a.txt is the same id
        where = (f"; ids are paths relative to {corpus}, so a file of another folder at the same "
                 "path has the same id") if os.path.isdir(corpus) else ""
        say(f"{len(already)} document(s) skipped: already in {out} (--replace replaces them), "
            f"e.g. {already[0]!r}{where}")
    if not seen:
        say(f"{corpus}: no documents in it")
    os.makedirs(output.parts, exist_ok=True)  # a new index's temporary folder goes in there
    if append:
        stats = append_index(out, output.shard_rows(), replace=replace, present=present)
    else:
        stats = write_index(out, output.shard_rows(), encoder, work=output.parts)
    faults.point("batch-finish")
    output.remove()
    return stats
