"""Passage ranking for long documents: BM25 and dense (bundled MiniLM) scores, fused by rank.

The reader is the expensive part of `ask`; on a long document it reads only the passages
ranked best here. Reciprocal-rank fusion needs no score calibration between the two
retrievers, which is why it is used instead of a weighted sum.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import notices
from ..backends.base import Encoder
from ..models import BUNDLED_ENCODER, bundled_encoder
from ..progress import ProgressCallback, embed_in_chunks
from ..sentences import HAN_KANA, SOUTHEAST_ASIAN, UNSPACED, UNSPACED_WORD, Sentence

RETRIEVER_NAME = f"bm25+{BUNDLED_ENCODER}"
PASSAGE_WORDS = 120  # words per passage: one reader window holds a passage and the question
# The retriever's encoder on CPU: int8 where the CPU has int8 dot products (as `summarize`'s
# auto): on 40 SQuAD training articles the gold answer was inside the 10 passages read for
# 95.5% of 8,894 questions with int8 and 95.4% with float32, at 1.6x the indexing speed.
RETRIEVER_PRECISION = "auto"
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al., 2009)
# A "word" for passage sizes: a Han or kana character; up to 4 characters of the Southeast
# Asian scripts; up to 24 characters of anything else without spaces (URLs, base64), so that
# a passage's reader tokens stay bounded whatever the script.
_PIECE = re.compile(f"{UNSPACED_WORD}|[^\\s{HAN_KANA}{SOUTHEAST_ASIAN}]{{1,24}}")
# Combining marks (accents; Arabic, Hebrew, Indic and Southeast Asian vowel signs) are not
# \w, but a word must not break at them. Indic blocks are whole except the dandas (। ॥).
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
          "\u06d6-\u06ed\u0900-\u0963\u0966-\u0dff")
_WORD = re.compile(f"(?:\\w|[{_MARKS}{SOUTHEAST_ASIAN}])+")
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have he her his how in is it its "
    "of on or she that the their them there they this to was were what when where which who "
    "whom whose why will with would".split()
)


@dataclass(frozen=True)
class Passage:
    start: int
    end: int
    source: str = ""  # its document, where passages of several are pooled (`ask --across`, `--index`)


def merge_adjacent(passages: Iterable[Passage], text: str,
                   fits: Callable[[Passage], bool] | None = None) -> list[Passage]:
    """Sort passages and join neighbours (only whitespace between), so an answer at a passage
    boundary stays whole. With `fits`, a join happens only while the result still fits one
    reader window: a context longer than a window is read in overlapping windows (stride),
    which costs more than reading the passages apart."""
    merged: list[Passage] = []
    for p in sorted(passages, key=lambda p: p.start):
        if merged and not text[merged[-1].end:p.start].strip():
            joined = Passage(merged[-1].start, max(merged[-1].end, p.end))
            if fits is None or fits(joined):
                merged[-1] = joined
                continue
        merged.append(p)
    return merged


def terms(text: str) -> list[str]:
    """BM25's terms: words, less English stopwords; text in scripts without spaces becomes
    overlapping character pairs (the usual CJK indexing unit), else a whole clause would be
    one term that no question matches."""
    found: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        if not UNSPACED.search(word):
            found.append(word)
            continue
        at = 0
        for run in UNSPACED.finditer(word):
            if run.start() > at:
                found.append(word[at:run.start()])
            chars = run.group()
            found.extend([chars] if len(chars) == 1 else
                         [chars[i:i + 2] for i in range(len(chars) - 1)])
            at = run.end()
        if at < len(word):
            found.append(word[at:])
    return found


def _word_pieces(sentence: Sentence, max_words: int) -> list[tuple[int, int, int]]:
    """(start, end, words) pieces of a sentence, each at most `max_words` words: a "sentence"
    without punctuation (a table, a log, a transcript) must not become one huge passage."""
    bounds = [m.span() for m in _PIECE.finditer(sentence.text)]
    pieces = []
    for i in range(0, len(bounds), max_words):
        chunk = bounds[i:i + max_words]
        pieces.append((sentence.start + chunk[0][0], sentence.start + chunk[-1][1], len(chunk)))
    return pieces


def make_passages(sentences: Sequence[Sentence], max_words: int = PASSAGE_WORDS) -> list[Passage]:
    """Consecutive sentences grouped into passages of at most `max_words` words (a longer
    sentence is cut into pieces of `max_words` words)."""
    passages: list[Passage] = []
    start: int | None = None
    end = 0
    words = 0
    for s in sentences:
        for piece_start, piece_end, n in _word_pieces(s, max_words):
            if start is not None and words + n > max_words:
                passages.append(Passage(start, end))
                start, words = None, 0
            if start is None:
                start = piece_start
            end, words = piece_end, words + n
    if start is not None:
        passages.append(Passage(start, end))
    return passages


class BM25:
    """Okapi BM25 with rank_bm25's constants and idf floor (its BM25Okapi gives the same
    scores: tests/test_index_cache.py), stored as arrays so an index can be cached on disk:
    for each term, the units it occurs in and how often (term-major, like a CSC matrix)."""

    K1, B, EPSILON = 1.5, 0.75, 0.25

    def __init__(self, vocab: Sequence[str], term_ptr: np.ndarray, term_units: np.ndarray,
                 term_tf: np.ndarray, unit_len: np.ndarray):
        self.vocab = list(vocab)
        self.column = {term: j for j, term in enumerate(self.vocab)}
        self.term_ptr, self.term_units, self.term_tf = term_ptr, term_units, term_tf
        self.unit_len = unit_len.astype(np.float64)
        n = len(self.unit_len)
        self.avgdl = float(self.unit_len.sum()) / n if n else 1.0
        units_with = np.diff(term_ptr).astype(np.float64)
        idf = np.log(n - units_with + 0.5) - np.log(units_with + 0.5)
        floor = self.EPSILON * (float(idf.sum()) / len(idf)) if len(idf) else 0.0
        self.idf = np.where(idf < 0, floor, idf)

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> BM25:
        postings: dict[str, list[tuple[int, int]]] = {}
        for i, words in enumerate(documents):
            counts: dict[str, int] = {}
            for w in words:
                counts[w] = counts.get(w, 0) + 1
            for w, c in counts.items():
                postings.setdefault(w, []).append((i, c))
        vocab = list(postings)
        sizes = [len(postings[t]) for t in vocab]
        term_ptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        term_ptr[1:] = np.cumsum(sizes)
        flat = [pair for t in vocab for pair in postings[t]]
        term_units = np.array([i for i, _ in flat], dtype=np.int64)
        term_tf = np.array([c for _, c in flat], dtype=np.float64)
        unit_len = np.array([len(d) for d in documents], dtype=np.float64)
        return cls(vocab, term_ptr, term_units, term_tf, unit_len)

    def get_scores(self, query: Sequence[str]) -> np.ndarray:
        scores = np.zeros(len(self.unit_len))
        norm = self.K1 * (1 - self.B + self.B * self.unit_len / self.avgdl)
        for term in query:  # a repeated query term counts again, as in rank_bm25
            j = self.column.get(term)
            if j is None:
                continue
            units = self.term_units[self.term_ptr[j]:self.term_ptr[j + 1]]
            tf = self.term_tf[self.term_ptr[j]:self.term_ptr[j + 1]]
            scores[units] += self.idf[j] * (tf * (self.K1 + 1) / (tf + norm[units]))
        return scores

    def arrays(self) -> dict[str, np.ndarray]:
        return {"bm25_vocab": np.array(self.vocab, dtype=str), "bm25_term_ptr": self.term_ptr,
                "bm25_term_units": self.term_units, "bm25_term_tf": self.term_tf,
                "bm25_unit_len": self.unit_len}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], units: int) -> BM25:
        bm25 = cls([str(t) for t in arrays["bm25_vocab"]], arrays["bm25_term_ptr"],
                   arrays["bm25_term_units"], arrays["bm25_term_tf"], arrays["bm25_unit_len"])
        ptr = bm25.term_ptr
        if (len(bm25.unit_len) != units or len(ptr) != len(bm25.vocab) + 1 or ptr[0] != 0
                or np.any(np.diff(ptr) < 0) or ptr[-1] != len(bm25.term_units)
                or len(bm25.term_tf) != len(bm25.term_units)
                or (len(bm25.term_units) and not 0 <= bm25.term_units.min() <= bm25.term_units.max() < units)):
            raise ValueError("BM25 arrays do not fit together")
        return bm25


def rank_fusion(*rankings: np.ndarray) -> np.ndarray:
    """Reciprocal-rank fusion of score arrays over the same units (higher is better)."""
    fused = np.zeros(len(rankings[0]))
    for scores in rankings:
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
        fused += 1.0 / (RRF_K + 1 + ranks)
    return fused


@dataclass
class Index:
    units: list[Passage]
    bm25: BM25
    vectors: np.ndarray
    encoder: Any  # an encoder with embed_normalized (bertcli.backends)

    def scores(self, question: str) -> np.ndarray:
        """Fused score of every unit for `question` (higher is better); BM25's alone for an
        index without vectors (text the encoder cannot read: see `Retriever.index`)."""
        lexical = self.bm25.get_scores(terms(question))
        if self.vectors.shape[1] == 0:
            return lexical
        query = self.encoder.embed_normalized([question])[0]
        return rank_fusion(lexical, self.vectors @ query)

    def top_scored(self, question: str, k: int) -> list[tuple[Passage, float]]:
        fused = self.scores(question)
        order = np.argsort(-fused, kind="stable")[:k]
        return [(self.units[i], float(fused[i])) for i in order]

    def top(self, question: str, k: int) -> list[Passage]:
        return [p for p, _ in self.top_scored(question, k)]


def _bounds(spans: Sequence[Any]) -> np.ndarray:
    return np.array([(s.start, s.end) for s in spans], dtype=np.int64).reshape(-1, 2)


def _checked_bounds(arrays: dict[str, np.ndarray], name: str, text_len: int) -> np.ndarray:
    bounds = arrays[name]
    if bounds.ndim != 2 or bounds.shape[1] != 2 or (
            len(bounds) and (bounds.min() < 0 or bounds.max() > text_len
                             or np.any(bounds[:, 0] > bounds[:, 1]))):
        raise ValueError(f"{name} do not fit the text")
    return bounds


class Retriever:
    """Builds an `Index` over a document's passages or sentences, with the bundled encoder
    (ONNX Runtime on CPU, int8 or float32 as RETRIEVER_PRECISION says; torch elsewhere or
    when that cannot load)."""

    def __init__(self, device: str = "cpu", notice: Callable[[str], None] = notices.notice,
                 precision: str = RETRIEVER_PRECISION):
        self.notice = notice
        if precision == "auto":
            from ..backends.onnx_backend import auto_int8

            precision = auto_int8()
        from ..backends.load import ENCODER, load

        self.encoder: Encoder = load(ENCODER, bundled_encoder(), device, precision, notice,
                            shared=False).ready()
        # in the index cache key: vectors of another precision are not mixed with these
        used = getattr(self.encoder, "precision", "fp32")  # torch's encoder: float32
        self.name = RETRIEVER_NAME if used == "fp32" else f"{RETRIEVER_NAME}/{used}"

    def index(self, text: str, sentences: Sequence[Sentence], unit: str = "passage",
              progress: ProgressCallback | None = None, language: str | None = None) -> Index:
        """BM25 and dense vectors of `text`'s passages (or sentences). Text in a language
        other than English gets no vectors: the bundled encoder reads English only, and on
        XQuAD its ranks fused with BM25's found the answer in 10 passages for 52% (Arabic) to
        91% (German) of the questions, BM25 alone for 91-97% (benchmarks/retrieval_recall.py)."""
        if unit == "sentence":
            units = [Passage(s.start, s.end) for s in sentences]
        else:
            units = make_passages(sentences)
        texts = [text[u.start:u.end] for u in units]
        bm25 = BM25.build([terms(t) or ["_"] for t in texts])
        if language not in (None, "en"):
            return Index(units, bm25, np.zeros((len(units), 0), dtype=np.float32), self.encoder)
        # Small batches: passages run to 256 tokens, and a batch's activations (every hidden
        # layer is returned) would otherwise set the peak memory of `ask`.
        vectors = embed_in_chunks(lambda part: self.encoder.embed_normalized(part, batch_size=4),
                                  texts, progress, "passages")
        return Index(units, bm25, np.asarray(vectors, dtype=np.float32), self.encoder)

    def cached_index(self, text: str, split: Callable[[str], list[Sentence]],
                     unit: str = "passage", source: str = "the document",
                     progress: ProgressCallback | None = None,
                     language: str | None = None) -> tuple[Index, list[Sentence]]:
        """The index of `text` and its sentences (`split(text)`, by `language`'s rules), from
        bertcli's index cache when this text was indexed before with the same settings; built
        and stored otherwise."""
        from . import index_cache

        key = index_cache.entry_key(text, self.name, unit, PASSAGE_WORDS, _version(),
                                    language)
        arrays = index_cache.load(key, self.notice, source)
        if arrays is not None:
            try:
                return self._from_arrays(text, arrays)
            except (KeyError, ValueError, IndexError) as err:
                index_cache.discard(key, err, self.notice, source)
        sentences = split(text)
        index = self.index(text, sentences, unit, progress, language)
        index_cache.store(key, {"sentences": _bounds(sentences), "units": _bounds(index.units),
                                "vectors": index.vectors, **index.bm25.arrays()}, self.notice)
        return index, sentences

    def _from_arrays(self, text: str, arrays: dict[str, np.ndarray]) -> tuple[Index, list[Sentence]]:
        sentence_bounds = _checked_bounds(arrays, "sentences", len(text))
        unit_bounds = _checked_bounds(arrays, "units", len(text))
        vectors = arrays["vectors"]
        if vectors.ndim != 2 or len(vectors) != len(unit_bounds) or not np.isfinite(vectors).all():
            raise ValueError("vectors do not fit the passages")
        bm25 = BM25.from_arrays(arrays, len(unit_bounds))
        sentences = [Sentence(i, int(a), int(b), text[a:b]) for i, (a, b) in enumerate(sentence_bounds)]
        units = [Passage(int(a), int(b)) for a, b in unit_bounds]
        return Index(units, bm25, vectors, self.encoder), sentences


@functools.cache
def _version() -> str:
    """bertcli's version and a digest of the code that builds an index (this module and the
    sentence splitter): an index built by other code is never read back, even between
    releases (an evaluation once scored stale passages of an earlier build)."""
    from .. import __version__, sentences

    digest = hashlib.sha256()
    for module in (__file__, sentences.__file__):
        digest.update(Path(module).read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


