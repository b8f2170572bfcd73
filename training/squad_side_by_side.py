"""`learned` next to `central` on Wikipedia (SQuAD 1.1 dev articles): text nobody tuned on.

    OMP_NUM_THREADS=1 python training/squad_side_by_side.py [--show 5] > side_by_side.md

Each article is its first six paragraphs joined by blank lines (as benchmarks/precision.py
does). Per article: how many picks the two strategies share, how many of each are among the
first three candidates, and the document's position trust (Spearman correlation of earliness
and centrality, which `central` uses). No references exist, so no ROUGE: the summaries are
printed for reading.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
SQUAD = HERE.parents[1] / "shared" / "data" / "squad1.1-dev.json"
PARAGRAPHS = 6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show", type=int, default=5)
    args = parser.parse_args()

    from embed_cache import candidates_of

    from bertcli.backends.onnx_backend import load_fast_encoder
    from bertcli.models import bundled_encoder
    from bertcli.summarize.doc_scorer import DocScorer
    from bertcli.summarize.select import central_select, position_trust

    encoder = load_fast_encoder(bundled_encoder(), "int8", lambda m: print(m, file=sys.stderr))
    scorer = DocScorer.load()
    articles = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    rows, shown = [], []
    for article in articles:
        text = "\n\n".join(p["context"] for p in article["paragraphs"][:PARAGRAPHS])
        cands = candidates_of(text)
        vectors = encoder.embed_normalized([c.text for c in cands])
        lengths = np.array([len(c.text.split()) for c in cands], dtype=np.float64)
        learned = scorer.select(vectors, lengths, 3, [c.text for c in cands])
        central = central_select(vectors, 3)
        centrality = vectors @ (vectors.mean(axis=0) / np.linalg.norm(vectors.mean(axis=0)))
        rows.append((article["title"], len(cands), len(set(learned) & set(central)),
                     sum(i < 3 for i in learned), sum(i < 3 for i in central),
                     position_trust(centrality)))
        shown.append((article["title"], [cands[i].text for i in learned],
                      [cands[i].text for i in central], learned, central))
    print("| article | candidates | shared picks | learned in first 3 | central in first 3 | position trust |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]}/3 | {r[3]} | {r[4]} | {r[5]:.2f} |")
    n = len(rows)
    print(f"\n{n} articles: identical summaries {sum(r[2] == 3 for r in rows)}, mean shared picks "
          f"{np.mean([r[2] for r in rows]):.2f}/3, learned picks in the first three "
          f"{np.mean([r[3] for r in rows]):.2f}, central {np.mean([r[4] for r in rows]):.2f}, "
          f"mean position trust {np.mean([r[5] for r in rows]):.2f}")
    for title, a, b, ia, ib in shown[:args.show]:
        print(f"\n**{title}** (candidates {ia} learned, {ib} central)\n")
        print("| learned | central |\n| --- | --- |")
        for x, y in zip(a, b):
            print(f"| {x} | {y} |")


if __name__ == "__main__":
    main()
