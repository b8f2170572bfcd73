"""What the int8 encoder costs: ROUGE and picks against exact float32, on CNN/DailyMail.

    python benchmarks/precision.py [--model M] [--limit N] [--strategies learned,central]

Runs every strategy that uses the encoder (learned, central, cluster; or --strategies) three ways on
../shared/data/cnndm-dev.jsonl: torch float32 (the reference), ONNX Runtime float32 and
ONNX Runtime int8, and prints ROUGE-1/2/Lsum and the share of articles where the same sentences
were picked as by torch. The bar for a default: ROUGE within 0.3 and the same picks for at
least 90% of articles. Then the same-picks share again on documents nothing was chosen on: the
first six paragraphs of each article of ../shared/data/squad1.1-dev.json and squad2-dev.json
(joined by blank lines, ~35 sentences like a news article; no references, so no ROUGE).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = HERE.parents[1] / "shared" / "data" / "cnndm-dev.jsonl"
HELD_OUT = [HERE.parents[1] / "shared" / "data" / name for name in ("squad1.1-dev.json", "squad2-dev.json")]
PARAGRAPHS = 6


def compared(backends, records, strategy):
    """(backend name, summaries, how many picked what the first backend picked), per backend."""
    reference = None
    for name, summarizer in backends.items():
        results = [summarizer(r["article"], num_sentences=3, strategy=strategy) for r in records]
        chosen = [tuple(s.index for s in result.sentences) for result in results]
        reference = reference or chosen
        yield name, results, sum(a == b for a, b in zip(chosen, reference))


def squad_documents(limit):
    import json

    data = [a for path in HELD_OUT for a in json.loads(path.read_text(encoding="utf-8"))["data"]]
    return [{"article": "\n\n".join(p["context"] for p in article["paragraphs"][:PARAGRAPHS])}
            for article in data[:limit]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="encoder (default: the bundled MiniLM)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--strategies", default="learned,central,cluster")
    args = parser.parse_args()
    strategies = args.strategies.split(",")

    from bertcli.eval.rouge import METRICS, load_jsonl, rouge_scores
    from bertcli.models import bundled_encoder_path
    from bertcli.summarize.summarizer import Summarizer

    model = args.model or str(bundled_encoder_path())
    records = load_jsonl(str(DATA), args.limit)
    quiet = lambda message: None  # noqa: E731
    os.environ["BERTCLI_NO_ONNX"] = "1"
    backends = {"torch fp32": Summarizer(model=model, device="cpu", notice=quiet, precision="fp32")}
    del os.environ["BERTCLI_NO_ONNX"]
    for precision in ("fp32", "int8"):
        backends[f"onnx {precision}"] = Summarizer(model=model, device="cpu", notice=quiet,
                                                   precision=precision)
    print(f"{len(records)} articles, encoder {model}, 3 sentences")
    print("| strategy | encoder | ROUGE-1 | ROUGE-2 | ROUGE-Lsum | same picks as torch fp32 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for strategy in strategies:
        for name, results, same in compared(backends, records, strategy):
            texts = ["\n".join(s.text for s in result.sentences) for result in results]
            scores = rouge_scores(texts, [r["highlights"] for r in records])
            cells = " | ".join(f"{sum(scores[m]) / len(records):.2f}" for m in METRICS)
            print(f"| {strategy} | {name} | {cells} | {100 * same / len(records):.0f}% |", flush=True)

    documents = squad_documents(args.limit)
    print(f"\nHeld out: {len(documents)} SQuAD dev articles (first {PARAGRAPHS} paragraphs), "
          "same picks as torch fp32")
    print("| strategy | encoder | same picks |")
    print("| --- | --- | --- |")
    for strategy in strategies:
        for name, _, same in compared(backends, documents, strategy):
            print(f"| {strategy} | {name} | {same}/{len(documents)} ({100 * same / len(documents):.0f}%) |",
                  flush=True)


if __name__ == "__main__":
    main()
