"""`ask` on long documents (issue #30): the first question no longer waits for the whole
document to be embedded. Side by side in one run, whole processes, bundled reader:

- `before`: the code at a git revision (default 9477948, the last commit before lazy
  embedding), run from a `git worktree` of it, embedding every passage at indexing time;
- `now`: this working tree, embedding only the passages BM25 ranks best for each question.

- `now, no fill`: this tree with BERTCLI_NO_FILL=1: a new question in a new process embeds
  its own candidates;
- `now`: this tree as users run it: the first call leaves a background process
  (bertcli.ask.fill) that embeds the rest of the document; the script waits for it to end
  ("fill s": from the first call's exit to the fill's) before the later questions.

For a 100k-token document (SQuAD 1.1 dev paragraphs joined; benchmarks/run.py's squad_text)
and a 1M-token one (SQuAD 1.1 *training* paragraphs joined), each side with its own empty
cache: the first call (1 question: indexes the document), then 10 new questions on the
indexed document, then the same 10 again (their passages already embedded). Per question =
(10-question call - 1-question call on the indexed document) / 9.

    python benchmarks/ask_scale.py [--before REV] [--skip-1m]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

from run import CACHE, DATA, PY, Before, Table, mb, measure, squad_text

HERE = Path(__file__).resolve().parent


def fill_running() -> bool:
    return subprocess.run(["pgrep", "-f", "bertcli.ask.fill"], capture_output=True).returncode == 0


def wait_for_fill(limit_s: float = 900.0) -> float:
    """Seconds until no background fill process is left (called right after the first call)."""
    began = time.monotonic()
    while fill_running() and time.monotonic() - began < limit_s:
        time.sleep(0.1)
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="9477948")
    parser.add_argument("--skip-1m", action="store_true")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    from bertcli.models import BUNDLED_READER_DIR

    tokenizer = AutoTokenizer.from_pretrained(str(BUNDLED_READER_DIR))
    CACHE.mkdir(exist_ok=True)
    with Before(args.before) as before:
        worktree = before.path
        sides = {}
        for name, source, no_fill in (("before", worktree, "1"), ("now, no fill", HERE.parent, "1"),
                                      ("now", HERE.parent, "")):
            cache = CACHE / f"scale-cache-{name.replace(', ', '-').replace(' ', '-')}"
            onnx = CACHE / "bertcli-cache" / "onnx"  # the ONNX copies are shared: not timed
            env = dict(os.environ, BERTCLI_CACHE=str(cache), HF_HUB_OFFLINE="1", BERTCLI_QUIET="1",
                       PYTHONPATH=str(source), BERTCLI_NO_FILL=no_fill)
            sides[name] = (cache, onnx, env)
        cases = [("100k", *squad_text(100_000, tokenizer, 11))]
        if not args.skip_1m:
            cases.append(("1M", *squad_text(1_000_000, tokenizer, 11,
                                            DATA / "squad1.1-train.json.gz")))
        t = Table("ask on long documents: first question, then new and repeated questions",
                  ["document", "code", "first call s (peak RSS MB)", "fill s",
                   "new questions: s each", "repeated: s each"])
        for label, text, questions in cases:
            doc = CACHE / f"scale-{label}.txt"
            doc.write_text(text, encoding="utf-8")
            one, ten = CACHE / f"scale-{label}-q1.txt", CACHE / f"scale-{label}-q10.txt"
            one.write_text(questions[0] + "\n", encoding="utf-8")
            ten.write_text("\n".join(questions[1:11]) + "\n", encoding="utf-8")
            for name, (cache, onnx, env) in sides.items():
                subprocess.run(["rm", "-rf", str(cache)], check=True)
                cache.mkdir(parents=True)
                if onnx.is_dir():
                    os.symlink(onnx, cache / "onnx")
                ask = [PY, "-P", "-m", "bertcli", "ask", "--offline", "-f", "jsonl", doc, "--questions"]
                # each side runs `python -P -m bertcli` from its own tree (-P: the current folder
                # not first on the path); the ONNX copies are made here, before anything is timed
                measure(ask[:5] + ["Why?", HERE / "README.md"], env)
                measure([PY, "-P", "-m", "bertcli", "summarize", HERE / "README.md", "--offline"], env)
                assert not fill_running(), "a background fill is running: wait for it"
                first, rss, _ = measure(ask + [one], env)
                filled = wait_for_fill() if not env["BERTCLI_NO_FILL"] else None
                again, _, _ = measure(ask + [one], env)
                new10, _, _ = measure(ask + [ten], env)
                same10, _, _ = measure(ask + [ten], env)
                t.row(f"{label} tokens", name, f"{first:.1f} ({mb(rss)})",
                      "" if filled is None else f"{filled:.1f}",
                      f"{(new10 - again) / 9:.2f}", f"{(same10 - again) / 9:.2f}")
        (HERE / "ask_scale.md").write_text("\n".join(t.lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
