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
from ..sentences import HAN_KANA, SOUTHEAST_ASIAN, UNSPACED_WORD, Sentence
from .lexical import BM25, terms  # noqa: F401  (re-exported)

RETRIEVER_NAME = f"bm25+{BUNDLED_ENCODER}"
PASSAGE_WORDS = 120  # words per passage: one reader window holds a passage and the question
# The retriever's encoder on CPU: int8 where the CPU has int8 dot products (as `summarize`'s
# auto): on 40 SQuAD training articles the gold answer was inside the 10 passages read for
# 95.5% of 8,894 questions with int8 and 95.4% with float32, at 1.6x the indexing speed.
RETRIEVER_PRECISION = "auto"
# Units BM25 ranks best that each question embeds and re-ranks with the dense vectors; the rest
# are never read. Chosen on 40 SQuAD training articles joined into one long document
# (benchmarks/retrieval_recall.py --sweep): 93.3% recall of the passages read, 93.5% with
# every unit embedded.
LAZY_CANDIDATES = 100
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al., 2009)
# A "word" for passage sizes: a Han or kana character; up to 4 characters of the Southeast
# Asian scripts; up to 24 characters of anything else without spaces (URLs, base64), so that
# a passage's reader tokens stay bounded whatever the script.
_PIECE = re.compile(f"{UNSPACED_WORD}|[^\\s{HAN_KANA}{SOUTHEAST_ASIAN}]{{1,24}}")


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
    """A document's passages (or sentences), ranked for a question by BM25 and dense vectors.

    Vectors are made lazily: each question embeds only the LAZY_CANDIDATES units BM25 ranks
    best that have no vector yet, so a first question on a long document does not wait for
    all of it, and later questions reuse what earlier ones embedded (`grown` says there is
    something new to keep in the index cache)."""

    units: list[Passage]
    bm25: BM25
    vectors: np.ndarray  # (units, dim); a row counts only where `embedded` is True
    encoder: Any  # an encoder with embed_normalized (bertcli.backends); None: BM25 alone
    text: str = ""
    embedded: np.ndarray | None = None  # bool per unit
    grown: bool = False
    cache_key: str | None = None  # its entry in the index cache, where it came from or went
    sentence_bounds: np.ndarray | None = None  # the document's sentences, for that entry
    stamp: tuple[int, int, int] | None = None  # the entry as this index last read or wrote it

    def __post_init__(self) -> None:
        if self.embedded is None:
            self.embedded = np.zeros(len(self.units), dtype=bool)

    def scores(self, question: str) -> np.ndarray:
        """Fused score of every unit for `question` (higher is better; -inf: not a
        candidate); BM25's alone for an index without an encoder (text it cannot read: see
        `Retriever.index`)."""
        lexical = self.bm25.get_scores(terms(question))
        if self.encoder is None:
            return lexical
        candidates = np.argsort(-lexical, kind="stable")[:LAZY_CANDIDATES]
        self._embed(candidates)
        query = self.encoder.embed_normalized([question])[0]
        fused = np.full(len(self.units), -np.inf)
        fused[candidates] = rank_fusion(lexical[candidates], self.vectors[candidates] @ query)
        return fused

    def _embed(self, rows: np.ndarray) -> None:
        assert self.embedded is not None
        missing = [int(i) for i in rows if not self.embedded[i]]
        if not missing:
            return
        # Small batches: passages run to 256 tokens, and a batch's activations (every hidden
        # layer is returned) would otherwise set the peak memory of `ask`.
        made = np.asarray(self.encoder.embed_normalized(
            [self.text[self.units[i].start:self.units[i].end] for i in missing], batch_size=4),
            dtype=np.float32)
        if self.vectors.shape[1] != made.shape[1]:
            self.vectors = np.zeros((len(self.units), made.shape[1]), dtype=np.float32)
        self.vectors[missing] = made
        self.embedded[missing] = True
        self.grown = True

    def embed_rest(self, go_on: Callable[[], bool], chunk: int = 16) -> bool:
        """Embed every unit not embedded yet, `chunk` at a time, asking `go_on()` before each
        chunk (it may wait; False stops). True when every unit is embedded."""
        assert self.embedded is not None
        missing = np.flatnonzero(~self.embedded)
        for begin in range(0, len(missing), chunk):
            if not go_on():
                return False
            self._embed(missing[begin:begin + chunk])
        return True

    def top_scored(self, question: str, k: int) -> list[tuple[Passage, float]]:
        fused = self.scores(question)
        order = np.argsort(-fused, kind="stable")[:k]
        return [(self.units[i], float(fused[i])) for i in order if np.isfinite(fused[i])]

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
              language: str | None = None) -> Index:
        """BM25 over `text`'s passages (or sentences), and the encoder that embeds them as
        questions need them (`Index.scores`). Text in a language other than English gets no
        vectors: the bundled encoder reads English only, and on
        XQuAD its ranks fused with BM25's found the answer in 10 passages for 52% (Arabic) to
        91% (German) of the questions, BM25 alone for 91-97% (benchmarks/retrieval_recall.py)."""
        if unit == "sentence":
            units = [Passage(s.start, s.end) for s in sentences]
        else:
            units = make_passages(sentences)
        bm25 = BM25.build([terms(text[u.start:u.end]) or ["_"] for u in units])
        encoder = self.encoder if language in (None, "en") else None
        return Index(units, bm25, np.zeros((len(units), 0), dtype=np.float32), encoder, text)

    def cached_index(self, text: str, split: Callable[[str], list[Sentence]],
                     unit: str = "passage", source: str = "the document",
                     language: str | None = None) -> tuple[Index, list[Sentence]]:
        """The index of `text` and its sentences (`split(text)`, by `language`'s rules; the
        splitting is what takes time on a long text, so progress goes through it), from
        bertcli's index cache when this text was indexed before with the same settings; built
        and stored otherwise."""

        key = self.entry_key(text, unit, language)
        found = self.stored_index(text, key, language, source)
        if found is not None:
            return found
        sentences = split(text)
        index = self.index(text, sentences, unit, language)
        index.cache_key, index.sentence_bounds = key, _bounds(sentences)
        self.keep(index, always=True)
        return index, sentences

    def stored_index(self, text: str, key: str, language: str | None,
                     source: str = "the document") -> tuple[Index, list[Sentence]] | None:
        """`text`'s index and sentences from its index cache entry `key`; None when there is
        none (or a damaged one, which is removed with a notice)."""
        from . import index_cache

        seen = index_cache.stamp(key)  # (before reading: a write after it shows as another stamp)
        arrays = index_cache.load(key, self.notice, source)
        if arrays is None:
            return None
        try:
            index, sentences = self.from_arrays(text, arrays, key, language)
        except (KeyError, ValueError, IndexError) as err:
            index_cache.discard(key, err, self.notice, source)
            return None
        index.stamp = seen
        return index, sentences

    def entry_key(self, text: str, unit: str, language: str | None) -> str:
        """The index cache key of `text` indexed by this retriever in `unit`s."""
        from . import index_cache

        return index_cache.entry_key(text, self.name, unit, PASSAGE_WORDS, _version(), language)

    def keep(self, index: Index, always: bool = False, if_stored: bool = False) -> bool:
        """Store `index` in the index cache again when questions embedded more of it (or
        `always`), so that later processes reuse those vectors. Rows another process stored
        meanwhile (an `ask`, the background fill) are taken over, not overwritten. With
        `if_stored`, only over an entry still there (not one cleared or evicted meanwhile);
        False when it was not."""
        from . import index_cache

        if index.cache_key is None or index.sentence_bounds is None or not (always or index.grown):
            return True
        assert index.embedded is not None
        with index_cache.write_lock():
            now = index_cache.stamp(index.cache_key)
            if now is None and if_stored:
                return False
            if now is not None and now != index.stamp:  # written by another process since
                stored = index_cache.load(index.cache_key)
                if stored is not None:
                    _take_rows(index, stored)
            if index_cache.store(index.cache_key, {
                    "sentences": index.sentence_bounds, "units": _bounds(index.units),
                    "vectors": index.vectors, "embedded": index.embedded, **index.bm25.arrays()},
                    self.notice):
                index.stamp = index_cache.stamp(index.cache_key)
        index.grown = False
        return True

    def from_arrays(self, text: str, arrays: dict[str, np.ndarray], key: str,
                    language: str | None) -> tuple[Index, list[Sentence]]:
        """`text`'s index and sentences from the arrays of its cache entry `key` (ValueError,
        KeyError or IndexError where they do not fit the text)."""
        sentence_bounds = _checked_bounds(arrays, "sentences", len(text))
        unit_bounds = _checked_bounds(arrays, "units", len(text))
        vectors, embedded = arrays["vectors"], arrays["embedded"]
        if vectors.ndim != 2 or len(vectors) != len(unit_bounds) or not np.isfinite(vectors).all() \
                or embedded.shape != (len(unit_bounds),) or embedded.dtype != bool \
                or (embedded.any() and vectors.shape[1] == 0):
            raise ValueError("vectors do not fit the passages")
        bm25 = BM25.from_arrays(arrays, len(unit_bounds))
        sentences = [Sentence(i, int(a), int(b), text[a:b]) for i, (a, b) in enumerate(sentence_bounds)]
        units = [Passage(int(a), int(b)) for a, b in unit_bounds]
        encoder = self.encoder if language in (None, "en") else None
        return Index(units, bm25, vectors.copy(), encoder, text, embedded.copy(), False, key,
                     sentence_bounds), sentences


def _take_rows(index: Index, stored: dict[str, np.ndarray]) -> None:
    """Copy into `index` the vectors of `stored` (its entry) for rows it has not embedded; an
    entry that does not fit is ignored (it will be overwritten)."""
    assert index.embedded is not None
    vectors, embedded = stored.get("vectors"), stored.get("embedded")
    if vectors is None or embedded is None or embedded.shape != index.embedded.shape \
            or vectors.ndim != 2 or len(vectors) != len(index.units) or vectors.shape[1] == 0:
        return
    rows = embedded & ~index.embedded
    if index.vectors.shape[1] != vectors.shape[1]:
        if index.embedded.any():
            return  # another dimension: not this encoder's
        index.vectors = np.zeros(vectors.shape, dtype=np.float32)
    index.vectors[rows] = vectors[rows]
    index.embedded[rows] = True


@functools.cache
def _version() -> str:
    """bertcli's version and a digest of the code that builds an index (this module, BM25's
    and the sentence splitter): an index built by other code is never read back, even between
    releases (an evaluation once scored stale passages of an earlier build)."""
    from .. import __version__, sentences
    from . import lexical

    digest = hashlib.sha256()
    for module in (__file__, lexical.__file__, sentences.__file__):
        digest.update(Path(module).read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


