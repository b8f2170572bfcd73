"""`summarize` speed with the document-level scorer (issue #29), beside the code before it.

    python benchmarks/summary_speed.py [--before REV]

Whole processes, one after another, bundled encoder, `--offline`: (a) `summarize
examples/article.txt`, cold process, median of 5; (b) `batch summarize` of the first 100
cnndm-val articles, one worker per core (the local engine), per article. `before` is the code
at REV (default 9477948, the MLP scorer) run from a git worktree; `now` is this tree.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os

from run import CACHE, DATA, HERE, PY, Before, Table, mb, measure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="9477948")
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    corpus = CACHE / "cnndm-val-100.jsonl"
    with gzip.open(DATA / "cnndm-val.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for _, line in zip(range(100), f)]
    corpus.write_text("".join(json.dumps({"id": r["id"], "text": r["article"]}) + "\n" for r in rows),
                      encoding="utf-8")
    example = HERE.parent / "examples" / "article.txt"
    t = Table("summarize: cold process and batch, before and now",
              ["code", "summarize article.txt: s (peak RSS MB)", "batch of 100: s per article"])
    with Before(args.before) as before:
        for name, tree in (("before", before.path), ("now", HERE.parent)):
            cache = CACHE / "bertcli-cache"  # the ONNX copies, made before anything is timed
            env = dict(os.environ, BERTCLI_CACHE=str(cache), HF_HUB_OFFLINE="1",
                       BERTCLI_QUIET="1", PYTHONPATH=str(tree))
            cli = [PY, "-P", "-m", "bertcli"]
            measure(cli + ["summarize", example, "--offline"], env)
            wall, rss, _ = measure(cli + ["summarize", example, "--offline"], env, repeat=5)
            out = CACHE / f"batch-{name}.jsonl"
            if out.exists():
                out.unlink()
            batch, _, _ = measure(cli + ["batch", "summarize", corpus, "-o", out, "--offline"], env)
            t.row(name, f"{wall:.2f} ({mb(rss)})", f"{batch / 100:.3f}")


if __name__ == "__main__":
    main()
