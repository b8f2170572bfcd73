"""The `learned` summary strategy: a tiny trained scorer over the document's sentences.

Inputs per candidate sentence: its unit-length mean embedding from the bundled encoder (what
`central` already computes) and cheap features of where it sits and how central it is. A small
MLP (weights in scorer.npz, numpy only at run time) gives each candidate a score; the top k
are picked, with the same redundancy penalty as `central`, and returned in document order.
Trained on CNN/DailyMail (training/train_scorer.py, training/README.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .select import position_trust  # the same measure `central` uses

SCORER_FILE = Path(__file__).resolve().parent / "scorer.npz"
FEATURE_VERSION = 1


def features(vectors: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-candidate features besides the embedding: position, centrality, length (n x F).

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
    return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)


class Scorer:
    """The trained MLP: score = w2 . act(W1 x + b1) + b2 + linear skip, x = [features, embedding]."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.mean = weights["mean"].astype(np.float64)
        self.scale = weights["scale"].astype(np.float64)
        self.w1 = weights["w1"].astype(np.float64)
        self.b1 = weights["b1"].astype(np.float64)
        self.w2 = weights["w2"].astype(np.float64)
        self.b2 = float(weights["b2"])
        self.linear = weights["linear"].astype(np.float64)
        self.redundancy = float(weights["redundancy"])
        self.hidden_size = int(weights["dim"])
        # Second stage: final score = mix[-1] * MLP score + mix[:-1] . standardized features,
        # fitted for ROUGE of the top k directly (training/train_scorer.py).
        count = len(self.mean) - self.hidden_size
        self.mix = weights["mix"].astype(np.float64) if "mix" in weights \
            else np.r_[np.zeros(count), 1.0]
        if int(weights["feature_version"]) != FEATURE_VERSION:
            raise ValueError("scorer file is for another feature version")
        if self.w1.shape[1] != len(self.mean) or self.linear.shape != (len(self.mean),) \
                or self.mix.shape != (count + 1,):
            raise ValueError("scorer file has inconsistent shapes")

    @classmethod
    def load(cls, path: Path = SCORER_FILE) -> Scorer:
        with np.load(path, allow_pickle=False) as data:
            return cls({k: data[k] for k in data.files})

    def inputs(self, vectors: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        x = np.concatenate([features(vectors, lengths), vectors.astype(np.float64)], axis=1)
        return (x - self.mean) / self.scale

    def scores(self, vectors: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        if vectors.shape[1] != self.hidden_size:
            raise ValueError(f"scorer expects {self.hidden_size}-dimensional embeddings")
        x = self.inputs(vectors, lengths)
        hidden = np.tanh(x @ self.w1.T + self.b1)
        mlp = hidden @ self.w2 + self.b2 + x @ self.linear
        return self.mix[-1] * mlp + x[:, :len(self.mix) - 1] @ self.mix[:-1]

    def select(self, vectors: np.ndarray, lengths: np.ndarray, k: int) -> list[int]:
        """The top `k` rows by score, each new pick less `redundancy` x its likeness to the
        picks so far, in document order."""
        n = len(vectors)
        score = self.scores(vectors, lengths)
        # Linear memory: each row's largest likeness to the picks so far, updated one pick at
        # a time (as `central_select`), never the n x n similarity matrix.
        penalty = np.full(n, -np.inf)
        chosen: list[int] = []
        for _ in range(min(k, n)):
            value = score - self.redundancy * penalty if chosen else score.copy()
            value[chosen] = -np.inf
            pick = int(np.argmax(value))
            chosen.append(pick)
            np.maximum(penalty, vectors @ vectors[pick], out=penalty)
        return sorted(chosen)


_LOADED: dict[str, object] = {}


def load_scorer(path: Path | None = None):
    """The shipped scorer, loaded once; the exception when it is missing or unreadable."""
    key = str(path or SCORER_FILE)
    if key not in _LOADED:
        try:
            _LOADED[key] = Scorer.load(Path(key))
        except Exception as err:  # missing, truncated, wrong keys or shapes
            _LOADED[key] = err
    return _LOADED[key]
