"""`bertcli batch summarize`: documents per second for each engine and 1 or 2 workers, beside
one `bertcli summarize` call over the same articles (the baseline), in one run.

    nice python benchmarks/batch.py              # 1,000 CNN/DailyMail validation articles, 2 rounds
    nice python benchmarks/batch.py --n 300      # fewer

Every number is a whole process, start-up included (Ray: starting a local cluster and its
actors). Each case also runs on 2 articles, to separate the fixed cost (start-up, loading one
model per worker, Ray's cluster) from the per-article cost: the marginal rate,
(n - 2) / (wall_n - wall_2), is what a long run on a cluster would see per machine. The output
of every batch case is checked against the baseline's sentences. The default strategy
(learned, bundled encoder, int8 ONNX) is used throughout; the ONNX copy is prepared before
timing. Not a test: compare ratios measured in the same run; the machine is shared.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
PY = sys.executable
BERTCLI = [shutil.which("bertcli", path=os.path.dirname(PY)) or "bertcli"]


def articles(n: int) -> list[dict]:
    out = []
    with gzip.open(DATA / "cnndm-val.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            out.append({"id": row.get("id") or f"val{len(out):05d}", "text": row["article"]})
            if len(out) == n:
                break
    return out


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def spans_of_summarize(stdout: str) -> dict[str, list]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {Path(r["source"]).stem: [(s["start"], s["end"]) for s in r["sentences"]] for r in rows}


def spans_of_batch(text: str) -> dict[str, list]:
    rows = [json.loads(line) for line in text.splitlines()]
    return {r["id"]: [(s["start"], s["end"]) for s in r["sentences"]] for r in rows}


def driver_rate(docs: list[dict], work: Path) -> float:
    """Documents per second that the driver alone handles (read the corpus, pass rows through
    Ray's JSON envelope, write shards and the final file): where one driver stops keeping up."""
    from bertcli.batch.corpus import read_corpus
    from bertcli.batch.output import ShardedOutput

    corpus = work / "driver.jsonl"
    with open(corpus, "w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
    start = time.perf_counter()
    output = ShardedOutput(str(work / "driver-out.jsonl"), {}, 1000)
    shard = []
    for record in read_corpus(str(corpus)):
        text = record.text or ""
        row = {"id": record.id, "model": "m", "strategy": "learned", "error": None,
               "sentences": [{"index": i, "start": 0, "end": 200, "text": text[:200]} for i in range(3)]}
        shard.append(json.loads(json.dumps({"row": row, "notices": []}))["row"])
        if len(shard) == 1000:
            output.write_shard(shard)
            shard = []
    if shard:
        output.write_shard(shard)
    output.finish()
    return len(docs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="articles (default 1000)")
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; each case keeps its fastest")
    parser.add_argument("--driver-only", action="store_true",
                        help="only the driver's own rate (reading and writing, no model)")
    args = parser.parse_args()
    if args.driver_only:
        with tempfile.TemporaryDirectory() as tmp:
            rates = sorted(driver_rate(articles(args.n), Path(tmp)) for _ in range(3))
        print(f"driver alone: {rates[1]:.0f} documents/s ({args.n} articles, median of 3)")
        return

    docs = articles(args.n)
    work = Path(tempfile.mkdtemp(prefix="bertcli-batch-bench-"))
    try:
        folder = work / "files"
        folder.mkdir()
        paths = []
        for doc in docs:
            path = folder / f"{doc['id']}.txt"
            path.write_text(doc["text"], encoding="utf-8")
            paths.append(str(path))
        corpora = {}
        for size in (2, len(docs)):
            corpora[size] = work / f"corpus{size}.jsonl"
            with open(corpora[size], "w", encoding="utf-8") as handle:
                for doc in docs[:size]:
                    handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
        # The ONNX copy of the encoder, prepared once (a first run's export is not measured).
        timed(BERTCLI + ["summarize", paths[0], "--offline"])

        # Cases take turns, `--repeat` rounds, each keeping its fastest run: load from other
        # processes on a shared machine then falls on every case alike.
        cases = [("bertcli summarize (one call, all files)", None, 0)]
        cases += [(f"batch --engine {e} --workers {w}", e, w) for e in args.engines.split(",") for w in (1, 2)]
        walls: dict[str, dict[int, float]] = {name: {} for name, _, _ in cases}
        outputs: dict[str, str] = {}
        for _ in range(args.repeat):
            for name, engine, workers in cases:
                for size in (2, len(docs)):
                    if engine is None:
                        cmd = BERTCLI + ["summarize", *paths[:size], "-f", "jsonl", "--offline"]
                    else:
                        out = work / f"{engine}{workers}-{size}.jsonl"
                        out.unlink(missing_ok=True)  # a fresh run each time, not a resumed one
                        cmd = BERTCLI + ["batch", "summarize", str(corpora[size]), "--out", str(out),
                                         "--engine", engine, "--workers", str(workers), "--offline",
                                         "--quiet"]
                    wall, stdout = timed(cmd)
                    walls[name][size] = min(wall, walls[name].get(size, wall))
                    if size == len(docs):
                        outputs[name] = stdout if engine is None else out.read_text(encoding="utf-8")
                print(f"{name}: {walls[name]}", file=sys.stderr)
        expected = spans_of_summarize(outputs[cases[0][0]])
        results = []
        for name, engine, _ in cases:
            if engine is None:
                results.append((name, "-", walls[name]))
                continue
            got = spans_of_batch(outputs[name])
            same = sum(got.get(k) == v for k, v in expected.items())
            results.append((name, f"{same}/{len(expected)}", walls[name]))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = len(docs)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}; {n} CNN/DailyMail validation articles "
          f"({sum(len(d['text'].split()) for d in docs):,} words), default strategy (learned, int8)\n")
    print("| case | wall s | docs/s | vs summarize | fixed s (2 docs) | marginal docs/s | same sentences |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    base_rate = n / results[0][2][n]
    for name, same, wall in results:
        rate = n / wall[n]
        marginal = (n - 2) / max(wall[n] - wall[2], 1e-9)
        print(f"| {name} | {wall[n]:.1f} | {rate:.2f} | {rate / base_rate:.2f}x | {wall[2]:.1f} | "
              f"{marginal:.2f} | {same} |")


if __name__ == "__main__":
    main()
