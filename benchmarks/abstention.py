"""How often `ask` abstains when the document cannot answer: questions of *other* articles.

    python benchmarks/abstention.py [../shared/data/squad1.1-dev.json] [--pairs 200]

Builds `--pairs` (question, article) pairs from a SQuAD file, each question asked of the whole
text of an article that is not its own (seeded, so the pairs are the same on every run), asks
them through `Asker.ask` exactly as `bertcli ask` does (bundled reader, offline), and prints the
share of pairs answered "no answer", with the scores of those it answered anyway.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bertcli.eval import squad  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "squad1.1-dev.json"


def pairs(path: Path, count: int, seed: int = 0) -> list[tuple[str, squad.Article]]:
    articles = squad.whole_articles(squad.load_articles(path))
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        own, other = rng.sample(range(len(articles)), 2)
        question = rng.choice(articles[own].questions).question
        out.append((question, articles[other]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT))
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    from bertcli.ask.asker import Asker
    from bertcli.read.document import Document

    asker = Asker(offline=True, notice=lambda m: None)
    began = time.perf_counter()
    abstained, answered = 0, []
    by_article: dict[str, list[str]] = {}
    articles: dict[str, squad.Article] = {}
    for question, article in pairs(Path(args.data), args.pairs):
        by_article.setdefault(article.title, []).append(question)
        articles[article.title] = article
    for title, questions in by_article.items():
        doc = Document(source=title, text=articles[title].text)
        for result in asker.ask(doc, questions):
            if result.answers:
                answered.append((result.answers[0].score, result.question, result.answers[0].text))
            else:
                abstained += 1
    seconds = time.perf_counter() - began
    print(f"{args.pairs} questions asked of another article: abstained on {abstained} "
          f"({100.0 * abstained / args.pairs:.1f}%), {seconds:.0f} s")
    for score, question, text in sorted(answered, reverse=True)[:10]:
        print(f"  answered {score:.2f}: {question!r} -> {text!r}")


if __name__ == "__main__":
    main()
