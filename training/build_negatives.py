"""Unanswerable questions for training the reader's "no answer" ([CLS]) score, from SQuAD 1.1.

SQuAD 2.0's training set cannot be had here. These negatives are built from the SQuAD 1.1
training articles the reader trains on (never the 12 held out, never a dev file), each asked
of a paragraph that does not answer it:
  swapped          a name, number or year of the question replaced by another of its article
                   (answerability.swap), asked of its own paragraph;
  other-paragraph  the question asked of the paragraph of its article that BM25 ranks highest
                   among those without its answer (same topic, no answer);
  word-swapped     one content word of the question that its paragraph supports replaced by a
                   word of another paragraph of the article that this paragraph lacks (SQuAD
                   2.0's negatives are mostly one changed word: an entity, an antonym, a number);
  negated          "Who was ..." -> "Who was not ..." (SQuAD 2.0's negation negatives).

    python training/build_negatives.py --out training/.cache/negatives.json --per-kind 3000

Writes SQuAD layout, one paragraph per question, every question `is_impossible` with no answers.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from answerability import DATA, HELD_OUT, swap  # noqa: E402

from bertcli.ask.retrieve import BM25  # noqa: E402
from bertcli.ask.verify import STOPWORDS  # noqa: E402
from bertcli.eval import squad  # noqa: E402

_WORD = re.compile(r"[A-Za-z][a-z]{3,}")
_NEGATABLE = re.compile(r"^(Who|What|Which)( (?:was|were|is|are|has|had|have|can|could|will|would)) ")


def _terms(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def word_swap(question: str, paragraph: str, others: list[str], rng: random.Random) -> str | None:
    lower = paragraph.lower()
    words = [w for w in _WORD.findall(question) if w.lower() not in STOPWORDS and w.lower() in lower]
    if not words:
        return None
    target = rng.choice(words)
    pool = sorted({w for text in others for w in _WORD.findall(text)
                   if w.lower() not in STOPWORDS and w.lower() not in lower
                   and w[0].isupper() == target[0].isupper()})
    if not pool:
        return None
    return re.sub(rf"\b{re.escape(target)}\b", rng.choice(pool), question, count=1)


def negate(question: str) -> str | None:
    match = _NEGATABLE.match(question)
    if match is None or " not " in question:
        return None
    return question[:match.end(2)] + " not" + question[match.end(2):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-kind", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with gzip.open(DATA / "squad1.1-train.json.gz", "rt", encoding="utf-8") as fh:
        articles = json.load(fh)["data"][:-HELD_OUT]
    made: dict[str, list[tuple[str, str]]] = {k: [] for k in
                                              ("swapped", "other-paragraph", "word-swapped", "negated")}
    questions = [(a, q) for a in articles for q in squad.iter_questions([a])]
    rng.shuffle(questions)
    bm25_cache: dict[str, BM25] = {}
    text_of = {a["title"]: "\n\n".join(p["context"] for p in a["paragraphs"]) for a in articles}
    for article, q in questions:
        if all(len(v) >= args.per_kind for v in made.values()):
            break
        paragraphs = [p["context"] for p in article["paragraphs"]]
        kind = rng.choice(list(made))
        if len(made[kind]) >= args.per_kind:
            continue
        if kind == "swapped":
            changed = swap(q.question, text_of[article["title"]], rng)
            if changed:
                made[kind].append((changed, q.context))
        elif kind == "negated":
            changed = negate(q.question)
            if changed:
                made[kind].append((changed, q.context))
        elif kind == "word-swapped":
            others = rng.sample([p for p in paragraphs if p != q.context], min(3, len(paragraphs) - 1))
            changed = word_swap(q.question, q.context, others, rng)
            if changed:
                made[kind].append((changed, q.context))
        else:
            bm25 = bm25_cache.get(article["title"])
            if bm25 is None:
                bm25 = bm25_cache[article["title"]] = BM25.build([_terms(p) for p in paragraphs])
            scores = bm25.get_scores(_terms(q.question))
            for i in sorted(range(len(paragraphs)), key=lambda i: -scores[i]):
                if not any(a.lower() in paragraphs[i].lower() for a in q.answers):
                    made[kind].append((q.question, paragraphs[i]))
                    break
    data = []
    for kind, pairs in made.items():
        for n, (question, context) in enumerate(pairs):
            data.append({"title": kind, "paragraphs": [{"context": context, "qas": [
                {"id": f"{kind}-{n}", "question": question, "answers": [], "is_impossible": True}]}]})
        print(kind, len(pairs), "e.g.", pairs[0][0] if pairs else "-")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"version": "negatives-from-squad1.1", "data": data}), encoding="utf-8")


if __name__ == "__main__":
    main()
