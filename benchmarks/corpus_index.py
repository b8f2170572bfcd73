"""bertcli's corpus index at a million passages: build, size, question latency, recall.

    python benchmarks/corpus_index.py [--rows 1000000]

Rows: benchmarks/corpus_data.py (real passages and their embeddings by the bundled encoder).
1. Build: bertcli.batch.index.write_index, in a process of its own, from rows streamed as
   `batch index` streams its shards (one passage per document here; the vectors were embedded
   by corpus_data.py, so embedding time is not in this figure: see "Batch" in
   benchmarks/README.md for the encoder's throughput). Wall time, peak RSS, size on disk.
2. Questions: 500 SQuAD dev questions through CorpusIndex.search, as `ask --index` calls it
   (question embedding + vector search + full-text search + rank fusion; the reader excluded):
   p50/p95; recall@10 of the vector search against exact search over the same vectors; and
   how often the question's own paragraph is among the 10 passages the reader would get.
Not a test: nothing fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import corpus_data  # noqa: E402  (benchmarks/ is not a package)

K = 10


def streamed_rows(corpus: Path, batch: int = 20_000):
    """IndexTask-shaped rows, the vectors read from disk in chunks (not memory-mapped: mapped
    pages would count in the build's RSS although the build never holds them)."""
    import pyarrow.parquet as pq

    header = np.load(corpus / "vectors.npy", mmap_mode="r")
    rows, dim, offset = header.shape[0], header.shape[1], header.offset
    del header
    texts = pq.ParquetFile(corpus / "rows.parquet")
    with open(corpus / "vectors.npy", "rb") as handle:
        handle.seek(offset)
        for part in texts.iter_batches(batch_size=batch, columns=["id", "text"]):
            vectors = np.frombuffer(handle.read(part.num_rows * dim * 4), dtype=np.float32)
            vectors = vectors.reshape(part.num_rows, dim)
            for i, (doc_id, text) in enumerate(zip(part.column(0).to_pylist(), part.column(1).to_pylist())):
                yield {"id": doc_id, "passages": [[0, len(text)]], "texts": [text],
                       "vectors": vectors[i].tobytes(), "error": None}
    assert rows


def build(corpus: Path, out: Path) -> dict:
    from bertcli.ask.retrieve import Retriever
    from bertcli.batch.index import write_index
    from bertcli.batch.index_store import encoder_record

    encoder = encoder_record(Retriever(device="cpu"))
    t = time.perf_counter()
    stats = write_index(str(out), streamed_rows(corpus), encoder)
    return {"build_s": round(time.perf_counter() - t, 1), "passages": stats.passages,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "size_mb": round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6)}


def ask(corpus: Path, out: Path, meta: dict) -> dict:
    from bertcli.batch.index import CorpusIndex

    index = CorpusIndex(str(out))
    truth = np.load(corpus / "exact.npy") if (corpus / "exact.npy").exists() else None
    import pyarrow.parquet as pq

    ids = pq.read_table(corpus / "rows.parquet", columns=["id"]).column("id").to_pylist()
    questions = meta["questions"]
    index.search(questions[0]["question"], K)  # model loaded, index files opened
    times, answered, recall = [], 0, []
    for q in questions:
        t = time.perf_counter()
        hits = index.search(q["question"], K)
        times.append(time.perf_counter() - t)
        answered += any(h.id == q["answer_id"] for h in hits)
    if truth is not None:
        for q, gold in zip(questions, truth):
            found = {row["id"] for row in index.nearest(np.asarray(q["vector"]), K)}
            recall.append(len(found & {ids[i] for i in gold}) / K)
    return {"p50_ms": round(1000 * float(np.percentile(times, 50)), 1),
            "p95_ms": round(1000 * float(np.percentile(times, 95)), 1),
            "answer_in_10": round(answered / len(questions), 3),
            "recall_at_10": round(float(np.mean(recall)), 4) if recall else None}


def training_recall(corpus: Path, out: Path, n: int = 500) -> float:
    """recall@10 of the vector search against exact search for `n` SQuAD 1.1 *training*
    questions (the search settings were chosen on these; the table's dev questions report)."""
    import gzip

    from corpus_engines import exact_top

    from bertcli.ask.retrieve import Retriever
    from bertcli.batch.index import CorpusIndex

    with gzip.open(corpus_data.DATA / "squad1.1-train.json.gz", "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    questions = [qa["question"] for a in data for p in a["paragraphs"] for qa in p["qas"]]
    picked = [questions[i] for i in sorted(np.random.default_rng(2).permutation(len(questions))[:n])]
    vectors = np.asarray(Retriever(device="cpu").encoder.embed_normalized(picked, batch_size=32),
                         dtype=np.float32)
    truth = exact_top(np.load(corpus / "vectors.npy", mmap_mode="r"), vectors)
    import pyarrow.parquet as pq

    ids = pq.read_table(corpus / "rows.parquet", columns=["id"]).column("id").to_pylist()
    index = CorpusIndex(str(out))
    found = [len({r["id"] for r in index.nearest(v, K)} & {ids[i] for i in gold}) / K
             for v, gold in zip(vectors, truth)]
    return round(float(np.mean(found)), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the index (and reuse it)")
    parser.add_argument("--step", choices=["build", "ask"], help=argparse.SUPPRESS)
    parser.add_argument("--training-recall", action="store_true",
                        help="only: recall@10 for 500 SQuAD training questions (needs --keep's index)")
    args = parser.parse_args()
    corpus, meta = corpus_data.load(args.rows)
    out = corpus / "bertcli-index"
    if args.step == "build":
        print(json.dumps(build(corpus, out)))
        return
    if args.step == "ask":
        print(json.dumps(ask(corpus, out, meta)))
        return
    if args.training_recall:
        print(json.dumps({"training_recall_at_10": training_recall(corpus, out)}))
        return
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    results = {}
    if not (args.keep and out.exists()):
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--step", "build"],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(proc.stderr)
        results.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    proc = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--step", "ask"],
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr)
    results.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    print(f"{args.rows} passages ({meta['sources']}); {len(meta['questions'])} questions")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
