"""What the new answer selection costs per question, next to the reading it selects from.

The same windows and the same logits go through the pipeline's per-window decoding
(`read_contexts`, bertcli 0.1.0) and the document-level ranking (`read_passages`, now);
the reader's forward pass over those windows is timed once for scale.

    python benchmarks/selection_cost.py
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bertcli.ask.parity import read_contexts  # noqa: E402
from bertcli.ask.spans import read_passages  # noqa: E402
from bertcli.backends.torch_backend import Reader  # noqa: E402
from bertcli.eval import squad  # noqa: E402
from bertcli.models import bundled_reader  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "squad1.1-dev.json")


def main() -> None:
    article = squad.whole_articles(squad.load_articles(DATA))[0]
    paragraphs = article.text.split(squad.ARTICLE_SEPARATOR)[:10]  # ten passages, as ask reads
    contexts, offset = [], 0
    for p in paragraphs:
        contexts.append((offset, p))
        offset += len(p) + 2
    reader = Reader(bundled_reader(), "cpu")
    questions = [q.question for q in article.questions[:20]]
    forward = reader.logits
    cache = {}

    def cached(windows, batch_size=0):
        key = tuple(tuple(w["input_ids"]) for w in windows)
        if key not in cache:
            cache[key] = forward(windows)
        return cache[key]

    reader.logits = cached
    began = time.perf_counter()
    for q in questions:
        read_contexts(reader, q, contexts)  # fills the cache: the reader's forward passes
    reading = (time.perf_counter() - began) / len(questions)
    timings = {}
    for name, fn in (("pipeline per-window (0.1.0)", read_contexts), ("across passages (now)", read_passages)):
        began = time.perf_counter()
        for _ in range(3):
            for q in questions:
                fn(reader, q, contexts)
        timings[name] = (time.perf_counter() - began) / (3 * len(questions))
    print(f"{len(questions)} questions, {len(contexts)} passages each")
    print(f"reading (forward passes + first decoding): {reading * 1000:.0f} ms per question")
    for name, seconds in timings.items():
        print(f"{name}: {seconds * 1000:.1f} ms per question (windows + decoding, logits cached)")


if __name__ == "__main__":
    main()
