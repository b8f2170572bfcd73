"""ROUGE of lead, central and learned on cached candidates and embeddings (no encoder run).

    python training/score_cached.py val [--scorer bertcli/summarize/doc_scorer.npz] [--part tune|report|all]

Same candidates, same int8 embeddings and same rouge-score call as `bertcli eval summarize`,
so the numbers match it; this only skips embedding the articles again. Differences against
lead come with 95% bootstrap intervals and win/loss rates (bertcli.eval.rouge.EvalReport).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from summary_data import lead_picks, load_docs, rouge_of  # noqa: E402
from train_doc_scorer import picks_of  # noqa: E402


def central_picks(docs, k=3):
    from bertcli.summarize.select import central_select

    return [list(range(len(d["texts"]))) if len(d["texts"]) <= k
            else central_select(d["vectors"], k) for d in docs]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tag")
    parser.add_argument("--scorer", default=str(HERE.parent / "bertcli" / "summarize" / "doc_scorer.npz"))
    parser.add_argument("--part", default="all", choices=("all", "tune", "report"))
    parser.add_argument("--baseline", default="lead", choices=("lead", "central"))
    args = parser.parse_args()

    from bertcli.eval.rouge import EvalReport
    from bertcli.summarize.doc_scorer import DocScorer

    docs = load_docs(args.tag)
    docs = {"all": docs, "tune": docs[:500], "report": docs[500:]}[args.part]
    picks = {"lead": lead_picks(docs), "central": central_picks(docs)}
    if args.scorer and Path(args.scorer).exists():
        picks["learned"] = picks_of(DocScorer.load(Path(args.scorer)), docs)
    scores = {name: rouge_of(docs, p) for name, p in picks.items()}
    for name in picks:
        if name == args.baseline:
            continue
        report = EvalReport(name, "all-MiniLM-L6-v2", len(docs), scores[name], args.baseline,
                            scores[args.baseline])
        print(json.dumps({"tag": args.tag, "part": args.part, **report.summary()}))


if __name__ == "__main__":
    main()
