"""Corpus scale: summarize or index a whole corpus on one machine (process pool) or on Ray.

corpus: readers (JSONL, CSV, Parquet, a directory or glob of files) -> Records;
tasks: what a worker does (one model per worker); engines: local process pool, Ray Data;
output: sharded, resumable JSONL/Parquet; index: a corpus index and questions asked of it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, UsageError
from .corpus import Record, read_corpus
from .engines import ENGINES, default_workers
from .output import ShardedOutput
from .tasks import IndexTask, SummarizeTask

__all__ = ["ENGINES", "IndexTask", "Record", "SummarizeTask", "BatchStats", "default_workers",
           "index_corpus", "read_corpus", "summarize_corpus"]

DEFAULT_SHARD_SIZE = 1000


@dataclass
class BatchStats:
    skipped: int  # already in OUT or its shards
    processed: int  # summarized (or failed) in this run
    errors: int  # rows of this run with an error
    rows: int  # rows in OUT at the end


def summarize_corpus(corpus: str, out: str, task: SummarizeTask, engine: str = "local",
                     workers: int | None = None, address: str | None = None,
                     shard_size: int = DEFAULT_SHARD_SIZE, id_field: str = "id",
                     text_field: str = "text", input_format: str | None = None,
                     max_bytes: int | None = None,
                     on_notice: Callable[[str], None] | None = None) -> BatchStats:
    """Summarize every document of `corpus` not already in `out`; see bertcli.batch.output."""
    from .. import notices
    from . import engines

    say = on_notice or notices.notice
    options: dict[str, Any] = {"corpus": corpus, "id_field": id_field, "text_field": text_field,
                               "model": task.model, "strategy": task.strategy,
                               "precision": task.precision, "num_sentences": task.num_sentences,
                               "ratio": task.ratio}
    output = ShardedOutput(out, options, shard_size)
    done = output.done_ids()
    stats = BatchStats(skipped=0, processed=0, errors=0, rows=0)

    def pending():
        for record in read_corpus(corpus, id_field, text_field, input_format, max_bytes):
            if record.id in done:  # done before, or a second row with the same id
                stats.skipped += 1
                continue
            done.add(record.id)
            yield record

    for row in _sharded(output, engines.run(engine, task, pending(), workers, say, address)):
        stats.processed += 1
        stats.errors += row.get("error") is not None
    stats.rows = output.finish()
    return stats


def _sharded(output: ShardedOutput, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """`rows`, each also written into `output`'s shards (every shard_size, and the rest)."""
    from .. import faults

    buffer: list[dict[str, Any]] = []
    for row in rows:
        buffer.append(row)
        faults.point("batch-row")
        yield row
        if len(buffer) >= output.shard_size:
            output.write_shard(buffer)
            buffer = []
    if buffer:
        output.write_shard(buffer)


def index_corpus(corpus: str, out: str, engine: str = "local", workers: int | None = None,
                 address: str | None = None, device: str = "cpu", id_field: str = "id",
                 text_field: str = "text", input_format: str | None = None,
                 max_bytes: int | None = None, on_notice: Callable[[str], None] | None = None,
                 shard_size: int = DEFAULT_SHARD_SIZE, append: bool = False,
                 replace: bool = False, resume: bool = False) -> Any:
    """Passages and embeddings of every document of `corpus` into the INDEX directory `out`
    (new, or with `append` added to it). Rows go into shards in `out`.parts first: after a
    kill, a rerun with `resume` embeds only the rest."""
    from .. import faults, notices
    from ..ask.retrieve import Retriever
    from ..backends.load import resolve_device
    from . import engines
    from . import index_store as store
    from .index import append_index, check_out, shard_schema, write_index

    if replace and not append:
        raise UsageError("--replace goes with --append (it replaces documents already indexed)")
    say = on_notice or notices.notice
    parts = os.path.normpath(out) + ".parts"
    if resume and not append and os.path.exists(parts) and os.path.exists(out):
        # A build is refused where an index exists, so this one is the interrupted run's own,
        # renamed into place just before the kill: only its shards are left to remove.
        meta = store.read_meta(out)
        shutil.rmtree(parts, ignore_errors=True)
        return store.IndexStats(meta["documents"], meta["passages"], store.read_errors(out))
    check_out(out, append)
    if os.path.exists(parts) and not resume:
        raise InputError(f"{parts} holds an interrupted run; add --resume to finish it, or "
                         "remove it to start over")
    present: set[str] = set()
    if append:
        meta = store.read_meta(out)
        retriever = Retriever(device=resolve_device(device), notice=say,
                              precision=meta["encoder"].get("precision", "auto"))
        store.check_encoder(out, meta["encoder"], retriever)
        encoder = meta["encoder"]
        if not replace:
            present = store.present_ids(store.open_table(out))
    else:
        retriever = Retriever(device=resolve_device(device), notice=say)
        encoder = store.encoder_record(retriever)
    del retriever  # the workers load their own
    options: dict[str, Any] = {"corpus": corpus, "id_field": id_field, "text_field": text_field,
                               "encoder": encoder["name"], "precision": encoder["precision"],
                               "append": append, "replace": replace}
    output = ShardedOutput(out, options, shard_size, fmt="parquet", schema=shard_schema())
    seen = output.done_ids()
    repeated: list[str] = []
    already: list[str] = []

    def records():
        for record in read_corpus(corpus, id_field, text_field, input_format, max_bytes):
            if record.id in present:
                already.append(record.id)
            elif record.id in seen:
                repeated.append(record.id)
            else:
                seen.add(record.id)
                yield record

    task = IndexTask(device=device, precision=encoder["precision"])
    for _ in _sharded(output, engines.run(engine, task, records(), workers, say, address)):
        pass
    if repeated:
        say(f"{len(repeated)} rows skipped: their id came earlier in the corpus (first kept), "
            f"e.g. {repeated[0]!r}")
    if already:
        say(f"{len(already)} documents skipped: already in {out} (--replace replaces them), "
            f"e.g. {already[0]!r}")
    os.makedirs(output.parts, exist_ok=True)  # a new index's temporary folder goes in there
    if append:
        stats = append_index(out, output.shard_rows(), replace=replace)
    else:
        stats = write_index(out, output.shard_rows(), encoder, work=output.parts)
    faults.point("batch-finish")
    output.remove()
    return stats
