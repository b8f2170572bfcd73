"""The corpus index on disk: a LanceDB table of passages with their vectors and a full-text index.

Layout of INDEX (a directory):
  index.json        format version, encoder (name, precision, the embedding of a probe text),
                    counts; written last, replaced atomically
  passages.lance/   id (the document), passage (its number in the document), start, end
                    (offsets into the document's text), text, vector (float32, L2-normalized);
                    a full-text (BM25) index on text, and an IVF-PQ vector index once the table
                    holds ANN_MIN_ROWS rows (below that, search is exact and fast enough)
  errors.jsonl      documents that could not be indexed, with why

Why LanceDB: on-disk, appends and deletes are atomic commits, full-text search built in; the
side-by-side with FAISS is in benchmarks/README.md ("Corpus index: engines").
A new index is built in a temporary directory and renamed into place; `--append` and deletes
change the table in place, one Lance commit each, so a kill leaves the previous version whole.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..files import write_atomically

# Lance's Rust logger reads this when lancedb is first imported (every import of it in bertcli
# follows this module's): its warnings are not for the user's stderr.
os.environ.setdefault("LANCEDB_LOG", "error")

INDEX_VERSION = 2
TABLE = "passages"
META = "index.json"
ERRORS = "errors.jsonl"
# Below this many passages search is exact: Lance's flat scan costs ~0.7 ms per 1,000 rows here
# (35 ms at 50,000), an IVF-PQ search ~10-20 ms whatever the size (benchmarks/README.md).
ANN_MIN_ROWS = 20_000
# Searched: a fifth of the ~sqrt(rows) partitions, and the best REFINED_ROWS of them re-ranked
# with the exact vectors. On 1M real passages (benchmarks/corpus_engines.py) recall@10 against
# exact search was 0.81 at 20 probes / 100 rows, 0.94 at 100 / 300 and 0.97 at 200 (a fifth) /
# 500, in 18 ms; re-ranking is random reads, so the rows re-ranked, not k, set the cost.
PROBED_SHARE = 0.2
MIN_PROBES = 20
REFINED_ROWS = 500
PROBE_TEXT = "The quick brown fox jumps over the lazy dog near the river bank."
PROBE_MIN_COSINE = 0.98  # the same model at int8 vs float32 agrees to > 0.99
ROWS_PER_BATCH = 4096


@dataclass
class IndexStats:
    documents: int
    passages: int
    errors: list[dict[str, str]] = field(default_factory=list)
    added: int = 0  # documents added (or replaced) by this run
    replaced: int = 0


def table_schema(dimension: int) -> Any:
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("passage", pa.int32()), ("start", pa.int64()),
                      ("end", pa.int64()), ("text", pa.string()),
                      ("vector", pa.list_(pa.float32(), dimension))])


def encoder_record(retriever: Any) -> dict[str, Any]:
    """What index.json keeps of the encoder, so that questions are embedded by the same one."""
    from ..models import BUNDLED_ENCODER

    probe = retriever.encoder.embed_normalized([PROBE_TEXT])[0]
    return {"name": BUNDLED_ENCODER, "precision": getattr(retriever.encoder, "precision", "fp32"),
            "dimension": int(len(probe)), "probe": [round(float(x), 6) for x in probe]}


def check_encoder(path: str, recorded: dict[str, Any], retriever: Any) -> None:
    """InputError unless `retriever` embeds as the index's encoder did (stale vectors would
    rank the wrong passages without any sign)."""
    mine = encoder_record(retriever)  # `recorded` is read_meta's: every field is there
    if recorded["name"] != mine["name"] or recorded["dimension"] != mine["dimension"]:
        raise InputError(f"{path}: built with encoder {recorded['name']} "
                         f"({recorded['dimension']} dimensions); this bertcli embeds with "
                         f"{mine['name']} ({mine['dimension']}): rebuild it with `bertcli batch index`")
    cosine = float(np.dot(np.asarray(recorded["probe"]), np.asarray(mine["probe"])))
    if cosine < PROBE_MIN_COSINE:
        raise InputError(f"{path}: its vectors come from another version of encoder "
                         f"{mine['name']} (probe similarity {cosine:.3f}): rebuild it with "
                         "`bertcli batch index`")


@contextmanager
def guarded(path: str) -> Iterator[None]:
    """Lance's errors on a damaged table (a data file gone or cut short, an index file
    missing) as one line, instead of a Rust error with source paths."""
    try:
        yield
    except (RuntimeError, OSError, ValueError) as err:
        raise unreadable(path, err) from None


def unreadable(path: str, err: BaseException) -> InputError:
    """The one-line error for a table Lance cannot read: its first line, less Rust paths."""
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    first = re.sub(r",? */\S*\.rs:\d+(:\d+)?", "", first)[:200]
    return InputError(f"{path}: unreadable index ({first}); rebuild it with `bertcli batch index`")


def _check_encoder_record(path: str, encoder: Any) -> None:
    ok = (isinstance(encoder, dict) and isinstance(encoder.get("name"), str)
          and isinstance(encoder.get("precision"), str) and isinstance(encoder.get("dimension"), int)
          and isinstance(encoder.get("probe"), list) and len(encoder["probe"]) == encoder["dimension"]
          and all(isinstance(x, (int, float)) for x in encoder["probe"]))
    if not ok:
        raise InputError(f"{path}: unreadable index ({META} does not describe its encoder); "
                         "rebuild it with `bertcli batch index`")


def read_meta(path: str) -> dict[str, Any]:
    """index.json of INDEX `path`; InputError (one line) for anything that is not an index this
    bertcli reads."""
    meta_path = os.path.join(path, META)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such index (build one with "
                         "`bertcli batch index CORPUS --out INDEX`)")
    if not os.path.isfile(meta_path):
        raise InputError(f"{path}: not a bertcli index (no {META}; build one with "
                         "`bertcli batch index CORPUS --out INDEX`)")
    try:
        with open(meta_path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: unreadable index ({err})") from None
    version = meta.get("version") if isinstance(meta, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(f"{path}: unreadable index ({META} has no version number)")
    if version < INDEX_VERSION:
        raise InputError(f"{path}: an index in the old format (version {version}, exact search "
                         "only); rebuild it with `bertcli batch index CORPUS --out NEW_INDEX`")
    if version > INDEX_VERSION:
        raise InputError(f"{path}: written by a newer bertcli (index version {version}; this "
                         f"one reads {INDEX_VERSION}): upgrade bertcli")
    _check_encoder_record(path, meta.get("encoder"))
    return meta


def write_meta(path: str, meta: dict[str, Any]) -> None:
    write_atomically(os.path.join(path, META), json.dumps(meta, indent=1) + "\n")


def open_table(path: str) -> Any:
    import lancedb

    try:
        return lancedb.connect(path).open_table(TABLE)
    except Exception as err:  # lance raises its own kinds for a missing or torn table
        raise unreadable(path, err) from None


def record_batches(rows: Iterable[dict[str, Any]], dimension: int, errors: list[dict[str, str]],
                   skip: set[str] | None = None, counts: dict[str, int] | None = None
                   ) -> Iterator[Any]:
    """IndexTask's rows (one per document) as Arrow record batches of passages; documents with
    an error go to `errors`, those whose id is in `skip` nowhere. `counts`: documents, passages."""
    import pyarrow as pa

    schema = table_schema(dimension)
    columns: dict[str, list] = {name: [] for name in schema.names if name != "vector"}
    vectors: list[np.ndarray] = []
    counts = counts if counts is not None else {}

    def flush() -> Any:
        flat = np.concatenate(vectors) if vectors else np.zeros(0, dtype=np.float32)
        arrays = [pa.array(columns[name], schema.field(name).type) for name in columns]
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dimension))
        for values in columns.values():
            values.clear()
        vectors.clear()
        return pa.record_batch(arrays, schema=schema)

    for row in rows:
        if row.get("error"):
            errors.append({"id": row["id"], "error": row["error"]})
            continue
        if skip is not None and row["id"] in skip:
            continue
        counts["documents"] = counts.get("documents", 0) + 1
        blob = np.frombuffer(row.get("vectors") or b"", dtype=np.float32)
        for number, ((start, end), text) in enumerate(zip(row["passages"], row["texts"])):
            columns["id"].append(row["id"])
            columns["passage"].append(number)
            columns["start"].append(start)
            columns["end"].append(end)
            columns["text"].append(text)
        counts["passages"] = counts.get("passages", 0) + len(row["texts"])
        vectors.append(blob)
        if len(columns["id"]) >= ROWS_PER_BATCH:
            yield flush()
    if columns["id"]:
        yield flush()


def build_indexes(table: Any, rows: int, meta: dict[str, Any], created: bool) -> None:
    """The full-text index (always) and the vector index (from ANN_MIN_ROWS rows; its
    partitions go into `meta`). After an append (`created` False) Lance's optimize folds the
    new rows into both."""
    from lancedb.index import FTS

    names = {index.name for index in table.list_indices()}
    if created or "text_idx" not in names:
        table.create_index("text", config=FTS(), replace=True)
    if rows >= ANN_MIN_ROWS and "vector_idx" not in names:
        partitions = int(np.sqrt(rows))
        table.create_index(metric="dot", index_type="IVF_PQ", num_partitions=partitions,
                           num_sub_vectors=table.schema.field("vector").type.list_size // 8,
                           vector_column_name="vector")
        meta["vector_index"] = {"type": "IVF_PQ", "partitions": partitions}
    if not created:  # appended rows into the full-text index (and an older vector index)
        table.optimize()


def refine_factor(k: int) -> int:
    return max(1, -(-REFINED_ROWS // k))


def probes(meta: dict[str, Any]) -> int:
    partitions = (meta.get("vector_index") or {}).get("partitions", 0)
    return max(MIN_PROBES, int(partitions * PROBED_SHARE))


def present_ids(table: Any, path: str) -> set[str]:
    """Ids of the documents in the table (each has a passage 0)."""
    with guarded(path):
        found = table.search().where("passage = 0").select(["id"]).limit(None).to_arrow()
    return set(found.column("id").to_pylist())


def sql_list(ids: Iterable[str]) -> str:
    return ", ".join("'" + i.replace("'", "''") + "'" for i in ids)


def read_errors(path: str) -> list[dict[str, str]]:
    errors_path = os.path.join(path, ERRORS)
    if not os.path.exists(errors_path):
        return []
    with open(errors_path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_errors(path: str, errors: list[dict[str, str]]) -> None:
    by_id = {e["id"]: e for e in errors}  # a document retried after a kill: once
    lines = [json.dumps(by_id[i], ensure_ascii=False) + "\n" for i in sorted(by_id)]
    write_atomically(os.path.join(path, ERRORS), "".join(lines))
