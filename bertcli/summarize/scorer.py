"""The cheap per-sentence features the `learned` summary scorer reads beside each sentence's
embedding (bertcli.summarize.doc_scorer; trained by training/train_doc_scorer.py)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .select import position_trust  # the same measure `central` uses

WORD = re.compile(r"\w+")  # a word, for the word features and trigram blocking
_STOPWORDS = frozenset(
    "a an and are as at be been but by for from had has have he her his i in is it its of on "
    "or said she that the their they this to was were which who will with would".split())


def lexical(texts: Sequence[str]) -> np.ndarray:
    """Per-candidate word features (n x 3): how much of the sentence's vocabulary the rest of
    the document repeats (mean log count of its content words in the document; its z-score
    within the document) and the share of its words holding a digit. ROUGE rewards the words
    a summary shares with the reference, which a sentence embedding only blurs."""
    words = [[w for w in WORD.findall(t.lower()) if w not in _STOPWORDS] for t in texts]
    counts = Counter(w for ws in words for w in set(ws))
    topical = np.array([np.mean([np.log(counts[w]) for w in set(ws)]) if ws else 0.0
                        for ws in words])
    z = (topical - topical.mean()) / (topical.std() + 1e-6)
    digits = np.array([sum(any(c.isdigit() for c in w) for w in ws) / max(len(ws), 1)
                       for ws in words])
    return np.stack([topical, z, digits], axis=1)


def features(vectors: np.ndarray, lengths: np.ndarray,
             texts: Sequence[str] | None = None) -> np.ndarray:
    """Per-candidate features besides the embedding: position, centrality, length, and with
    `texts` the word features of `lexical` (n x F).

    `vectors`: the candidates' unit-length embeddings in document order; `lengths`: their
    lengths in words."""
    n = len(vectors)
    centroid = vectors.mean(axis=0)
    centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
    centrality = vectors @ centroid
    trust = position_trust(centrality)
    rank = np.arange(n, dtype=np.float64)
    prior = 1.0 / np.sqrt(1.0 + rank)
    z = (centrality - centrality.mean()) / (centrality.std() + 1e-6)
    order = np.argsort(np.argsort(-centrality, kind="stable"), kind="stable")
    first = vectors @ vectors[0]  # likeness to the first candidate (one row, not n x n)
    cols = [
        prior,
        rank == 0, rank == 1, rank == 2,
        rank / max(n - 1, 1),
        np.full(n, np.log(n)),
        np.full(n, trust),
        trust * prior,
        centrality,
        z,
        1.0 / (1.0 + order),
        first,
        np.log1p(lengths),
    ]
    out = np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)
    return out if texts is None else np.concatenate([out, lexical(texts)], axis=1)
