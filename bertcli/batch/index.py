"""A corpus index: every document's passages and their embeddings, and questions asked of it.

Layout of INDEX (a directory, written under a temporary name and renamed when complete; the
documents' rows go first into resumable shards, INDEX.parts, as `batch summarize`'s do):
  passages.parquet  id (the document), start, end (offsets into the document's text), text
  vectors.npy       float32, one L2-normalized row per passage (the retriever's encoder)
  errors.jsonl      documents that could not be indexed, with why
  index.json        encoder, counts, dimension

Search is exact: the question's embedding against every row (memory-mapped, in chunks), then
BM25 over the best dense candidates only, fused by rank as bertcli.retrieve does for one
document. Exact search measured here: see benchmarks/README.md ("Corpus index").
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import faults
from ..errors import InputError, UsageError
from ..files import fsync_directory, umask

INDEX_VERSION = 1
CANDIDATES = 100  # dense candidates re-ranked with BM25
CHUNK_ROWS = 262_144  # rows of vectors scored at a time (100 MB of float32 at 384 dims)


@dataclass
class IndexStats:
    documents: int
    passages: int
    errors: list[dict[str, str]]


def shard_schema() -> Any:
    """The schema of IndexTask's rows in INDEX.parts (the embeddings as raw float32 bytes)."""
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("passages", pa.list_(pa.list_(pa.int64()))),
                      ("texts", pa.list_(pa.string())), ("vectors", pa.binary()),
                      ("error", pa.string())])


def check_out(out: str) -> str:
    """Raise InputError unless `out` can become an index (before any work); its parent."""
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise InputError(f"{out}: cannot write (no such directory)")
    if os.path.exists(out) and not os.path.isfile(os.path.join(out, "index.json")):
        raise InputError(f"{out}: exists and is not a bertcli index; name a new directory")
    return parent


def write_index(out: str, rows: Iterable[dict[str, Any]], encoder: str,
                work: str | None = None) -> IndexStats:
    """Rows of IndexTask into the INDEX directory `out` (complete, or not there at all).
    `work`: where its temporary directory goes (same disk; default beside `out`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parent = check_out(out)
    documents: list[tuple[str, list, list, bytes]] = []
    errors = []
    for row in rows:
        if row.get("error"):
            errors.append({"id": row["id"], "error": row["error"]})
        else:
            documents.append((row["id"], row["passages"], row["texts"], row.get("vectors", b"")))
    # The engines finish documents in any order: sorted, the index is the same from both.
    documents.sort(key=lambda d: d[0])
    errors.sort(key=lambda e: e["id"])
    ids, starts, ends, texts, blocks = [], [], [], [], []
    for doc_id, passages, passage_texts, blob in documents:
        for (start, end), text in zip(passages, passage_texts):
            ids.append(doc_id)
            starts.append(start)
            ends.append(end)
            texts.append(text)
        blocks.append(np.frombuffer(blob, dtype=np.float32))
    flat = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    dimension = flat.size // max(len(ids), 1)
    vectors = flat.reshape(len(ids), dimension) if ids else np.zeros((0, 0), dtype=np.float32)
    tmp = tempfile.mkdtemp(dir=work or parent, prefix=".bertcli-index-")
    try:
        table = pa.table({"id": pa.array(ids, pa.string()), "start": pa.array(starts, pa.int64()),
                          "end": pa.array(ends, pa.int64()), "text": pa.array(texts, pa.string())})
        pq.write_table(table, os.path.join(tmp, "passages.parquet"))
        np.save(os.path.join(tmp, "vectors.npy"), vectors)
        with open(os.path.join(tmp, "errors.jsonl"), "w", encoding="utf-8") as handle:
            for error in errors:
                handle.write(json.dumps(error, ensure_ascii=False) + "\n")
        meta = {"version": INDEX_VERSION, "encoder": encoder, "documents": len(documents),
                "passages": len(ids), "dimension": dimension, "errors": len(errors)}
        with open(os.path.join(tmp, "index.json"), "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=1)
        os.chmod(tmp, 0o777 & ~umask())
        for name in os.listdir(tmp):  # on disk before the rename makes the index count
            fd = os.open(os.path.join(tmp, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        faults.point("index-write")
        if os.path.exists(out):  # an older index: replaced only once the new one is whole
            old = out + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
        fsync_directory(parent)
    except OSError as err:
        raise InputError(f"{out}: cannot write ({err.strerror or err})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return IndexStats(len(documents), len(ids), errors)


@dataclass(frozen=True)
class Hit:
    id: str
    start: int
    end: int
    text: str
    score: float


class CorpusIndex:
    """An INDEX directory opened for search (vectors memory-mapped)."""

    def __init__(self, path: str, device: str = "cpu"):
        meta_path = os.path.join(path, "index.json")
        if not os.path.isfile(meta_path):
            raise InputError(f"{path}: not a bertcli index (no index.json; build one with "
                             "`bertcli batch index CORPUS --out INDEX`)")
        try:
            with open(meta_path, encoding="utf-8") as handle:
                self.meta = json.load(handle)
            import pyarrow.parquet as pq

            table = pq.read_table(os.path.join(path, "passages.parquet"))
            self.vectors = np.load(os.path.join(path, "vectors.npy"), mmap_mode="r")
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: unreadable index ({err})") from None
        if self.meta.get("version") != INDEX_VERSION:
            raise InputError(f"{path}: index version {self.meta.get('version')}, "
                             f"this bertcli reads {INDEX_VERSION}; rebuild it")
        self.ids = table.column("id").to_pylist()
        self.starts = table.column("start").to_pylist()
        self.ends = table.column("end").to_pylist()
        self.texts = table.column("text").to_pylist()
        self.path = path
        self.device = device
        self._encoder: Any = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def encoder(self):
        if self._encoder is None:
            from ..ask.retrieve import Retriever

            self._encoder = Retriever(device=self.device).encoder
        return self._encoder

    def dense(self, question: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The `k` rows most like `question` (exact inner product), best first, and their scores."""
        query = np.asarray(self.encoder.embed_normalized([question])[0], dtype=np.float32)
        best_rows = np.zeros(0, dtype=np.int64)
        best_scores = np.zeros(0, dtype=np.float32)
        for begin in range(0, len(self.ids), CHUNK_ROWS):
            scores = np.asarray(self.vectors[begin:begin + CHUNK_ROWS]) @ query
            take = min(k, len(scores))
            top = np.argpartition(-scores, take - 1)[:take]
            best_rows = np.concatenate([best_rows, top + begin])
            best_scores = np.concatenate([best_scores, scores[top]])
        order = np.lexsort((best_rows, -best_scores))[:k]  # ties: lower row first
        return best_rows[order], best_scores[order]

    def search(self, question: str, k: int) -> list[Hit]:
        """The best `k` passages of the corpus: dense candidates, re-ranked by reciprocal-rank
        fusion with BM25 computed over those candidates (as bertcli.retrieve.Index.scores)."""
        from ..ask.retrieve import BM25, rank_fusion, terms

        if k < 1:
            raise UsageError(f"--passages must be at least 1, got {k}")
        if not self.ids:
            return []
        rows, dense = self.dense(question, max(CANDIDATES, k))
        lexical = BM25.build([terms(self.texts[r]) or ["_"] for r in rows]).get_scores(terms(question))
        fused = rank_fusion(lexical, dense.astype(np.float64))
        order = np.argsort(-fused, kind="stable")[:k]
        return [Hit(self.ids[rows[i]], self.starts[rows[i]], self.ends[rows[i]],
                    self.texts[rows[i]], float(fused[i])) for i in order]


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
    hits = index.search(question, passages)
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
        read = [Passage(hit.start, hit.end, hit.id) for hit in hits]
        result = AskResult(index.path, asker.model_name, asker.mode, question, answers, read,
                           across=True)
        return decide(result, abstain, min_score, asker.verifier)
    # retrieval mode (or nothing found): the passages shown are the answers, as `ask` gives them
    read = [Passage(hit.start, hit.end, hit.id) for hit in hits[:top_k]]
    return AskResult(index.path, asker.model_name, asker.mode, question, answers, read,
                     across=True)
