"""The `learned` summary strategy: a small Transformer that reads the whole document's sentences.

Each candidate sentence enters as [cheap features of where it sits and how central it is,
its unit-length embedding from the bundled encoder]; two pre-LayerNorm Transformer layers let
every sentence see every other one (BertSumExt's inter-sentence encoder, on frozen sentence
embeddings), and a linear head gives each a score. The top k are picked with trigram blocking
(a sentence whose word trigrams are already in the summary is skipped, as BertSumExt does) and
returned in document order. numpy only at run time; weights in doc_scorer.npz, trained on
CNN/DailyMail by training/train_doc_scorer.py (training/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .scorer import WORD, features

DOC_SCORER_FILE = Path(__file__).resolve().parent / "doc_scorer.npz"
FORMAT_VERSION = 1
# Queries attended in blocks of this many rows: memory stays O(block x n), never n x n.
ATTENTION_BLOCK = 64


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * gain + bias


def _gelu(x: np.ndarray) -> np.ndarray:  # torch's gelu(approximate="tanh")
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


class DocScorer:
    """Scores of all candidates at once, from the document's embeddings and word counts."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        if int(weights["format_version"]) != FORMAT_VERSION:
            raise ValueError("summary scorer file is for another format version")
        self.heads = int(weights["heads"])
        self.layers = int(weights["layers"])
        self.embedding_size = int(weights["embedding_size"])
        self.lexical = bool(weights["lexical"]) if "lexical" in weights else False
        width = self.w["in_w"].shape[0]
        if self.w["in_w"].shape[1] != len(self.w["mean"]) or width % self.heads \
                or self.w["head_w"].shape != (1, width):
            raise ValueError("summary scorer file has inconsistent shapes")

    @classmethod
    def load(cls, path: Path = DOC_SCORER_FILE) -> DocScorer:
        with np.load(path, allow_pickle=False) as data:
            return cls({k: data[k] for k in data.files})

    def scores(self, vectors: np.ndarray, lengths: np.ndarray,
               texts: Sequence[str] | None = None) -> np.ndarray:
        """One score per row; `texts` (the candidates' text) is needed by a model trained
        with word features."""
        if vectors.shape[1] != self.embedding_size:
            raise ValueError(f"summary scorer expects {self.embedding_size}-dimensional embeddings")
        w = self.w
        extra = features(vectors, lengths, texts if self.lexical else None)
        x = np.empty((len(vectors), extra.shape[1] + vectors.shape[1]), dtype=np.float32)
        x[:, :extra.shape[1]], x[:, extra.shape[1]:] = extra, vectors
        x -= w["mean"]  # in place: one n x 397 array, whatever the document's length
        x /= w["scale"]
        h = x @ w["in_w"].T + w["in_b"]
        del x
        for i in range(self.layers):
            p = f"l{i}_"
            h = h + self._attention(_layer_norm(h, w[p + "ln1_g"], w[p + "ln1_b"]), p)
            inner = _gelu(_layer_norm(h, w[p + "ln2_g"], w[p + "ln2_b"]) @ w[p + "ff1_w"].T
                          + w[p + "ff1_b"])
            h = h + inner @ w[p + "ff2_w"].T + w[p + "ff2_b"]
        h = _layer_norm(h, w["ln_g"], w["ln_b"])
        return (h @ w["head_w"].T + w["head_b"])[:, 0].astype(np.float64)

    def _attention(self, h: np.ndarray, p: str) -> np.ndarray:
        w, n, heads = self.w, len(h), self.heads
        q, k, v = np.split(h @ w[p + "qkv_w"].T + w[p + "qkv_b"], 3, axis=1)
        size = q.shape[1] // heads
        q = q.reshape(n, heads, size).transpose(1, 0, 2) / math.sqrt(size)  # a float: float32 stays
        k = k.reshape(n, heads, size).transpose(1, 2, 0)
        v = v.reshape(n, heads, size).transpose(1, 0, 2)
        out = np.empty((heads, n, size), dtype=np.float32)
        for start in range(0, n, ATTENTION_BLOCK):
            logits = q[:, start:start + ATTENTION_BLOCK] @ k
            logits -= logits.max(axis=-1, keepdims=True)
            weights = np.exp(logits)
            weights /= weights.sum(axis=-1, keepdims=True)
            out[:, start:start + ATTENTION_BLOCK] = weights @ v
        return out.transpose(1, 0, 2).reshape(n, heads * size) @ w[p + "out_w"].T + w[p + "out_b"]

    def select(self, vectors: np.ndarray, lengths: np.ndarray, k: int,
               texts: Sequence[str] | None = None) -> list[int]:
        """The top `k` rows by score in document order; with `texts`, a row sharing a word
        trigram with the rows picked so far is passed over while others remain."""
        if self.lexical and texts is None:
            raise ValueError("this summary scorer reads the sentences' words: pass texts")
        order = np.argsort(-self.scores(vectors, lengths, texts), kind="stable")
        chosen: list[int] = []
        seen: set[tuple[str, ...]] = set()
        skipped: list[int] = []
        for row in order:
            if len(chosen) >= k:
                break
            grams = _trigrams(texts[row]) if texts is not None else set()
            if grams & seen:
                skipped.append(int(row))
                continue
            chosen.append(int(row))
            seen |= grams
        chosen.extend(skipped[:k - len(chosen)])  # never fewer than asked when rows remain
        return sorted(chosen)


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


_LOADED: dict[str, object] = {}


def load_doc_scorer(path: Path | None = None) -> DocScorer | Exception:
    """The shipped scorer, loaded once; the exception when it is missing or unreadable."""
    key = str(path or DOC_SCORER_FILE)
    if key not in _LOADED:
        try:
            _LOADED[key] = DocScorer.load(Path(key))
        except Exception as err:  # missing, truncated, wrong keys or shapes
            _LOADED[key] = err
    return _LOADED[key]  # type: ignore[return-value]
