"""Data for `ask`'s answerability check (bertcli/verify.py): run the pipeline, keep its evidence.

SQuAD 2.0's training set cannot be had here, so negatives are built from SQuAD 1.1 training
articles that the bundled reader never trained on (the last 12, its held-out set), as Clark &
Gardner (2018) and the document readers after them do:
  (a) `other-paragraph`: the question asked of the paragraph of its article that BM25 ranks
      highest among those without its answer (same topic, no answer);
  (b) `other-article`: a question of another article asked of this one;
  (c) `swapped`: the question with one name, number or year replaced by another of the same kind
      from the same article (a rule-based stand-in for spaCy NER: no English NER model installs
      from the registries here), asked of the whole article, as SQuAD 2.0's own negatives look.
Positives are the questions asked of their own paragraph (`paragraph`) and of their whole
article (`article`). ../shared/data/squad2-train-10.json (real SQuAD 2.0 *training* questions,
348 of them unanswerable) is run the same way for choosing the threshold.

    python training/answerability.py extract heldout-para heldout-whole s2-para s2-whole

Each set is a JSONL file under training/.cache/answerability/, appended question by question:
interrupted, a rerun skips what is there. `fit_verifier.py` fits the model on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bertcli.eval import squad  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CACHE = Path(__file__).resolve().parent / ".cache" / "answerability"
HELD_OUT = 12  # the reader's held-out training articles (training/train_reader.py)
SEED = 0

_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
_NAME = re.compile(r"(?<!^)(?<![.?!] )\b([A-Z][\w'-]+(?: (?:of |de |the )?[A-Z][\w'-]+)*)")


def _kinds(text: str) -> dict[str, list[str]]:
    years = _YEAR.findall(text)
    numbers = [n for n in _NUMBER.findall(text) if n not in years]
    names = [m.group(1) for m in _NAME.finditer(text)]
    return {"year": years, "number": numbers, "name": names}


def swap(question: str, article_text: str, rng: random.Random) -> str | None:
    """`question` with one of its names/numbers/years replaced by another of the article's."""
    found = [(kind, v) for kind, values in _kinds(question).items() for v in values]
    if not found:
        return None
    pool = _kinds(article_text)
    rng.shuffle(found)
    for kind, value in found:
        options = sorted({v for v in pool[kind] if v != value and v not in question
                          and v.lower() not in value.lower() and value.lower() not in v.lower()})
        if options:
            return question.replace(value, rng.choice(options), 1)
    return None


def _load_train() -> list[dict]:
    with gzip.open(DATA / "squad1.1-train.json.gz", "rt", encoding="utf-8") as fh:
        return json.load(fh)["data"]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def cases(name: str) -> list[dict]:
    """The questions of one set: id, kind, question, document text, reference answers."""
    rng = random.Random(SEED)
    out: list[dict] = []
    if name.startswith("heldout"):
        articles = _load_train()
        held, rest = articles[-HELD_OUT:], articles[:-HELD_OUT]
        strangers = [q.question for q in squad.iter_questions(rest)]
    else:
        held = json.loads((DATA / "squad2-train-10.json").read_text(encoding="utf-8"))["data"]
        strangers = []
    for article in held:
        questions = list(squad.iter_questions([article]))
        paragraphs = [p["context"] for p in article["paragraphs"]]
        if name.endswith("-para"):
            from bertcli.ask.retrieve import BM25

            bm25 = BM25.build([_words(p) for p in paragraphs])
            if name.startswith("s2"):  # every unanswerable question and as many answerable
                unanswerable = [q for q in questions if not q.answers]
                answerable = [q for q in questions if q.answers]
                sample = unanswerable + rng.sample(answerable, min(len(answerable), len(unanswerable)))
            else:
                sample = rng.sample(questions, min(80, len(questions)))
            for q in sample:
                kind = "paragraph" if q.answers or not name.startswith("s2") else "unanswerable"
                out.append({"id": q.id, "kind": kind, "question": q.question,
                            "text": q.context, "answers": list(q.answers)})
                if name.startswith("s2"):
                    continue
                scores = bm25.get_scores(_words(q.question))
                for i in sorted(range(len(paragraphs)), key=lambda i: -scores[i]):
                    if not any(a.lower() in paragraphs[i].lower() for a in q.answers):
                        out.append({"id": q.id + "-a", "kind": "other-paragraph",
                                    "question": q.question, "text": paragraphs[i], "answers": []})
                        break
            if name.startswith("heldout"):
                for k, question in enumerate(rng.sample(strangers, 25)):
                    out.append({"id": f"{article['title']}-b{k}", "kind": "other-article",
                                "question": question, "text": rng.choice(paragraphs),
                                "answers": []})
        else:
            whole = squad.whole_articles([article])[0]
            if name.startswith("s2"):
                unanswerable = [q for q in whole.questions if not q.answers]
                answerable = [q for q in whole.questions if q.answers]
                chosen = unanswerable + rng.sample(answerable, min(len(answerable), len(unanswerable)))
            else:
                chosen = list(whole.questions)
            for q in chosen:
                out.append({"id": q.id, "kind": "article" if q.answers else "unanswerable",
                            "question": q.question, "text": whole.text, "answers": list(q.answers)})
            if name.startswith("heldout"):
                for k, question in enumerate(rng.sample(strangers, 50)):
                    out.append({"id": f"{article['title']}-b{k}", "kind": "other-article",
                                "question": question, "text": whole.text, "answers": []})
                swapped = 0
                for q in rng.sample(list(whole.questions), len(whole.questions)):
                    changed = swap(q.question, whole.text, rng)
                    if changed is None:
                        continue
                    out.append({"id": q.id + "-c", "kind": "swapped", "question": changed,
                                "text": whole.text, "answers": [], "original": q.question})
                    swapped += 1
                    if swapped == 50:
                        break
    return out


def extract(name: str, asker) -> None:
    from bertcli.read.document import Document

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.jsonl"
    done = set()
    if path.exists():
        done = {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()}
    todo = [c for c in cases(name) if c["id"] not in done]
    by_text: dict[str, list[dict]] = {}
    for case in todo:
        by_text.setdefault(case["text"], []).append(case)
    began, n = time.time(), 0
    with path.open("a", encoding="utf-8") as out:
        for text, group in by_text.items():
            for begin in range(0, len(group), 20):  # flushed every 20 questions
                part = group[begin:begin + 20]
                accepted = []
                for c in part:
                    try:
                        asker.check_question(c["question"])
                        accepted.append(c)
                    except Exception:
                        continue
                if not accepted:
                    continue
                results = asker.ask(Document(source=name, text=text),
                                    [c["question"] for c in accepted], abstain=False)
                for c, result in zip(accepted, results):
                    best = result.answers[0] if result.answers else None
                    row = {k: v for k, v in c.items() if k != "text"}
                    row["evidence"] = (dataclasses.asdict(best.evidence)
                                       if best is not None and best.evidence else None)
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                n += len(accepted)
                print(f"{name}: {n}/{len(todo)} in {time.time() - began:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["extract", "count"])
    parser.add_argument("sets", nargs="+",
                        choices=["heldout-para", "heldout-whole", "s2-para", "s2-whole"])
    args = parser.parse_args()
    if args.command == "count":
        for name in args.sets:
            got = cases(name)
            kinds: dict[str, int] = {}
            for c in got:
                kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
            print(name, len(got), kinds)
        return
    from bertcli.ask.asker import Asker

    asker = Asker(offline=True, notice=lambda m: print(m, file=sys.stderr))
    for name in args.sets:
        extract(name, asker)


if __name__ == "__main__":
    main()
