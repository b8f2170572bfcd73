"""How often the gold answer lies inside a passage the reader reads (issue: ask, long documents).

Each answerable question of squad2-dev.json is asked against its whole article (paragraphs
joined by blank lines, offsets shifted as the data README says). Prints recall for several
passage budgets, and how often the single best retrieval sentence holds the answer.

    python benchmarks/retrieval_recall.py [path/to/squad2-dev.json]

Other languages: XQuAD (github.com/google-deepmind/xquad, CC BY-SA 4.0) is SQuAD v1.1 dev
translated by professionals into 11 languages, answers marked. `--one-document` joins all
of a file's articles into one document (~240 paragraphs, the size where retrieval matters);
sentences are split by the language detected, as `ask --lang auto` does.

    python benchmarks/retrieval_recall.py --one-document xquad/xquad.zh.json

`--precision=int8|fp32` runs the retriever's encoder in that precision (default: the retriever's,
int8 on CPUs with int8 dot products). `--articles=N` takes a file's first N articles (a `.gz`
file is read as gzip, e.g. the SQuAD 1.1 training set). `--lazy=C` embeds only the C units BM25
ranks best for each question (bertcli.ask.retrieve.LAZY_CANDIDATES; 0: every unit, as before
issue #30). `--sweep=20,50,100` embeds every passage once and reports, for each candidate count,
the recall that lazy embedding with that count gives (the same fused ranking, restricted to
BM25's best C), beside every unit embedded:

    python benchmarks/retrieval_recall.py ../shared/data/squad1.1-train.json.gz --articles=40 \
        --one-document --sweep=10,20,30,50,100
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

from bertcli.ask import retrieve
from bertcli.ask.retrieve import Retriever
from bertcli.languages import resolve_language
from bertcli.sentences import split_sentences

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2-dev.json"


def articles(path: Path, one_document: bool = False, limit: int | None = None):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"][:limit]
    if one_document:
        data = [{"title": path.name, "paragraphs": [p for a in data for p in a["paragraphs"]]}]
    for article in data:
        text, questions, offset = "", [], 0
        for i, para in enumerate(article["paragraphs"]):
            if i:
                text += "\n\n"
                offset = len(text)
            text += para["context"]
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    continue
                spans = [(offset + a["answer_start"], offset + a["answer_start"] + len(a["text"]))
                         for a in qa["answers"]]
                questions.append((qa["question"], spans))
        yield article["title"], text, questions


def lazy_top(index, question: str, candidates: int, k: int):
    """The passages Index.top gives when only BM25's best `candidates` are embedded, computed
    from an index whose every passage is (the same fused ranking, restricted to them)."""
    import numpy as np

    lexical = index.bm25.get_scores(retrieve.terms(question))
    rows = np.argsort(-lexical, kind="stable")[:candidates]
    query = index.encoder.embed_normalized([question])[0]
    fused = retrieve.rank_fusion(lexical[rows], index.vectors[rows] @ query)
    return [index.units[rows[i]] for i in np.argsort(-fused, kind="stable")[:k]]


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = Path(args[0]) if args else DEFAULT_DATA
    budgets = (1, 2, 4, 6, 8, 10, 12)
    precision = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--precision=")), None)
    retriever = Retriever(precision=precision) if precision else Retriever()
    lazy = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--lazy=")), None)
    if lazy is not None:
        retrieve.LAZY_CANDIDATES = lazy or 10**9
    limit = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--articles=")), None)
    sweep = next(([int(c) for c in a.split("=", 1)[1].split(",")] for a in sys.argv[1:]
                  if a.startswith("--sweep=")), [])
    if sweep:
        retrieve.LAZY_CANDIDATES = 10**9
    swept = {c: {k: 0 for k in budgets} for c in sweep}
    hits = {k: 0 for k in budgets}
    sentence_hits = total = passages = passage_chars = 0
    t0 = time.perf_counter()
    for title, text, questions in articles(path, "--one-document" in sys.argv, limit):
        language = resolve_language(text)
        sentences = split_sentences(text, language)
        index = retriever.index(text, sentences, "passage", language=language)
        sentence_index = None if sweep else retriever.index(text, sentences, "sentence",
                                                             language=language)
        passages += len(index.units)
        passage_chars += sum(p.end - p.start for p in index.units)
        for question, spans in questions:
            total += 1
            ranked = index.top(question, max(budgets))
            for k in budgets:
                if any(p.start <= s and e <= p.end for p in ranked[:k] for s, e in spans):
                    hits[k] += 1
            for c in sweep:
                ranked = lazy_top(index, question, c, max(budgets))
                for k in budgets:
                    if any(p.start <= s and e <= p.end for p in ranked[:k] for s, e in spans):
                        swept[c][k] += 1
            if sentence_index is not None:
                best = sentence_index.top(question, 1)[0]
                sentence_hits += any(best.start <= s and e <= best.end for s, e in spans)
        print(f"{title}: {len(index.units)} passages, {len(questions)} answerable questions",
              file=sys.stderr)
    print(f"{total} answerable questions, {time.perf_counter() - t0:.1f} s; {passages} passages "
          f"of {passage_chars / passages:.0f} characters on average")
    print("| passages read | gold answer inside |")
    print("| --- | --- |")
    for k in budgets:
        print(f"| {k} | {100 * hits[k] / total:.1f}% |")
    if sweep:
        print("| lazy candidates | " + " | ".join(f"recall at {k}" for k in budgets) + " |")
        print("| --- |" + " --- |" * len(budgets))
        for c in sweep:
            print(f"| {c} | " + " | ".join(f"{100 * swept[c][k] / total:.1f}%" for k in budgets) + " |")
        return
    print(f"retrieval-only mode: best sentence holds the gold answer for "
          f"{100 * sentence_hits / total:.1f}%")


if __name__ == "__main__":
    main()
