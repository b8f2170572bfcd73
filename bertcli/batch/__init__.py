"""Corpus scale: summarize or index a whole corpus on one machine (process pool) or on Ray.

corpus: readers (JSONL, CSV, Parquet, a directory or glob of files) -> Records;
tasks: what a worker does (one model per worker); engines: local process pool, Ray Data;
output: sharded, resumable JSONL/Parquet; index: a corpus index and questions asked of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

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


from .index_build import index_corpus  # noqa: E402  (it uses _sharded above)
