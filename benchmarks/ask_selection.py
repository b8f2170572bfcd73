"""Choose how `ask` ranks answers across passages, on held-out *training* articles.

The bundled reader was trained on the first 430 articles of SQuAD 1.1 train; the last 12 were
held out (training/README.md). Every question of those articles is asked of its whole article:
the retriever ranks passages, the reader reads the best N, and rules for picking the answer are
compared on the same logits. Nothing here reads the dev files.

    python benchmarks/ask_selection.py [--per-article 30] [--max-passages 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bertcli.ask.retrieve import Retriever  # noqa: E402
from bertcli.ask.spans import _logsumexp, _span_logits, _word_span, make_windows  # noqa: E402
from bertcli.backends.torch_backend import Reader  # noqa: E402
from bertcli.eval import squad  # noqa: E402
from bertcli.models import bundled_reader  # noqa: E402
from bertcli.sentences import split_sentences  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "squad1.1-train.json.gz")


def collect(reader, articles, per_article: int, max_passages: int):
    """Per question: for each window, its passage rank, raw span logits of its best spans
    (as document offsets), its null logit and its log-sum-exps."""
    retriever = Retriever("cpu")
    records = []
    for article in articles:
        text = article.text
        sentences = split_sentences(text)
        index = retriever.index(text, sentences, unit="passage")
        step = max(1, len(article.questions) // per_article)
        for q in article.questions[::step][:per_article]:
            fused = index.scores(q.question)
            order = np.argsort(-fused, kind="stable")[:max_passages]
            contexts = [(index.units[i].start, text[index.units[i].start:index.units[i].end])
                        for i in order]
            windows = make_windows(reader, q.question, contexts)
            logits = reader.logits([w["inputs"] for w in windows])
            rows = []
            for w, (s, e) in zip(windows, logits):
                allowed = np.array(w["p_mask"]) == 0
                allowed[0] = False
                starts, ends, values = _span_logits(s, e, allowed, 15)
                if values.size == 0:
                    continue
                null = float(s[0] + e[0])
                # the pipeline's per-window softmax (over context tokens and [CLS])
                ok = np.array(w["p_mask"]) == 0
                lse_s, lse_e = _logsumexp(s[ok]), _logsumexp(e[ok])
                best = np.argsort(-values)[:12]
                spans = []
                for i in best:
                    a, b = _word_span(w["encoding"], int(starts[i]), int(ends[i]), 1)
                    spans.append((a + w["offset"], b + w["offset"], float(values[i])))
                rows.append({"rank": int(w["context_index"]), "null": null,
                             "lse": _logsumexp(values), "pipe_norm": lse_s + lse_e, "spans": spans})
            records.append({"text": text, "answers": q.answers, "rows": rows})
    return records


def choose(record, n: int, rule: str, prior: float, aggregate: str):
    best = {}
    for row in record["rows"]:
        if row["rank"] >= n:
            continue
        for a, b, value in row["spans"]:
            if rule == "raw":
                v = value
            elif rule == "relative":
                v = value - row["null"]
            else:  # "pipeline": per-window probability
                v = value - row["pipe_norm"]
            v -= prior * np.log1p(row["rank"])
            key = record["text"][a:b].lower()
            p = np.exp(v)
            if aggregate == "sum":
                best[key] = best.get(key, 0.0) + p
            else:
                best[key] = max(best.get(key, 0.0), p)
    if not best:
        return ""
    return max(best.items(), key=lambda kv: kv[1])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--per-article", type=int, default=30)
    parser.add_argument("--max-passages", type=int, default=20)
    parser.add_argument("--held-out", type=int, default=12, help="last N training articles")
    parser.add_argument("--cache", default=os.path.join(HERE, ".cache", "selection.json"))
    args = parser.parse_args()

    if os.path.exists(args.cache):
        records = json.load(open(args.cache))
    else:
        articles = squad.whole_articles(squad.load_articles(args.data)[-args.held_out:])
        reader = Reader(bundled_reader(), "cpu")
        began = time.perf_counter()
        records = collect(reader, articles, args.per_article, args.max_passages)
        print(f"collected {len(records)} questions in {time.perf_counter() - began:.0f} s")
        os.makedirs(os.path.dirname(args.cache), exist_ok=True)
        json.dump(records, open(args.cache, "w"))

    print(f"{len(records)} questions, held-out training articles")
    print("| rule | aggregate | prior | " + " | ".join(f"N={n}" for n in (1, 3, 5, 10, 20)) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in range(5)) + " |")
    for rule in ("pipeline", "raw", "relative"):
        for aggregate in ("sum", "max"):
            for prior in (0.0, 0.5, 1.0):
                f1s = []
                for n in (1, 3, 5, 10, 20):
                    f1 = np.mean([squad.best_over(squad.f1_score, choose(r, n, rule, prior, aggregate),
                                                  r["answers"]) for r in records])
                    f1s.append(f"{100 * f1:.1f}")
                print(f"| {rule} | {aggregate} | {prior} | " + " | ".join(f1s) + " |")


if __name__ == "__main__":
    main()
