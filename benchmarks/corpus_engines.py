"""Vector engines side by side on a million real passages: which one the corpus index uses.

    python benchmarks/corpus_engines.py [--rows 1000000] [--engines lance-ivfpq,faiss-ivf,...]

Each engine runs in a process of its own (its peak RSS is its own): build an index over the
rows of benchmarks/corpus_data.py (vectors streamed from disk where the engine allows), then
ask 500 SQuAD dev questions' embeddings for their 10 nearest rows, one at a time. Reports build
time, peak RSS, size on disk, p50/p95 search latency (dense only: no question embedding, no
full-text search; those are in benchmarks/corpus_index.py) and recall@10 against exact search.
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
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# Search settings tried on one build: Lance IVF-PQ (nprobes, refine_factor), HNSW (nprobes, ef);
# FAISS nprobe (of 4 sqrt(rows) lists)
SETTINGS = {"lance-ivfpq": [(20, 10), (50, 20), (100, 30), (200, 50)],
                  "lance-hnsw-sq": [(10, 100), (30, 200)],
                  "faiss-ivf-flat": [32, 128, 256], "faiss-ivf-pq": [32, 128, 256]}  # nprobe
ENGINES = ["exact", "lance-ivfpq", "lance-hnsw-sq", "faiss-ivf-flat", "faiss-ivf-pq"]
K = 10
BATCH = 50_000


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() \
        else path.stat().st_size


def exact_top(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    tops = []
    for q in queries:
        scores = np.concatenate([vectors[b:b + 262_144] @ q
                                 for b in range(0, len(vectors), 262_144)])
        top = np.argpartition(-scores, K)[:K]
        tops.append(top[np.argsort(-scores[top])])
    return np.array(tops)


def lance_build(corpus: Path, vectors: np.ndarray, work: Path, index_type: str):
    import lancedb
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = pq.read_table(corpus / "rows.parquet", columns=["text"]).column("text")
    dim = vectors.shape[1]
    schema = pa.schema([("row", pa.int64()), ("text", pa.string()),
                        ("vector", pa.list_(pa.float32(), dim))])

    def batches():
        for b in range(0, len(vectors), BATCH):
            v = np.ascontiguousarray(vectors[b:b + BATCH])
            yield pa.record_batch([pa.array(np.arange(b, b + len(v))), texts[b:b + len(v)].combine_chunks(),
                                   pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), dim)],
                                  schema=schema)

    db = lancedb.connect(str(work))
    table = db.create_table("passages", data=pa.RecordBatchReader.from_batches(schema, batches()))
    partitions = int(np.sqrt(len(vectors)))
    if index_type == "IVF_PQ":
        table.create_index(metric="dot", index_type="IVF_PQ", num_partitions=partitions,
                           num_sub_vectors=dim // 8)
    else:
        table.create_index(metric="dot", index_type=index_type, num_partitions=partitions // 16)

    def searcher(setting: tuple[int, int]):
        def search(q: np.ndarray) -> np.ndarray:
            query = table.search(q).distance_type("dot").limit(K).select(["row", "_distance"])
            query = (query.nprobes(setting[0]).refine_factor(setting[1]) if index_type == "IVF_PQ"
                     else query.nprobes(setting[0]).ef(setting[1]))
            return query.to_arrow().column("row").to_numpy()
        return search
    return searcher


def faiss_build(vectors: np.ndarray, kind: str):
    import faiss

    dim = vectors.shape[1]
    nlist = int(4 * np.sqrt(len(vectors)))
    quantizer = faiss.IndexFlatIP(dim)
    index = (faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT) if kind == "flat"
             else faiss.IndexIVFPQ(quantizer, dim, nlist, dim // 8, 8, faiss.METRIC_INNER_PRODUCT))
    if kind == "pq":  # the full vectors kept beside it to re-rank, as Lance's refine_factor does
        index = faiss.IndexRefineFlat(index)
        index.k_factor = 10
    sample = np.ascontiguousarray(vectors[np.random.default_rng(0).choice(
        len(vectors), min(100_000, len(vectors)), replace=False)])
    index.train(sample)
    for b in range(0, len(vectors), BATCH):
        index.add(np.ascontiguousarray(vectors[b:b + BATCH]))

    def searcher(nprobe: int):
        def search(q: np.ndarray) -> np.ndarray:
            faiss.extract_index_ivf(index).nprobe = nprobe
            return index.search(q[None, :], K)[1][0]
        return search
    return searcher, index


def one_engine(engine: str, corpus: Path) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    vectors = np.load(corpus / "vectors.npy", mmap_mode="r")
    questions = json.loads((corpus / "questions.json").read_text(encoding="utf-8"))["questions"]
    queries = np.array([q["vector"] for q in questions], dtype=np.float32)
    truth = np.load(corpus / "exact.npy")
    work = Path(tempfile.mkdtemp(prefix="engine-", dir=corpus))
    t = time.perf_counter()
    size = 0
    if engine == "exact":
        def search(q: np.ndarray) -> np.ndarray:
            return exact_top(vectors, q[None, :])[0]
        size = size_of(corpus / "vectors.npy")
    elif engine.startswith("lance"):
        searcher = lance_build(corpus, vectors, work, "IVF_PQ" if engine == "lance-ivfpq" else "IVF_HNSW_SQ")
    else:
        import faiss

        searcher, index = faiss_build(vectors, "flat" if engine == "faiss-ivf-flat" else "pq")
        faiss.write_index(index, str(work / "index.faiss"))
    build = time.perf_counter() - t
    size = size or size_of(work)
    settings = SETTINGS.get(engine, [None])
    results = []
    for setting in settings:
        if setting is not None:
            search = searcher(setting)
        search(queries[0])  # first query: index files opened, caches warmed
        times, found = [], []
        for q, gold in zip(queries, truth):
            t = time.perf_counter()
            rows = search(q)
            times.append(time.perf_counter() - t)
            found.append(len(set(rows.tolist()) & set(gold.tolist())) / K)
        results.append({"setting": setting, "p50_ms": round(1000 * float(np.percentile(times, 50)), 1),
                        "p95_ms": round(1000 * float(np.percentile(times, 95)), 1),
                        "recall_at_10": round(float(np.mean(found)), 4)})
    shutil.rmtree(work, ignore_errors=True)
    return {"engine": engine, "build_s": round(build, 1), "size_mb": round(size / 1e6),
            "results": results, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import corpus_data

    corpus, meta = corpus_data.load(args.rows)
    if args.one:
        print(json.dumps(one_engine(args.one, corpus)))
        return
    if not (corpus / "exact.npy").exists():
        vectors = np.load(corpus / "vectors.npy", mmap_mode="r")
        queries = np.array([q["vector"] for q in meta["questions"]], dtype=np.float32)
        np.save(corpus / "exact.npy", exact_top(vectors, queries))
    print(f"{args.rows} rows ({meta['sources']}), {len(meta['questions'])} questions, k={K}")
    print("| engine | build (s) | peak RSS (MB) | on disk (MB) | p50 (ms) | p95 (ms) | recall@10 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for engine in args.engines.split(","):
        proc = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--one", engine],
                              capture_output=True, text=True)
        if proc.returncode:
            print(f"| {engine} | failed: {proc.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        for one in r["results"]:
            name = engine + (f" {one['setting']}" if one["setting"] else "")
            print(f"| {name} | {r['build_s']} | {r['peak_rss_mb']} | {r['size_mb']} | "
                  f"{one['p50_ms']} | {one['p95_ms']} | {one['recall_at_10']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
