"""`bertcli eval summarize`: ROUGE of a strategy against reference highlights.

ROUGE-1, ROUGE-2 and ROUGE-Lsum F1 from the rouge-score package with stemming, summary and
reference joined by newlines (the usual CNN/DailyMail scoring for Lsum), with 95% bootstrap
intervals, and the per-article win rate against a baseline strategy when one is given.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

METRICS = ("rouge1", "rouge2", "rougeLsum")
BOOTSTRAP_SAMPLES = 1000


@dataclass
class EvalReport:
    strategy: str
    model: str
    articles: int
    scores: dict[str, list[float]]  # metric -> per-article F1 (0..100)
    baseline: str | None = None
    baseline_scores: dict[str, list[float]] | None = None

    def summary(self) -> dict:
        metrics: dict[str, dict] = {}
        out = {"strategy": self.strategy, "model": self.model, "articles": self.articles,
               "metrics": metrics}
        for m in METRICS:
            values = np.array(self.scores[m])
            low, high = bootstrap_interval(values)
            entry = {"f1": round(float(values.mean()), 2), "ci95": [round(low, 2), round(high, 2)]}
            if self.baseline_scores is not None:
                diff = values - np.array(self.baseline_scores[m])
                dlow, dhigh = bootstrap_interval(diff)
                entry["vs_baseline"] = {
                    "baseline": self.baseline,
                    "baseline_f1": round(float(np.mean(self.baseline_scores[m])), 2),
                    "difference": round(float(diff.mean()), 2),
                    "difference_ci95": [round(dlow, 2), round(dhigh, 2)],
                    "win_rate": round(float(np.mean(diff > 0)), 3),
                    "loss_rate": round(float(np.mean(diff < 0)), 3),
                }
            metrics[m] = entry
        return out


def bootstrap_interval(values: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(samples, len(values)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def load_jsonl(path: str, limit: int | None = None) -> list[dict[str, str]]:
    """Records of a JSON Lines file; gzip-compressed when its name ends in .gz."""
    if path.endswith(".gz"):
        import gzip

        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, EOFError, UnicodeDecodeError) as err:
            raise InputError(f"{path}: cannot read ({err})") from None
    else:
        from ..read.document import read_document

        text = read_document(path).text
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InputError(f"{path}:{number}: not a JSON object") from None
        if not isinstance(record, dict) or not isinstance(record.get("article"), str) \
                or not isinstance(record.get("highlights"), str):
            raise InputError(f"{path}:{number}: needs string fields \"article\" and \"highlights\"")
        records.append(record)
        if limit and len(records) >= limit:
            break
    if not records:
        raise InputError(f"{path}: no records")
    return records


def shuffle_sentences(text: str, seed: int) -> str:
    """The article with its sentences in a random order (position then carries no signal)."""
    from ..sentences import split_sentences

    sentences = [s.text for s in split_sentences(text)]
    random.Random(seed).shuffle(sentences)
    return " ".join(sentences)


def rouge_scores(summaries: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    for summary, reference in zip(summaries, references):
        result = scorer.score(reference, summary)
        for m in METRICS:
            out[m].append(100 * result[m].fmeasure)
    return out


def evaluate_summaries(summarizer, records, strategy: str, num_sentences: int = 3,
                       shuffle_seed: int | None = None) -> dict[str, list[float]]:
    summaries, references = [], []
    for i, record in enumerate(records):
        article = record["article"]
        if shuffle_seed is not None:
            article = shuffle_sentences(article, shuffle_seed + i)
        result = summarizer(article, num_sentences=num_sentences, strategy=strategy)
        summaries.append("\n".join(s.text for s in result.sentences))
        references.append(record["highlights"])
    return rouge_scores(summaries, references)
