"""Cached CNN/DailyMail candidates, their ROUGE labels and quick scoring, shared by the summary
scorer's training and evaluation scripts (train_doc_scorer.py, score_cached.py).

Candidates and embeddings come from embed_cache.py (training/.cache/NAME/chunk*.npz). Labels:
each candidate's ROUGE-1 + ROUGE-2 F1 gain against the highlights and a greedy oracle of up to
3 sentences (rouge-score's tokenizer and stemmer), cached by article id.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
CACHE = HERE / ".cache"


def load_docs(tag: str, limit=None):
    docs = []
    for path in sorted((CACHE / tag).glob("chunk*.npz")):
        with np.load(path) as data:
            vectors = data["vectors"].astype(np.float32)
            offsets = data["offsets"]
            texts = json.loads(str(data["texts"]))
            meta = json.loads(str(data["meta"]))
        for j, m in enumerate(meta):
            a, b = offsets[j], offsets[j + 1]
            v = vectors[a:b].astype(np.float64)
            v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            docs.append({"vectors": v, "texts": texts[a:b], "highlights": m["highlights"],
                         "id": m["id"]})
            if limit and len(docs) >= limit:
                return docs
    return docs


def _ngrams(tokens, n):
    from collections import Counter

    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _f1(cand, ref):
    overlap = sum((cand & ref).values())
    if not overlap:
        return 0.0
    p, r = overlap / sum(cand.values()), overlap / sum(ref.values())
    return 2 * p * r / (p + r)


def labels_for(docs, tag):
    """(gain per sentence, greedy oracle set) for each doc, cached by article id."""
    path = CACHE / f"labels-{tag}.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    missing = [d for d in docs if d["id"] not in cached]
    if missing:
        from rouge_score import rouge_scorer

        tokenizer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)._tokenizer
        for d in missing:
            cached[d["id"]] = oracle(tokenizer, d)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cached))
        os.replace(tmp, path)
    return [cached[d["id"]] for d in docs]


def oracle(tokenizer, d):
    ref = tokenizer.tokenize(d["highlights"])
    r1, r2 = _ngrams(ref, 1), _ngrams(ref, 2)
    toks = [tokenizer.tokenize(t) for t in d["texts"]]
    gain = [_f1(_ngrams(t, 1), r1) + _f1(_ngrams(t, 2), r2) for t in toks]
    chosen, best = [], 0.0
    for _ in range(3):
        pick = None
        for i in range(len(toks)):
            if i in chosen:
                continue
            joined = [w for j in sorted(chosen + [i]) for w in toks[j]]
            value = _f1(_ngrams(joined, 1), r1) + _f1(_ngrams(joined, 2), r2)
            if value > best:
                best, pick = value, i
        if pick is None:
            break
        chosen.append(pick)
    return {"gain": gain, "oracle": sorted(chosen)}


def rouge_of(docs, picks):
    """Per-article ROUGE-1/2/Lsum F1 (x100) of the picked sentences, as `bertcli eval` scores."""
    from bertcli.eval.rouge import rouge_scores

    summaries = ["\n".join(d["texts"][i] for i in p) for d, p in zip(docs, picks)]
    return rouge_scores(summaries, [d["highlights"] for d in docs])


def tokens_for(docs, tag):
    """rouge-score's stemmed tokens of each candidate and of the highlights, cached."""
    path = CACHE / f"tokens-{tag}-{docs[0]['id']}-{len(docs)}.json"
    if path.exists():
        return json.loads(path.read_text())
    from rouge_score import rouge_scorer

    tokenizer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)._tokenizer
    out = [{"ref": tokenizer.tokenize(d["highlights"]),
            "sents": [tokenizer.tokenize(t) for t in d["texts"]]} for d in docs]
    path.write_text(json.dumps(out))
    return out


def quick_rouge(tokens, picks):
    """Mean ROUGE-1 and ROUGE-2 F1 (x100) of the picks: rouge-score's numbers for these two,
    without its ROUGE-Lsum (slow); for choosing among runs."""
    r1, r2 = [], []
    for tok, p in zip(tokens, picks):
        joined = [w for i in sorted(p) for w in tok["sents"][i]]
        r1.append(_f1(_ngrams(joined, 1), _ngrams(tok["ref"], 1)))
        r2.append(_f1(_ngrams(joined, 2), _ngrams(tok["ref"], 2)))
    return 100 * np.mean(r1), 100 * np.mean(r2)


def lead_picks(docs, k=3):
    return [list(range(min(k, len(d["texts"])))) for d in docs]


def lengths_of(d):
    return np.array([len(t.split()) for t in d["texts"]], dtype=np.float64)
