"""`ask` speed targets (issue: an ONNX reader and a document index cache), side by side in one run.

    python benchmarks/ask_speed.py            # ~10 minutes on 2 cores
    python benchmarks/ask_speed.py --skip-tutorial-10k   # without the ~2-minute baseline run
    python benchmarks/ask_speed.py --bundled-b-only --baseline-repeat 3   # one table, ~4 min

Whole processes, start-up included, one after another (see benchmarks/run.py: `measure`):

A. one question on a one-paragraph document, cold process, bundled reader: bertcli (ONNX
   Runtime, the default on CPU; and torch, BERTCLI_NO_ONNX=1) against the tutorial's
   question-answering pipeline on the same reader (its float32 weights saved as a normal
   checkpoint). Median of 3.
B. 10 questions over a ~10k-token document (benchmarks/run.py's case 4): a random reader of
   distilbert-base shape on both sides; bertcli's index cache empty before each run; bertcli's
   rows are the median of 3 runs (the pipeline's, ~40-110 s, one run).
C. a 100k-token document asked twice: the first call indexes it (cache empty), the second
   finds its index; per question = (10 questions - 1 question) / 9 on the second call.

The ONNX copies are prepared before anything is timed ("model already on disk").
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from run import BERTCLI, CACHE, DATA, PY, TUTORIAL_ASK, Table, build_models, mb, measure, squad_text

HERE = Path(__file__).resolve().parent


def bundled_reader_fp32() -> Path:
    """The bundled reader's weights as an ordinary float32 checkpoint, for the pipeline."""
    path = CACHE / "bundled-reader-fp32"
    if not (path / "config.json").is_file():
        from bertcli.backends.torch_backend import _load_int8_qa_model
        from bertcli.models import BUNDLED_READER_DIR

        model = _load_int8_qa_model(BUNDLED_READER_DIR)
        model.save_pretrained(str(path))
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy(BUNDLED_READER_DIR / name, path / name)
    return path


def cold_index(cmd: list, env: dict, index_cache: Path, repeat: int = 3) -> tuple[float, int]:
    """(wall s, peak RSS) of the median of `repeat` runs, each with the index cache emptied
    first: one whole process varies by ±0.5 s here, as much as the changes measured."""
    runs = []
    for _ in range(repeat):
        shutil.rmtree(index_cache, ignore_errors=True)
        wall, rss, _ = measure(cmd, env)
        runs.append((wall, rss))
    return sorted(runs)[repeat // 2]


def bundled_b(fp32_reader: Path, doc: Path, qfile: Path, env: dict, cache: Path,
              baseline_repeat: int) -> Table:
    """B with the trained bundled reader on both sides: reading in steps stops early only
    when a reader can be sure, which B's random weights never are."""
    t = Table("B, bundled reader: the same 10 questions, the trained bundled reader on both sides",
              ["case", "wall s", "peak RSS MB", "speed-up"])
    base, rss, _ = measure([PY, "-c", TUTORIAL_ASK, fp32_reader, doc, qfile], env,
                           repeat=baseline_repeat)
    t.row("tutorial: transformers pipeline over the full text, same reader (float32)", f"{base:.1f}",
          mb(rss), "1.0x")
    bundled_ask = [BERTCLI, "ask", "--questions", qfile, doc, "--offline", "-f", "jsonl"]
    wall, rss = cold_index(bundled_ask, env, cache / "index")
    t.row("bertcli ask (default), index cache empty", f"{wall:.1f}", mb(rss), f"{base / wall:.1f}x")
    wall, rss, _ = measure(bundled_ask, env, repeat=3)
    t.row("bertcli ask (default), asked again: index cached", f"{wall:.1f}", mb(rss), f"{base / wall:.1f}x")
    return t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-tutorial-10k", action="store_true")
    parser.add_argument("--bundled-b-only", action="store_true",
                        help="only the table 'B, bundled reader' (the 10k document must exist)")
    parser.add_argument("--baseline-repeat", type=int, default=1,
                        help="runs of that table's pipeline baseline (the median is kept)")
    parser.add_argument("--out", default=str(HERE / "ask_speed.md"))  # git-ignored; tables go to README
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    _, random_reader = build_models()
    fp32_reader = bundled_reader_fp32()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(fp32_reader))
    cache = CACHE / "bertcli-cache"
    env = dict(os.environ, BERTCLI_CACHE=str(cache), HF_HUB_OFFLINE="1", BERTCLI_QUIET="1")
    torch_env = dict(env, BERTCLI_NO_ONNX="1")
    tables = []
    if args.bundled_b_only:
        t = bundled_b(fp32_reader, CACHE / "doc10k.txt", CACHE / "questions10.txt", env, cache,
                      args.baseline_repeat)
        Path(args.out).write_text("\n".join(t.lines) + "\n", encoding="utf-8")
        return

    # A. one paragraph, one question
    articles = __import__("json").loads((DATA / "squad1.1-dev.json").read_text(encoding="utf-8"))["data"]
    para = articles[0]["paragraphs"][0]
    doc, qfile = CACHE / "paragraph.txt", CACHE / "paragraph-q.txt"
    doc.write_text(para["context"], encoding="utf-8")
    qfile.write_text(para["qas"][0]["question"] + "\n", encoding="utf-8")
    ask = [BERTCLI, "ask", "--questions", qfile, doc, "--offline", "-f", "jsonl"]
    measure(ask, env)  # prepares the ONNX copies once: the reader's here, the retriever's next
    measure([BERTCLI, "summarize", doc, "--offline"], env)  # the bundled encoder (retriever)
    t = Table("A. ask: one question, one-paragraph document, cold process (bundled reader)",
              ["case", "wall s", "peak RSS MB", "speed-up"])
    base, rss, _ = measure([PY, "-c", TUTORIAL_ASK, fp32_reader, doc, qfile], env, repeat=3)
    t.row("tutorial: transformers pipeline, same reader (float32)", f"{base:.2f}", mb(rss), "1.0x")
    for name, run_env in (("bertcli ask (torch, BERTCLI_NO_ONNX=1)", torch_env),
                          ("bertcli ask (default: ONNX Runtime, float32)", env)):
        wall, rss, _ = measure(ask, run_env, repeat=3)
        t.row(name, f"{wall:.2f}", mb(rss), f"{base / wall:.1f}x")
    tables.append(t)

    # B. 10 questions over ~10k tokens
    text, questions = squad_text(10_000, tokenizer)
    doc, qfile = CACHE / "doc10k.txt", CACHE / "questions10.txt"
    doc.write_text(text, encoding="utf-8")
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    ask = [BERTCLI, "ask", "--questions", qfile, doc, "--model", random_reader, "-f", "jsonl"]
    measure([BERTCLI, "ask", "Why?", CACHE / "paragraph.txt", "--model", random_reader], env)  # prepare
    t = Table("B. ask: 10 questions over a ~10k-token document (distilbert-base-shaped reader)",
              ["case", "wall s", "peak RSS MB", "speed-up"])
    if args.skip_tutorial_10k:
        base = 111.7  # benchmarks/README.md's last measured baseline
        t.row("tutorial: transformers pipeline over the full text (not rerun)", f"{base:.1f}", "", "1.0x")
    else:
        base, rss, _ = measure([PY, "-c", TUTORIAL_ASK, random_reader, doc, qfile], env)
        t.row("tutorial: transformers pipeline over the full text", f"{base:.1f}", mb(rss), "1.0x")
    for name, run_env in (("bertcli ask (torch, BERTCLI_NO_ONNX=1)", torch_env),
                          ("bertcli ask (default: ONNX Runtime)", env)):
        wall, rss = cold_index(ask, run_env, cache / "index")
        t.row(name + ", index cache empty", f"{wall:.1f}", mb(rss), f"{base / wall:.1f}x")
    wall, rss, _ = measure(ask, env, repeat=3)
    t.row("bertcli ask (default), asked again: index cached", f"{wall:.1f}", mb(rss), f"{base / wall:.1f}x")
    tables.append(t)

    tables.append(bundled_b(fp32_reader, doc, qfile, env, cache, args.baseline_repeat))

    # C. 100k tokens, asked twice
    text, questions = squad_text(100_000, tokenizer)
    doc = CACHE / "doc100k.txt"
    doc.write_text(text, encoding="utf-8")
    one, ten = CACHE / "q1.txt", CACHE / "q10.txt"
    one.write_text(questions[0] + "\n", encoding="utf-8")
    ten.write_text("\n".join(questions) + "\n", encoding="utf-8")
    t = Table("C. ask on a 100k-token document, first and second call (bundled reader)",
              ["call", "wall s", "peak RSS MB", "per question s"])
    shutil.rmtree(cache / "index", ignore_errors=True)
    ask = [BERTCLI, "ask", "--offline", "-f", "jsonl", doc, "--questions"]
    first, rss, _ = measure(ask + [one], env)
    t.row("first: indexes the document, 1 question", f"{first:.1f}", mb(rss), "")
    a1, rss1, _ = measure(ask + [one], env, repeat=3)
    a10, rss10, _ = measure(ask + [ten], env, repeat=3)
    t.row("second: index cached, 1 question", f"{a1:.2f}", mb(rss1), "")
    t.row("second: index cached, 10 questions", f"{a10:.2f}", mb(rss10), f"{(a10 - a1) / 9:.2f}")
    tables.append(t)

    machine = f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, load average at the end " \
              f"{os.getloadavg()[0]:.1f}"
    body = "\n\n".join("\n".join(t.lines) for t in tables)
    Path(args.out).write_text(f"Machine: {machine}\n\n{body}\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
