"""A corpus index: every document's passages and their embeddings, and questions asked of it.

The documents' rows go first into resumable shards, INDEX.parts (as `batch summarize`'s do);
then into the LanceDB table described in bertcli.batch.index_store: a new index is built in a
temporary directory inside INDEX.parts and renamed into place, `--append` adds to the table in
place. Search is hybrid: the question's nearest passages (IVF-PQ with exact re-ranking, or
exact below index_store.ANN_MIN_ROWS rows) and the full-text index's best, fused by rank.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import faults
from ..checksums import fsync_tree
from ..errors import InputError, UsageError
from ..files import fsync_directory, umask
from . import index_store as store
from .index_store import IndexStats

CANDIDATES = 100  # passages each of the two searches brings to the fusion


def shard_schema() -> Any:
    """The schema of IndexTask's rows in INDEX.parts (the embeddings as raw float32 bytes)."""
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("passages", pa.list_(pa.list_(pa.int64()))),
                      ("texts", pa.list_(pa.string())), ("vectors", pa.binary()),
                      ("error", pa.string())])


def check_out(out: str, append: bool = False) -> str:
    """Raise InputError unless `out` can become (or, with `append`, grow as) an index, before
    any work; returns its parent directory."""
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise InputError(f"{out}: cannot write (no such directory)")
    exists = os.path.exists(out)
    if append:
        if not exists:
            raise InputError(f"{out}: no index to append to; build it first (without --append)")
        store.read_meta(out)
    elif exists:
        if os.path.isfile(os.path.join(out, store.META)):
            raise InputError(f"{out}: an index already; --append adds documents to it, or "
                             "remove it to build it again")
        raise InputError(f"{out}: exists and is not a bertcli index; name a new directory")
    return parent


def write_index(out: str, rows: Iterable[dict[str, Any]], encoder: dict[str, Any],
                work: str | None = None) -> IndexStats:
    """Rows of IndexTask into the new INDEX directory `out` (complete, or not there at all).
    `work`: where its temporary directory goes (same disk; default beside `out`)."""
    import lancedb

    parent = check_out(out)
    errors: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    tmp = tempfile.mkdtemp(dir=work or parent, prefix=".bertcli-index-")
    try:
        dimension = encoder["dimension"]
        batches = store.record_batches(rows, dimension, errors, counts=counts)
        import pyarrow as pa

        reader = pa.RecordBatchReader.from_batches(store.table_schema(dimension), batches)
        table = lancedb.connect(tmp).create_table(store.TABLE, data=reader,
                                                  schema=store.table_schema(dimension))
        meta = {"version": store.INDEX_VERSION, "encoder": encoder,
                "documents": counts.get("documents", 0), "passages": counts.get("passages", 0),
                "errors": len(errors)}
        store.build_indexes(table, counts.get("passages", 0), meta, created=True)
        store.write_errors(tmp, errors)
        store.write_meta(tmp, meta)
        os.chmod(tmp, 0o777 & ~umask())
        fsync_tree(Path(tmp))  # on disk before the rename makes the index count
        faults.point("index-write")
        os.replace(tmp, out)
        fsync_directory(parent)
    except OSError as err:
        raise InputError(f"{out}: cannot write ({err.strerror or err})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return IndexStats(counts.get("documents", 0), counts.get("passages", 0), errors,
                      added=counts.get("documents", 0))


def append_index(out: str, rows: Iterable[dict[str, Any]], replace: bool = False,
                 present: set[str] | None = None) -> IndexStats:
    """Rows of IndexTask added to the index `out` in place: documents already there are left
    as they are, or with `replace` replaced (their old passages deleted in the same commit).
    Run again after a kill, it adds nothing twice. `present`: the ids in the index, when the
    caller has read them already."""
    meta = store.read_meta(out)
    table = store.open_table(out)
    present = store.present_ids(table, out) if present is None else present
    errors = store.read_errors(out)
    new_errors: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    batches = store.record_batches(rows, meta["encoder"]["dimension"], new_errors,
                                   skip=None if replace else present, counts=counts)
    with store.guarded(out):
        replaced = _add(table, batches, present)
    with store.guarded(out):
        store.build_indexes(table, table.count_rows(), meta, created=False)
        now = store.present_ids(table, out)
        meta.update(documents=len(now), passages=table.count_rows())
    kept = [e for e in errors + new_errors if e["id"] not in now]  # indexed since: no error
    store.write_errors(out, kept)
    meta["errors"] = len({e["id"] for e in kept})
    store.write_meta(out, meta)
    return IndexStats(len(now), meta["passages"], new_errors, added=counts.get("documents", 0),
                      replaced=replaced)


def _add(table: Any, batches: Iterable[Any], present: set[str]) -> int:
    """The batches into the table, one commit each; how many documents replaced others."""
    replaced = 0
    for batch in batches:
        ids = set(batch.column("id").to_pylist())
        again = ids & present
        if again:  # one commit: the new passages in, the document's other old ones out
            (table.merge_insert(["id", "passage"]).when_matched_update_all()
             .when_not_matched_insert_all()
             .when_not_matched_by_source_delete(f"id IN ({store.sql_list(sorted(again))})")
             .execute(batch))
            replaced += len(again)
        else:
            table.add(batch)
        faults.point("index-append")
    return replaced


def delete_documents(path: str, ids: list[str]) -> tuple[list[str], list[str]]:
    """Delete the documents `ids` from the index at `path` (one commit); (deleted, unknown)."""
    from .index_build import writer_lock

    meta = store.read_meta(path)
    table = store.open_table(path)
    with writer_lock(path, path):
        present = store.present_ids(table, path)
        deleted = [i for i in dict.fromkeys(ids) if i in present]
        unknown = [i for i in dict.fromkeys(ids) if i not in present]
        if deleted:
            with store.guarded(path):
                table.delete(f"id IN ({store.sql_list(deleted)})")
                meta.update(documents=len(present) - len(deleted), passages=table.count_rows())
            store.write_meta(path, meta)
    return deleted, unknown


@dataclass(frozen=True)
class Hit:
    id: str
    start: int
    end: int
    text: str
    score: float


class CorpusIndex:
    """An INDEX directory opened for search."""

    def __init__(self, path: str, device: str = "cpu"):
        self.meta = store.read_meta(path)
        self.table = store.open_table(path)
        self.path = path
        self.device = device
        self._retriever: Any = None

    def __len__(self) -> int:
        return int(self.meta.get("passages", 0))

    @property
    def encoder(self) -> Any:
        """The encoder that built the index (its precision), checked against its probe."""
        if self._retriever is None:
            from ..ask.retrieve import Retriever

            recorded = self.meta["encoder"]  # checked by read_meta: precision is there
            retriever = Retriever(device=self.device, precision=recorded["precision"])
            store.check_encoder(self.path, recorded, retriever)
            self._retriever = retriever
        return self._retriever.encoder

    def dense(self, question: str, k: int) -> list[dict[str, Any]]:
        """The `k` passages nearest to `question`'s embedding, best first: their `_rowid`s."""
        return self.nearest(np.asarray(self.encoder.embed_normalized([question])[0]), k)

    def nearest(self, vector: np.ndarray, k: int) -> list[dict[str, Any]]:
        """The `k` passages whose vectors have the largest dot product with `vector`."""
        vector = np.asarray(vector, dtype=np.float32)
        query = (self.table.search(vector, vector_column_name="vector").distance_type("dot")
                 .nprobes(store.probes(self.meta)).refine_factor(store.refine_factor(k))
                 .limit(k).select(["id", "_distance"]).with_row_id(True))
        return query.to_arrow().to_pylist()

    def fulltext(self, question: str, k: int) -> list[dict[str, Any]]:
        """The `k` passages the full-text (BM25) index ranks best for `question`."""
        query = (self.table.search(question, query_type="fts", fts_columns="text").limit(k)
                 .select(["id", "_score"]).with_row_id(True))
        return query.to_arrow().to_pylist()

    def search(self, question: str, k: int) -> list[Hit]:
        """The best `k` passages of the corpus: dense and full-text candidates fused by
        reciprocal rank (as bertcli.ask.retrieve.rank_fusion; ties: the dense order). The two
        searches run side by side (Lance leaves the GIL); only the `k` chosen rows are read."""
        if k < 1:
            raise UsageError(f"--passages must be at least 1, got {k}")
        if not len(self):
            return []
        with store.guarded(self.path):
            return self._search(question, k)

    def _search(self, question: str, k: int) -> list[Hit]:
        from concurrent.futures import ThreadPoolExecutor

        from ..ask.retrieve import RRF_K

        want = max(CANDIDATES, k)
        with ThreadPoolExecutor(1) as pool:
            lexical = pool.submit(self.fulltext, question, want)
            rankings = [self.dense(question, want), lexical.result()]
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, row in enumerate(ranking):
                fused[row["_rowid"]] = fused.get(row["_rowid"], 0.0) + 1.0 / (RRF_K + 1 + rank)
        best = sorted(fused, key=lambda row_id: -fused[row_id])[:k]  # stable: dense order on ties
        rows = (self.table.take_row_ids(best).select(["id", "start", "end", "text"])
                .with_row_id().to_arrow())  # in row order: mapped back
        by_row = {row["_rowid"]: row for row in rows.to_pylist()}
        return [Hit(by_row[r]["id"], by_row[r]["start"], by_row[r]["end"], by_row[r]["text"],
                    fused[r]) for r in best]


def ask_index(asker, index: CorpusIndex, question: str, top_k: int = 1, passages: int = 10,
              max_answer_len: int = 15, abstain: bool = True, min_score: float | None = None):
    """Answer `question` from the corpus: the best `passages` passages, then the reader on
    those only (one ranking across all of them, as `Asker.iter_ask`). Answers name their
    document (`source`) and give offsets into its text."""
    from ..ask.choose import decide, probability, sentence_around
    from ..ask.results import Answer, AskResult
    from ..ask.retrieve import Passage
    from ..ask.spans import rank_prior, read_passages
    from ..ask.verify import document_words, evidence
    from ..sentences import split_sentences

    question = asker.check_question(question)
    # without a reader the passages are the answers: -k of them, even beyond --passages
    hits = index.search(question, passages if asker.reader is not None else max(passages, top_k))
    answers = []
    if asker.reader is None:
        for hit in hits[:top_k]:
            answers.append(Answer(hit.text, hit.start, hit.end, hit.score, hit.text, hit.start, hit.id))
    elif hits:
        # Passages of many documents, read in one ranking: each gets its own stretch of one
        # offset space (a gap of 1 so none touch), mapped back to its document afterwards.
        contexts, bases, base = [], [], 0
        for hit in hits:
            contexts.append((base, hit.text))
            bases.append(base)
            base += len(hit.text) + 1
        spans = read_passages(asker.ready_reader(), question, contexts, top_k=top_k,
                              max_answer_len=max_answer_len, abstain=False,
                              priors=[rank_prior(r) for r in range(len(hits))])
        read_words = document_words("\n".join(hit.text for hit in hits))
        for span in spans:
            i = max(n for n, b in enumerate(bases) if b <= span.start)
            hit, local = hits[i], span.start - bases[i]
            local_end = span.end - bases[i]
            context, at = sentence_around(split_sentences(hit.text), local, local_end, hit.text)
            seen = evidence(question, span.text, context, hit.text, span.margin, span.score,
                            span.null, span.windows, i, read_words)
            answers.append(Answer(span.text, hit.start + local, hit.start + local_end,
                                  probability(span, seen, asker.verifier), context, hit.start + at, hit.id,
                                  evidence=seen))
        answers.sort(key=lambda a: -a.score)  # the verifier's probabilities reorder spans
        read = [Passage(hit.start, hit.end, hit.id) for hit in hits]
        result = AskResult(index.path, asker.model_name, asker.mode, question, answers, read,
                           across=True)
        return decide(result, abstain, min_score, asker.verifier)
    # retrieval mode (or nothing found): the passages shown are the answers, as `ask` gives them
    read = [Passage(hit.start, hit.end, hit.id) for hit in hits[:top_k]]
    return AskResult(index.path, asker.model_name, asker.mode, question, answers, read,
                     across=True)
