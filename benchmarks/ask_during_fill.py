"""New questions asked while `ask`'s background fill (bertcli.ask.fill) runs, side by side:

- `no fill`: this tree with BERTCLI_NO_FILL=1;
- `fill, no pause`: the code at `--before` (default d08b199, the fill before it paused for
  questions), from a git worktree;
- `fill`: this tree: the fill pauses while any `ask` answers.

Each side: an empty cache, the first question on the 1M-token document of ask_scale.py (which
starts the fill, ~2 minutes of work), then 4 new questions, each a whole process, at once.

    python benchmarks/ask_during_fill.py [--before REV]     # ~2 minutes; run ask_scale.py first
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time

from ask_scale import fill_running, wait_for_fill
from run import CACHE, PY, Before, Table, measure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="d08b199")
    args = parser.parse_args()
    doc, questions = CACHE / "scale-1M.txt", CACHE / "scale-1M-q10.txt"
    if not doc.is_file():
        raise SystemExit("run benchmarks/ask_scale.py first (it writes the 1M-token document)")
    lines = questions.read_text(encoding="utf-8").splitlines()
    t = Table("new questions on a 1M-token document while the background fill runs (whole processes)",
              ["code", "first call s", "4 new questions: s each", "fill still running after"])
    with Before(args.before) as before:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for name, source, no_fill in (("no fill", here, "1"), ("fill, no pause", before.path, ""),
                                      ("fill", here, "")):
            wait_for_fill()
            cache = CACHE / "during-fill-cache"
            shutil.rmtree(cache, ignore_errors=True)
            cache.mkdir()
            os.symlink(CACHE / "bertcli-cache" / "onnx", cache / "onnx")  # prepared: not timed
            env = dict(os.environ, BERTCLI_CACHE=str(cache), HF_HUB_OFFLINE="1", BERTCLI_QUIET="1",
                       PYTHONPATH=str(source), BERTCLI_NO_FILL=no_fill)
            ask = [PY, "-P", "-m", "bertcli", "ask", "--offline", "-f", "jsonl", doc, "--questions"]
            first_q = CACHE / "during-q.txt"
            first_q.write_text(lines[0] + "\n", encoding="utf-8")
            first, _, _ = measure(ask + [first_q], env)
            each = []
            for line in lines[1:5]:
                first_q.write_text(line + "\n", encoding="utf-8")
                each.append(measure(ask + [first_q], env)[0])
            running = fill_running()
            subprocess.run(["pkill", "-f", "bertcli.ask.fill"], capture_output=True)
            time.sleep(1)
            t.row(name, f"{first:.1f}", " / ".join(f"{s:.2f}" for s in each),
                  "yes" if running else "no")
    print("\n".join(t.lines))


if __name__ == "__main__":
    main()
