"""Passage ranking for long documents: BM25 and dense (bundled MiniLM) scores, fused by rank.

The reader is the expensive part of `ask`; on a long document it reads only the passages
ranked best here. Reciprocal-rank fusion needs no score calibration between the two
retrievers, which is why it is used instead of a weighted sum.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import BUNDLED_ENCODER, bundled_encoder
from .progress import ProgressCallback, embed_in_chunks
from .sentences import Sentence

RETRIEVER_NAME = f"bm25+{BUNDLED_ENCODER}"
PASSAGE_WORDS = 120  # words per passage: one reader window holds a passage and the question
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al., 2009)
# A "word" for passage sizes: very long runs without spaces (URLs, base64, unspaced text)
# count as one word per 24 characters, so a passage's tokens stay bounded.
_PIECE = re.compile(r"\S{1,24}")
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have he her his how in is it its "
    "of on or she that the their them there they this to was were what when where which who "
    "whom whose why will with would".split()
)


@dataclass(frozen=True)
class Passage:
    start: int
    end: int


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
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


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


@dataclass
class Index:
    units: list[Passage]
    bm25: Any  # rank_bm25.BM25Okapi
    vectors: np.ndarray
    encoder: Any  # an encoder with embed_normalized (bertcli.backends.torch_backend.Encoder)

    def scores(self, question: str) -> np.ndarray:
        """Fused score of every unit for `question` (higher is better)."""
        lexical = np.asarray(self.bm25.get_scores(terms(question)), dtype=np.float64)
        query = self.encoder.embed_normalized([question])[0]
        dense = self.vectors @ query
        fused = np.zeros(len(self.units))
        for scores in (lexical, dense):
            ranks = np.empty(len(scores), dtype=np.int64)
            ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
            fused += 1.0 / (RRF_K + 1 + ranks)
        return fused

    def top_scored(self, question: str, k: int) -> list[tuple[Passage, float]]:
        fused = self.scores(question)
        order = np.argsort(-fused, kind="stable")[:k]
        return [(self.units[i], float(fused[i])) for i in order]

    def top(self, question: str, k: int) -> list[Passage]:
        return [p for p, _ in self.top_scored(question, k)]


class Retriever:
    """Builds an `Index` over a document's passages or sentences."""

    def __init__(self, device: str = "cpu"):
        from .backends import torch_backend

        self.encoder = torch_backend.Encoder(bundled_encoder(), device)  # not cached: ask frees it

    def index(self, text: str, sentences: Sequence[Sentence], unit: str = "passage",
              progress: ProgressCallback | None = None) -> Index:
        from rank_bm25 import BM25Okapi

        if unit == "sentence":
            units = [Passage(s.start, s.end) for s in sentences]
        else:
            units = make_passages(sentences)
        texts = [text[u.start:u.end] for u in units]
        bm25 = BM25Okapi([terms(t) or ["_"] for t in texts])
        # Small batches: passages run to 256 tokens, and a batch's activations (every hidden
        # layer is returned) would otherwise set the peak memory of `ask`.
        vectors = embed_in_chunks(lambda part: self.encoder.embed_normalized(part, batch_size=4), texts,
                                  progress, "passages")
        return Index(units, bm25, vectors, self.encoder)
