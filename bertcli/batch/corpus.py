"""Corpus readers: JSONL, CSV, Parquet, or a directory/glob of documents -> `Record`s.

A record that cannot be used (missing field, empty or binary text, a file that does not read)
still comes out, with `error` set: the engines turn it into an output row that says so, and
the run goes on.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import BertcliError, InputError, UsageError

TABLE_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class Record:
    """One document of a corpus: `text` is None when `error` says why it cannot be used."""

    id: str
    text: str | None
    error: str | None = None
    format: str = "text"


def corpus_kind(corpus: str) -> str:
    """jsonl, csv, parquet (a table of rows) or files (a directory or glob of documents)."""
    suffix = os.path.splitext(corpus)[1].lower()
    if os.path.isdir(corpus) or glob.has_magic(corpus):
        return "files"
    if suffix in TABLE_SUFFIXES:
        if not os.path.isfile(corpus):
            raise InputError(f"{corpus}: no such file")
        return TABLE_SUFFIXES[suffix]
    if not os.path.exists(corpus):
        raise InputError(f"{corpus}: no such file or directory")
    raise UsageError(f"{corpus}: a corpus is a .jsonl, .csv or .parquet file, a directory or a glob")


def record_from(row_id: object, text: object, where: str, id_field: str, text_field: str,
                present: tuple[bool, bool] = (True, True)) -> Record:
    """One table row as a Record, with the checks every document gets (bertcli.inputs)."""
    from ..read.document import decode

    has_id, has_text = present
    if not has_id or row_id is None or (isinstance(row_id, str) and not row_id.strip()):
        # Rows without an id are named by their position, which a rerun finds again.
        return Record(where, None, f"{where}: missing field {id_field!r}")
    doc_id = str(row_id)
    if not has_text or text is None:
        return Record(doc_id, None, f"{doc_id}: missing field {text_field!r}")
    try:
        if isinstance(text, (bytes, bytearray)):
            return Record(doc_id, decode(bytes(text), doc_id).text)
        if not isinstance(text, str):
            return Record(doc_id, None, f"{doc_id}: field {text_field!r} is not text")
        if "\x00" in text:
            raise InputError(f"{doc_id}: looks like binary data, not text")
        return Record(doc_id, decode(text.encode("utf-8", "surrogatepass"), doc_id).text)
    except UnicodeEncodeError:
        return Record(doc_id, None, f"{doc_id}: not valid text (lone surrogates)")
    except InputError as err:
        return Record(doc_id, None, err.message)


def read_corpus(corpus: str, id_field: str = "id", text_field: str = "text",
                input_format: str | None = None, max_bytes: int | None = None) -> Iterator[Record]:
    """Every record of `corpus`, in order (see `corpus_kind`)."""
    kind = corpus_kind(corpus)
    if kind == "jsonl":
        yield from _jsonl(corpus, id_field, text_field)
    elif kind == "csv":
        yield from _csv(corpus, id_field, text_field)
    elif kind == "parquet":
        yield from _parquet(corpus, id_field, text_field)
    else:
        yield from _files(corpus, input_format, max_bytes)


def _jsonl(path: str, id_field: str, text_field: str) -> Iterator[Record]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            where = f"line {number}"
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as err:
                yield Record(where, None, f"{where}: not JSON ({str(err).split(':')[0]})")
                continue
            if not isinstance(row, dict):
                yield Record(where, None, f"{where}: not a JSON object")
                continue
            yield record_from(row.get(id_field), row.get(text_field), where, id_field, text_field,
                              (id_field in row, text_field in row))


def _csv(path: str, id_field: str, text_field: str) -> Iterator[Record]:
    csv.field_size_limit(sys.maxsize if sys.maxsize < 2**63 else 2**31 - 1)
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for field in (id_field, text_field):
            if field not in header:
                raise UsageError(f"{path}: no column {field!r} (columns: {', '.join(header) or 'none'}); "
                                 "see --id-field and --text-field")
        try:
            for row in reader:
                where = f"row {reader.line_num}"
                text = row.get(text_field)
                if isinstance(text, str) and any("\udc80" <= c <= "\udcff" for c in text):
                    text = text.encode("utf-8", "surrogateescape")  # not UTF-8: decode() says so
                yield record_from(row.get(id_field), text, where, id_field, text_field)
        except csv.Error as err:
            raise InputError(f"{path}, line {reader.line_num}: not CSV ({err})") from None


def _parquet(path: str, id_field: str, text_field: str) -> Iterator[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise UsageError("reading Parquet needs pyarrow: pip install pyarrow") from None
    try:
        table_file = pq.ParquetFile(path)
    except Exception as err:
        raise InputError(f"{path}: not a Parquet file ({type(err).__name__})") from None
    names = table_file.schema_arrow.names
    for field in (id_field, text_field):
        if field not in names:
            raise UsageError(f"{path}: no column {field!r} (columns: {', '.join(names)}); "
                             "see --id-field and --text-field")
    number = 0
    for batch in table_file.iter_batches(batch_size=1024, columns=[id_field, text_field]):
        ids = batch.column(0).to_pylist()
        texts = batch.column(1).to_pylist()
        for row_id, text in zip(ids, texts):
            number += 1
            yield record_from(row_id, text, f"row {number}", id_field, text_field)


def _files(corpus: str, input_format: str | None, max_bytes: int | None) -> Iterator[Record]:
    """Each file of a directory (recursively, hidden files left out) or glob, sorted; the id is
    the path relative to the directory, or as the glob matched it."""
    from ..read.document import read_document

    if os.path.isdir(corpus):
        paths: list[str] = []
        for folder, dirs, files in os.walk(corpus):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            paths.extend(os.path.join(folder, f) for f in files if not f.startswith("."))
        named = sorted((os.path.relpath(p, corpus), p) for p in paths)
    else:
        named = sorted((p, p) for p in glob.glob(corpus, recursive=True) if os.path.isfile(p))
        if not named:
            raise InputError(f"{corpus}: matches no files")
    for doc_id, path in named:
        try:
            doc = read_document(path, max_bytes=max_bytes, input_format=input_format)
        except BertcliError as err:
            yield Record(doc_id, None, err.message.replace(path, doc_id, 1))
            continue
        yield Record(doc_id, doc.text, format=doc.format)
