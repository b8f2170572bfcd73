"""Embedding a long document's retrieval passages: MIN_BATCH passages a forward pass against one.

    python benchmarks/passage_batching.py [--repeat 5]

The retriever's passages (~120 words, 100-256 tokens) are longer than the token cap of a
batch (bertcli.backends.pooling.BATCH_TOKENS, tuned for sentences), so before MIN_BATCH each
went through the encoder alone. In one process, bundled encoder as `ask` runs it (ONNX
Runtime, `--precision auto`), the passages of benchmarks/.cache/doc10k.txt (written by
ask_speed.py) embedded with MIN_BATCH = 4 and 1 in turn; the median of `--repeat` runs each.
"""

from __future__ import annotations

import argparse
import statistics
import time

from run import CACHE


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from bertcli.ask.retrieve import Retriever
    from bertcli.backends import pooling
    from bertcli.sentences import split_sentences

    text = (CACHE / "doc10k.txt").read_text(encoding="utf-8")
    retriever = Retriever()
    index = retriever.index(text, split_sentences(text), "passage")
    passages = [text[u.start:u.end] for u in index.units]
    tokens = sorted(len(ids) for ids in retriever.encoder.token_ids(passages, True))
    retriever.encoder.embed_normalized(passages[:8], batch_size=4)  # the session is warm
    runs: dict[int, list[float]] = {}
    for _ in range(args.repeat):
        for rows in (pooling.MIN_BATCH, 1):
            saved, pooling.MIN_BATCH = pooling.MIN_BATCH, rows
            try:
                start = time.perf_counter()
                retriever.encoder.embed_normalized(passages, batch_size=4)  # as Index._embed
                runs.setdefault(rows, []).append(time.perf_counter() - start)
            finally:
                pooling.MIN_BATCH = saved
    print(f"{len(passages)} passages, median {tokens[len(tokens) // 2]} tokens")
    print("| passages a forward pass (at least) | s for all, median | ms a passage |")
    print("| --- | --- | --- |")
    for rows, times in runs.items():
        median = statistics.median(times)
        print(f"| {rows} | {median:.3f} | {1000 * median / len(passages):.1f} |")


if __name__ == "__main__":
    main()
