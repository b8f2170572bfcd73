"""Peak memory and time of `bertcli summarize` as the document grows (5k, 10k, 20k sentences).

    python benchmarks/summarize_scale.py [--sizes 5000,10000,20000] [--strategy learned]

Each size is one cold `bertcli summarize -n 5` process on a text of that many sentences (real
news sentences from ../shared/data/cnndm-val.jsonl.gz, repeated in a fixed order when the file
runs out), measured from outside: wall time and the child's peak RSS (getrusage). Time per
sentence should stay flat and memory grow no faster than the text (the `learned` scorer once
built an n x n similarity matrix: 2.2 GB at 20,000 sentences).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cnndm-val.jsonl.gz"


def sentences(count: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from bertcli.sentences import split_sentences

    pool: list[str] = []
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        for line in fh:
            pool += [s.text for s in split_sentences(json.loads(line)["article"], "en")
                     if len(s.text.split()) >= 6]
            if len(pool) >= count:
                break
    return [pool[i % len(pool)] for i in range(count)]


def measure(text_path: str, strategy: str) -> tuple[float, float]:
    exe = [sys.executable, "-m", "bertcli", "summarize", text_path, "-n", "5", "-s", strategy,
           "--offline", "--quiet", "-f", "json"]
    began = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(exe, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak_kb, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,10000,20000")
    parser.add_argument("--strategy", default="learned")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    pool = sentences(max(sizes))
    print("| sentences | wall s | ms per sentence | peak RSS MB |\n| --- | --- | --- | --- |")
    for size in sizes:  # ascending: getrusage's peak is the largest child so far
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
            fh.write(" ".join(pool[:size]))
        try:
            seconds, peak = measure(fh.name, args.strategy)
        finally:
            os.unlink(fh.name)
        print(f"| {size:,} | {seconds:.1f} | {1000 * seconds / size:.2f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
