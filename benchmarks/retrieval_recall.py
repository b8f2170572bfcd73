"""How often the gold answer lies inside a passage the reader reads (issue: ask, long documents).

Each answerable question of squad2-dev.json is asked against its whole article (paragraphs
joined by blank lines, offsets shifted as the data README says). Prints recall for several
passage budgets, and how often the single best retrieval sentence holds the answer.

    python benchmarks/retrieval_recall.py [path/to/squad2-dev.json]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bertcli.retrieve import Retriever
from bertcli.sentences import split_sentences

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2-dev.json"


def articles(path: Path):
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
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


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    budgets = (1, 2, 4, 6, 8, 10, 12)
    retriever = Retriever()
    hits = {k: 0 for k in budgets}
    sentence_hits = total = 0
    t0 = time.perf_counter()
    for title, text, questions in articles(path):
        sentences = split_sentences(text)
        index = retriever.index(text, sentences, "passage")
        sentence_index = retriever.index(text, sentences, "sentence")
        for question, spans in questions:
            total += 1
            ranked = index.top(question, max(budgets))
            for k in budgets:
                if any(p.start <= s and e <= p.end for p in ranked[:k] for s, e in spans):
                    hits[k] += 1
            best = sentence_index.top(question, 1)[0]
            sentence_hits += any(best.start <= s and e <= best.end for s, e in spans)
        print(f"{title}: {len(index.units)} passages, {len(questions)} answerable questions",
              file=sys.stderr)
    print(f"{total} answerable questions, {time.perf_counter() - t0:.1f} s")
    print("| passages read | gold answer inside |")
    print("| --- | --- |")
    for k in budgets:
        print(f"| {k} | {100 * hits[k] / total:.1f}% |")
    print(f"retrieval-only mode: best sentence holds the gold answer for "
          f"{100 * sentence_hits / total:.1f}%")


if __name__ == "__main__":
    main()
