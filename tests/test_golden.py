"""Behaviour kept: `summarize` and `ask` JSON on a fixed set, recorded in tests/golden/ before
the code moved into read/, summarize/, ask/ (issue #34) and checked after.

Summaries must be identical. For `ask`, answers are compared with --always-answer, without
their scores: the scores became the verifier's probabilities (issue #28). How the files were
made: tests/golden/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import EXAMPLE, ROOT

GOLDEN = Path(__file__).resolve().parent / "golden"
DATA = ROOT / "tests" / "data"
SUMMARIES = [
    ("summarize-article.txt.json", [EXAMPLE, "-n", "3"]),
    ("summarize-article.html.json", [DATA / "article.html", "-n", "3"]),
    ("summarize-viggo-inlg2019.pdf.json", [DATA / "viggo-inlg2019.pdf", "-n", "3"]),
    ("summarize-central.jsonl", [EXAMPLE, DATA / "viggo-inlg2019.pdf", "-n", "4", "-s", "central"]),
    ("summarize-lead.jsonl", [EXAMPLE, DATA / "viggo-inlg2019.pdf", "-n", "4", "-s", "lead"]),
]
ANSWERS = [
    ("ask-article.txt.json", ["Who was the Norse leader?", EXAMPLE, "--top-k", "3"]),
    ("ask-article.html.json", ["How much did the Loire rise?", DATA / "article.html", "--top-k", "2"]),
    ("ask-viggo.json", ["What dataset is introduced?", DATA / "viggo-inlg2019.pdf", "--top-k", "2"]),
    ("ask-silent.json", ["What is the capital of France?", EXAMPLE]),
]


def _relative(args):
    return [str(a.relative_to(ROOT)) if isinstance(a, Path) else a for a in args]


def _records(text: str) -> list:
    """One JSON document, or JSON Lines."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("name,args", SUMMARIES, ids=[s[0] for s in SUMMARIES])
def test_summaries_are_as_recorded(run_cli, monkeypatch, name, args):
    monkeypatch.chdir(ROOT)
    fmt = "jsonl" if name.endswith(".jsonl") else "json"
    proc = run_cli("summarize", *_relative(args), "-f", fmt, "--offline")
    assert proc.returncode == 0, proc.err
    assert _records(proc.out) == _records((GOLDEN / name).read_text(encoding="utf-8"))


def _spans(record: dict) -> dict:
    keep = ("text", "start", "end", "context", "context_start", "source", "page")
    return {"question": record["question"], "source": record["source"],
            "answers": [{k: a[k] for k in keep if k in a} for a in record["answers"]],
            "passages": record["passages"]}


@pytest.mark.parametrize("name,args", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_answers_are_as_recorded(run_cli, monkeypatch, name, args):
    monkeypatch.chdir(ROOT)
    proc = run_cli("ask", *_relative(args), "-f", "json", "--always-answer", "--offline")
    assert proc.returncode == 0, proc.err
    expected = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    assert _spans(json.loads(proc.out)) == _spans(expected)
