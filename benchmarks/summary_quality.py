"""The summary quality table (docs/quality.md, "Summary quality"), end to end, in one command.

    python benchmarks/summary_quality.py            # ~20 min on 2 cores: 4 runs of `bertcli eval`
    python benchmarks/summary_quality.py --limit 100  # a quick look

Runs `bertcli eval summarize` as a user would (3 sentences, bundled encoder, `--precision
auto`) on ../shared/data/cnndm-val.jsonl.gz (`learned` and `central` against `lead`; shuffled
sentences, `learned` against `central`) and on cnndm-dev.jsonl (never tuned on), and prints the
table in Markdown with each score's 95% bootstrap interval and the paired differences.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
METRICS = ("rouge1", "rouge2", "rougeLsum")


def evaluate(data: Path, strategy: str, baseline: str, limit: int | None, shuffle: int | None) -> dict:
    cmd = [sys.executable, "-m", "bertcli", "eval", "summarize", str(data), "-s", strategy,
           "--baseline", baseline, "--offline", "--quiet", "-f", "json"]
    cmd += ["--limit", str(limit)] if limit else []
    cmd += ["--shuffle", str(shuffle)] if shuffle is not None else []
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def cells(report: dict, what: str) -> list[str]:
    """One row's three cells: a score with its interval, or the difference with its interval."""
    row = []
    for metric in METRICS:
        m = report["metrics"][metric]
        if what == "score":
            low, high = m["ci95"]
            row.append(f"{m['f1']:.2f} [{low:.2f}, {high:.2f}]")
        elif what == "baseline":
            row.append(f"{m['vs_baseline']['baseline_f1']:.2f}")
        else:
            d = m["vs_baseline"]
            low, high = d["difference_ci95"]
            row.append(f"{d['difference']:+.2f} [{low:+.2f}, {high:+.2f}] "
                       f"(wins {100 * d['win_rate']:.0f}% / losses {100 * d['loss_rate']:.0f}%)")
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    val, dev = DATA / "cnndm-val.jsonl.gz", DATA / "cnndm-dev.jsonl"
    learned = evaluate(val, "learned", "lead", args.limit, None)
    central = evaluate(val, "central", "lead", args.limit, None)
    shuffled = evaluate(val, "learned", "central", args.limit, 1)
    on_dev = evaluate(dev, "learned", "lead", None, None)
    rows = [
        ("`lead` (filtered: the first 3 candidates)", cells(learned, "baseline")),
        ("**`learned` (default)**", cells(learned, "score")),
        ("`central`", cells(central, "score")),
        ("`learned` − `lead`, 95% CI", cells(learned, "difference")),
        ("`central` − `lead`, 95% CI", cells(central, "difference")),
        ("shuffled (`--shuffle 1`): `learned`", cells(shuffled, "score")),
        ("shuffled: `central`", cells(shuffled, "baseline")),
        ("shuffled: `learned` − `central`, 95% CI", cells(shuffled, "difference")),
        ("cnndm-dev (50, never tuned on): `learned`", cells(on_dev, "score")),
        ("cnndm-dev: `lead`", cells(on_dev, "baseline")),
        ("cnndm-dev: `learned` − `lead`, 95% CI", cells(on_dev, "difference")),
    ]
    articles = learned["articles"]
    print(f"cnndm-val: {articles} articles; 3 sentences; ROUGE F1 (rouge-score, stemming)\n")
    print("| row | ROUGE-1 | ROUGE-2 | ROUGE-Lsum |")
    print("| --- | --- | --- | --- |")
    for name, row in rows:
        print(f"| {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
