"""The lexical side of `ask`'s retrieval: BM25's terms of a text, and BM25 itself as arrays."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..sentences import SOUTHEAST_ASIAN, UNSPACED

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
