"""Whether an answer is right: the answerability check of `ask`.

The reader always offers a best span; this module turns what the pipeline knows about that
span (the reader's logits against "no answer", how much probability is left on "no answer",
the passage's retrieval rank, how much of the question the answer's sentence and the document
share) into the probability that the span is right (token F1 >= 0.5 against a reference). A
logistic model, fitted on held-out SQuAD 1.1 *training* articles with negatives built from
them (training/answerability.py; recipe and figures in training/README.md). `ask` abstains
when the probability is below the threshold chosen there (`--min-score`).

numpy only, and the weights are a small JSON file: no start-up cost worth measuring.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

WEIGHTS = "verifier.json"
BUNDLED_READER_NAME = "bertcli-reader-minilm"
_WORD = re.compile(r"\w+", re.UNICODE)
# Function words and question words: they say nothing of whether a text holds the answer.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who
whom whose why will with would you your yours yourself yourselves many much called name named
one type kind used use did does do year years
""".split())


def _stem(word: str) -> str:
    """A crude English stem, enough to match "Normans" with "Norman", "ruled" with "rules"."""
    word = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    # each distinct word stemmed once: 70 -> 43 ms for a 100k-token document's
    return {_stem(w) for w in set(_WORD.findall(text)) if w.lower() not in STOPWORDS}


def rare_words(question: str) -> set[str]:
    """The question's names and numbers: capitalised words after its first, and digits."""
    words = _WORD.findall(question)
    return {_stem(w) for i, w in enumerate(words)
            if (w.lower() not in STOPWORDS) and ((i > 0 and w[:1].isupper()) or w.isdigit())}


def document_words(text: str) -> frozenset[str]:
    """Every content word of a document, once (asked many questions, it is built once)."""
    return frozenset(content_words(text))


@dataclass(frozen=True)
class Evidence:
    """What the pipeline knows about one answer span."""

    question: str
    answer: str
    sentence: str  # the sentence(s) holding the answer
    passage: str  # the passage it was read in
    margin: float  # start + end logit over the window's "no answer" logit
    probability: float  # the reader's softmax over everything read, "no answer" included
    null: float  # the probability left on "no answer"
    windows: int  # reader windows read for the question
    rank: int  # the retrieval rank of its passage (0: the best, or the document read whole)
    document_coverage: float  # share of the question's content words found in the document
    rare_missing: int  # the question's names and numbers that the document lacks


def _share(words: AbstractSet[str], where: AbstractSet[str]) -> float:
    return len(words & where) / len(words) if words else 1.0


def evidence(question: str, answer: str, sentence: str, passage: str, margin: float,
             probability: float, null: float, windows: int, rank: int,
             doc_words: frozenset[str]) -> Evidence:
    q = content_words(question)
    missing = len(rare_words(question) - doc_words)
    return Evidence(question, answer, sentence, passage, margin, probability, null, windows,
                    rank, _share(q, doc_words), missing)


FEATURES = ("margin", "probability", "null", "log_rank", "log_windows", "sentence_coverage",
            "passage_coverage", "document_coverage", "rare_missing", "rare_missing_passage",
            "answer_in_question", "log_answer_words", "margin_x_sentence_coverage")


def features(e: Evidence) -> list[float]:
    """The model's inputs, in FEATURES order."""
    q = content_words(e.question)
    sentence = content_words(e.sentence)
    passage = content_words(e.passage)
    answer = content_words(e.answer)
    margin = max(-15.0, min(25.0, e.margin)) / 10.0
    sentence_coverage = _share(q, sentence)
    return [
        margin,
        e.probability,
        e.null,
        math.log1p(e.rank),
        math.log(max(e.windows, 1)),
        sentence_coverage,
        _share(q, passage),
        e.document_coverage,
        float(min(e.rare_missing, 3)),
        float(min(len(rare_words(e.question) - passage), 3)),
        _share(answer, q) if answer else 0.0,
        math.log1p(len(e.answer.split())),
        margin * sentence_coverage,
    ]


@dataclass(frozen=True)
class Verifier:
    """A fitted logistic model: P(right) = sigmoid(w . (x - mean) / scale + b)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float  # the default --min-score
    reader: str = BUNDLED_READER_NAME  # the reader whose evidence it was fitted on

    def probability(self, e: Evidence) -> float:
        x = (np.asarray(features(e)) - self.mean) / self.scale
        z = float(x @ self.weights + self.bias)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "weights": self.weights.tolist(),
                "bias": self.bias, "threshold": self.threshold, "reader": self.reader}

    @classmethod
    def from_json(cls, data: dict) -> Verifier:
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError("verifier weights were fitted on other features")
        return cls(np.asarray(data["mean"], dtype=float), np.asarray(data["scale"], dtype=float),
                   np.asarray(data["weights"], dtype=float), float(data["bias"]),
                   float(data["threshold"]), str(data.get("reader", BUNDLED_READER_NAME)))


def for_reader(name: str | None) -> Verifier | None:
    """The verifier fitted on the evidence of reader `name`, if bertcli ships one. Another
    reader's logits are on another scale: its answers keep the reader's own probability, and
    `ask` withholds them only when no span beats "no answer"."""
    verifier = bundled()
    return verifier if verifier is not None and name == verifier.reader else None


@lru_cache(maxsize=1)
def bundled() -> Verifier | None:
    """The verifier bertcli ships (None without its weights file)."""
    try:
        text = resources.files("bertcli.ask").joinpath(WEIGHTS).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    return Verifier.from_json(json.loads(text))
