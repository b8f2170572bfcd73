"""bertcli against the tutorial's code: every speed case, side by side, in one run.

    python benchmarks/run.py            # all cases, ~10 minutes on 2 cores
    python benchmarks/run.py --quick    # skip the 100k-token scaling runs

Each case runs whole processes (start-up included) one after another and prints wall time,
peak RSS and the ratio to its baseline, plus the machine it ran on. Short cases take the
median of several runs (5 for start-up, 3 for one article). Baselines are what a user of
the tutorial writes: bert-extractive-summarizer's `Summarizer(custom_model=...)` and
transformers 4's question-answering pipeline over the full text. Models are random-weight
distilbert-base-shaped encoder and reader (cost depends on shape, not weights), built once into
benchmarks/.cache. Inputs come from ../shared/data. Not a test: nothing fails on a time; single
runs on a shared machine are noisy, so compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
DATA = HERE.parents[1] / "shared" / "data"
PY = sys.executable
BERTCLI = shutil.which("bertcli", path=os.path.dirname(PY)) or "bertcli"

TUTORIAL_SUMMARIZE = """
import json, sys
from summarizer import Summarizer
from transformers import AutoConfig, AutoModel, AutoTokenizer
config = AutoConfig.from_pretrained(sys.argv[1]); config.output_hidden_states = True
model = AutoModel.from_pretrained(sys.argv[1], config=config)
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
summarizer = Summarizer(custom_model=model, custom_tokenizer=tokenizer)
for path in sys.argv[2:]:
    print(summarizer(open(path, encoding="utf-8").read(), num_sentences=3))
"""

TUTORIAL_ASK = """
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
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
if proc.returncode:
    sys.exit(proc.stderr.decode()[-2000:])
sys.stdout.write(f"{wall} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}\\n")
sys.stdout.write(proc.stdout.decode())
"""


def measure(cmd, env=None, repeat=1):
    """(wall seconds, peak RSS bytes, stdout) of one whole process; with `repeat`, the run
    with the median wall time."""
    if repeat > 1:
        runs = sorted((measure(cmd, env) for _ in range(repeat)), key=lambda r: r[0])
        return runs[len(runs) // 2]
    out = subprocess.run([PY, "-c", MEASURE, *map(str, cmd)], capture_output=True, text=True,
                         env=env)
    if out.returncode:
        raise SystemExit(f"{cmd[:3]} failed:\n{out.stderr}")
    head, _, stdout = out.stdout.partition("\n")
    wall, rss = head.split()
    return float(wall), int(rss), stdout


def build_models():
    import torch
    from transformers import (
        DistilBertConfig,
        DistilBertForQuestionAnswering,
        DistilBertModel,
        DistilBertTokenizerFast,
    )

    from bertcli.models import bundled_encoder_path

    made = {}
    for name, cls in (("distilbert-base-random", DistilBertModel),
                      ("distilbert-base-qa-random", DistilBertForQuestionAnswering)):
        path = CACHE / name
        if not (path / "config.json").is_file():
            torch.manual_seed(0)
            cls(DistilBertConfig()).save_pretrained(str(path))  # distilbert-base shape
            DistilBertTokenizerFast(vocab_file=str(bundled_encoder_path() / "vocab.txt")
                                    ).save_pretrained(str(path))
        made[name] = path
    return made["distilbert-base-random"], made["distilbert-base-qa-random"]


def squad_text(tokens: int, tokenizer, n_questions: int = 10, path: Path | None = None):
    """SQuAD paragraphs (dev, or the file at `path`; .gz is read as gzip) joined until `tokens`
    reader tokens; one question per paragraph, `n_questions` of them spread over the text."""
    path = path or DATA / "squad1.1-dev.json"
    opener = __import__("gzip").open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    paragraphs, questions, count = [], [], 0
    for article in articles:
        for para in article["paragraphs"]:
            paragraphs.append(para["context"])
            questions.append(para["qas"][0]["question"])
            count += len(tokenizer(para["context"], add_special_tokens=False)["input_ids"])
            if count >= tokens:
                step = max(1, len(questions) // n_questions)
                return "\n\n".join(paragraphs), questions[::step][:n_questions]
    raise SystemExit(f"not enough text in {path.name}")


class Table:
    def __init__(self, title, columns):
        self.lines = [f"### {title}", "", "| " + " | ".join(columns) + " |",
                      "| " + " | ".join("---" for _ in columns) + " |"]
        print("\n".join(self.lines), flush=True)

    def row(self, *cells):
        line = "| " + " | ".join(str(c) for c in cells) + " |"
        self.lines.append(line)
        print(line, flush=True)

    def note(self, text):
        self.lines.extend(["", text])
        print("\n" + text, flush=True)


def mb(rss):
    return f"{rss / 1e6:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 100k-token scaling runs")
    parser.add_argument("--out", default=str(HERE / "results.md"))
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    encoder, reader = build_models()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(reader))
    env = dict(os.environ, BERTCLI_CACHE=str(CACHE / "bertcli-cache"), HF_HUB_OFFLINE="1")
    torch_env = dict(env, BERTCLI_NO_ONNX="1")
    tables = []
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"{time.strftime('%Y-%m-%d')}")
    print(machine)

    # 1. start-up
    t = Table("1. Start-up", ["command", "wall s", "peak RSS MB"])
    for name, cmd in (("bertcli --help", [BERTCLI, "--help"]),
                      ('python -c "import torch, transformers"', [PY, "-c", "import torch, transformers"])):
        wall, rss, _ = measure(cmd, env, repeat=5)
        t.row(name, f"{wall:.2f}", mb(rss))
    tables.append(t)

    # 2. one short article, cold process; 3. twenty articles in one call
    records = [json.loads(line) for line in (DATA / "cnndm-dev.jsonl").read_text(encoding="utf-8").splitlines()]
    folder = CACHE / "articles"
    folder.mkdir(exist_ok=True)
    paths = []
    for i, record in enumerate(records[:20]):
        path = folder / f"article{i:02d}.txt"
        path.write_text(record["article"], encoding="utf-8")
        paths.append(path)
    short = min(paths, key=lambda p: len(p.read_text(encoding="utf-8")))
    bert = [BERTCLI, "summarize", "-n", "3", "--model", encoder, "--format", "jsonl"]
    measure(bert + [short], env)  # prepares the ONNX copy once ("model already on disk")
    for title, inputs, repeat in (("2. summarize one short article, cold process", [short], 3),
                                  ("3. summarize 20 CNN/DailyMail articles in one call", paths, 1)):
        t = Table(title, ["case", "wall s", "peak RSS MB", "speed-up", "same picks as torch path"])
        base, rss, _ = measure([PY, "-c", TUTORIAL_SUMMARIZE, encoder, *inputs], env, repeat)
        t.row("tutorial: bert-extractive-summarizer", f"{base:.2f}", mb(rss), "1.0x", "")
        _, _, reference = measure(bert + inputs, torch_env)
        for name, extra, run_env in (("bertcli (torch fallback, BERTCLI_NO_ONNX=1)", [], torch_env),
                                     ("bertcli --precision fp32 (ONNX, exact)", ["--precision", "fp32"], env),
                                     ("bertcli (default: ONNX int8 per token)", [], env)):
            wall, rss, out = measure(bert + extra + inputs, run_env, repeat)
            same = sum(json.loads(a)["sentences"] == json.loads(b)["sentences"]
                       for a, b in zip(out.splitlines(), reference.splitlines()))
            t.row(name, f"{wall:.2f}", mb(rss), f"{base / wall:.1f}x", f"{same}/{len(inputs)}")
        words = sum(len(p.read_text(encoding="utf-8").split()) for p in inputs)
        t.note(f"{len(inputs)} article(s), {words} words. The tutorial clusters (k-means); bertcli "
               "runs its default strategy (learned, which is central for an encoder its scorer was "
               "not trained on), so their picks differ by design.")
        tables.append(t)

    # 4. ask: 10 questions over ~10k tokens
    text, questions = squad_text(10_000, tokenizer)
    doc, qfile = CACHE / "doc10k.txt", CACHE / "questions10.txt"
    doc.write_text(text, encoding="utf-8")
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    ask = [BERTCLI, "ask", "--questions", qfile, doc, "--model", reader, "--format", "jsonl",
           "--device", "cpu"]
    t = Table("4. ask: 10 questions over a ~10k-token document", ["case", "wall s", "peak RSS MB", "speed-up"])
    base, rss, _ = measure([PY, "-c", TUTORIAL_ASK, reader, doc, qfile], env)
    t.row("tutorial: transformers pipeline over the full text", f"{base:.1f}", mb(rss), "1.0x")
    for name, extra in (("bertcli ask (retrieve, read 10 passages)", []), ("bertcli ask --full", ["--full"])):
        wall, rss, _ = measure(ask + extra, env)
        t.row(name, f"{wall:.1f}", mb(rss), f"{base / wall:.1f}x")
    t.note("Answer recall of the passages read: see `python benchmarks/retrieval_recall.py` "
           "(10 passages, squad2-dev answerable questions against whole articles).")
    tables.append(t)

    # 6. scaling
    t = Table("6. Scaling with document length (bertcli, whole process)",
              ["reader tokens", "summarize -n 3 s", "ask, 1 question s", "ask, 10 questions s",
               "per extra question s"])
    for tokens in (1_000, 10_000) + (() if args.quick else (100_000,)):
        text, questions = squad_text(tokens, tokenizer)
        doc = CACHE / f"doc{tokens}.txt"
        doc.write_text(text, encoding="utf-8")
        one, ten = CACHE / "q1.txt", CACHE / "q10.txt"
        one.write_text(questions[0] + "\n", encoding="utf-8")
        ten.write_text("\n".join(questions) + "\n", encoding="utf-8")
        s, _, _ = measure(bert + [doc], env)
        a1, _, _ = measure([BERTCLI, "ask", "--questions", one, doc, "--model", reader, "-f", "jsonl"], env)
        a10, _, _ = measure([BERTCLI, "ask", "--questions", ten, doc, "--model", reader, "-f", "jsonl"], env)
        t.row(f"{tokens:,}", f"{s:.1f}", f"{a1:.1f}", f"{a10:.1f}", f"{(a10 - a1) / 9:.2f}")
    tables.append(t)

    body = "\n\n".join("\n".join(t.lines) for t in tables)
    Path(args.out).write_text(f"Machine: {machine}\n\n{body}\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()


class Before:
    """A `git worktree` of this repository at `rev`, for timing the code as it was beside the
    code as it is, in one run: `env(cache)` runs `python -P -m bertcli` (-P: the current
    folder not first on the path) from that tree."""

    def __init__(self, rev: str):
        import tempfile

        self.rev, self.path = rev, Path(tempfile.mkdtemp(prefix="bertcli-before-"))

    def __enter__(self) -> Before:
        subprocess.run(["git", "worktree", "add", "--detach", str(self.path), self.rev],
                       check=True, cwd=HERE.parent, capture_output=True)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["git", "worktree", "remove", "--force", str(self.path)], cwd=HERE.parent,
                       capture_output=True)
