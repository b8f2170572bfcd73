"""ask speed: 10 questions over a ~10k-token document, whole process against whole process.

Baseline: what the tutorial does — transformers 4's question-answering pipeline over the full
text, one call per question. bertcli: `bertcli ask --questions FILE DOC` (retrieval, then the
reader on the best passages). Same reader for both: a randomly initialised model of
distilbert-base shape (cost depends on shape, not weights), built once into benchmarks/.cache.

    python benchmarks/ask_speed.py [--tokens 10000] [--questions 10]

Prints wall time and peak RSS of each process and the ratio. Not a test: nothing fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
DATA = HERE.parents[1] / "shared" / "data" / "squad1.1-dev.json"

BASELINE = """
import sys
from transformers import pipeline
reader = pipeline("question-answering", model=sys.argv[1], tokenizer=sys.argv[1], device=-1)
text = open(sys.argv[2], encoding="utf-8").read()
for question in open(sys.argv[3], encoding="utf-8").read().splitlines():
    print(reader(question=question, context=text)["answer"])
"""

MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
if proc.returncode:
    sys.exit(proc.stderr.decode()[-2000:])
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def build_reader() -> Path:
    path = CACHE / "distilbert-base-qa-random"
    if (path / "config.json").is_file():
        return path
    import torch
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering, DistilBertTokenizerFast

    from bertcli.models import bundled_encoder_path

    torch.manual_seed(0)
    model = DistilBertForQuestionAnswering(DistilBertConfig())  # distilbert-base shape
    tokenizer = DistilBertTokenizerFast(vocab_file=str(bundled_encoder_path() / "vocab.txt"))
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def build_inputs(tokens: int, n_questions: int, reader: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(reader))
    articles = json.loads(DATA.read_text(encoding="utf-8"))["data"]
    paragraphs, questions = [], []
    for article in articles:
        for para in article["paragraphs"]:
            paragraphs.append(para["context"])
            questions.extend(qa["question"] for qa in para["qas"][:1])
            text = "\n\n".join(paragraphs)
            if len(tokenizer(text, add_special_tokens=False)["input_ids"]) >= tokens:
                step = max(1, len(questions) // n_questions)
                return text, questions[::step][:n_questions]
    raise SystemExit("not enough text in the dev file")


def measure(cmd) -> tuple:
    out = subprocess.run([sys.executable, "-c", MEASURE, *map(str, cmd)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    wall, rss = out.stdout.split()
    return float(wall), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=10)
    args = parser.parse_args()
    reader = build_reader()
    text, questions = build_inputs(args.tokens, args.questions, reader)
    doc, qfile = CACHE / "doc.txt", CACHE / "questions.txt"
    doc.write_text(text, encoding="utf-8")
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    bertcli = shutil.which("bertcli", path=os.path.dirname(sys.executable)) or "bertcli"
    cases = {
        "tutorial pipeline (full text)": [sys.executable, "-c", BASELINE, reader, doc, qfile],
        "bertcli ask (retrieve + read)": [bertcli, "ask", "--questions", qfile, doc, "--model", reader,
                                          "--format", "jsonl", "--offline", "--device", "cpu"],
        "bertcli ask --full": [bertcli, "ask", "--questions", qfile, doc, "--model", reader,
                               "--format", "jsonl", "--offline", "--device", "cpu", "--full"],
    }
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{len(questions)} questions, {len(text.split())} words (>= {args.tokens} reader tokens)")
    print("| case | wall s | peak RSS MB | speed-up vs pipeline |")
    print("| --- | --- | --- | --- |")
    base = None
    for name, cmd in cases.items():
        wall, rss = measure(cmd)
        base = base or wall
        print(f"| {name} | {wall:.1f} | {rss / 1e6:.0f} | {base / wall:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
