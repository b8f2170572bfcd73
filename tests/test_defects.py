"""Defects found while restructuring (issue #34), each with the test that failed before."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

HINDI = ("भारत एक विशाल देश है। यहाँ अनेक भाषाएँ बोली जाती हैं। दिल्ली भारत की राजधानी है। "
         "गंगा एक पवित्र नदी मानी जाती है। हिमालय पर्वत उत्तर में स्थित है।")
ARABIC = ("القاهرة هي عاصمة مصر. النيل هو أطول نهر في العالم. الأهرامات من عجائب الدنيا السبع. "
          "اللغة العربية لغة جميلة جدا. الصحراء تغطي معظم مساحة البلاد.")


def test_the_learned_scorer_is_linear_in_memory():
    from bertcli.summarize.doc_scorer import load_doc_scorer

    scorer = load_doc_scorer()
    assert not isinstance(scorer, Exception)
    n = 6000  # an n x n matrix (similarity, or attention of one head) would be 144 MB in float32
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, scorer.embedding_size)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    lengths = rng.integers(5, 40, size=n).astype(np.float64)
    tracemalloc.start()
    texts = [f"clerk {i} filed report {i % 50} on the river" for i in range(n)]
    picks = scorer.select(vectors, lengths, 5, texts)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(picks) == 5 and len(set(picks)) == 5
    assert peak < 60 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB"


@pytest.mark.parametrize("text,lang", [(HINDI, "hi"), (ARABIC, "ar")])
@pytest.mark.parametrize("strategy", ["lead", "learned"])
def test_n_sentences_of_an_n_sentence_text(run_cli, tmp_path, text, lang, strategy):
    doc = tmp_path / f"{lang}.txt"
    doc.write_text(text, encoding="utf-8")
    proc = run_cli("summarize", doc, "-n", "5", "-s", strategy, "-f", "json", "--offline")
    assert proc.returncode == 0, proc.err
    sentences = json.loads(proc.out)["sentences"]
    assert len(sentences) == 5
    assert [s["index"] for s in sentences] == sorted(s["index"] for s in sentences)


@pytest.mark.parametrize("variable,value,what", [
    ("BERTCLI_MAX_BYTES", "abc", "a whole number of bytes"),
    ("BERTCLI_HTTP_TIMEOUT", "soon", "a number of seconds"),
    ("BERTCLI_INDEX_CACHE_MB", "lots", "a number of megabytes"),
])
def test_a_bad_setting_in_the_environment_is_one_line_naming_it(run_cli, tmp_path, variable, value, what):
    doc = tmp_path / "a.txt"
    doc.write_text("The Loire rose three metres overnight after a week of rain. " * 3, encoding="utf-8")
    command = {"BERTCLI_MAX_BYTES": ("text", doc), "BERTCLI_INDEX_CACHE_MB": ("cache", "info"),
               # read before any connection is tried (port 9 on loopback: nothing listens)
               "BERTCLI_HTTP_TIMEOUT": ("text", "http://127.0.0.1:9/a.txt")}[variable]
    proc = run_cli(*command, env={variable: value})
    assert proc.returncode == 2, (proc.out, proc.err)
    assert proc.err.strip() == f"bertcli: error: ${variable}={value!r} is not {what}"


@pytest.mark.parametrize("value,on", [("1", True), ("yes", True), ("TRUE", True), ("x", True),
                                      ("", False), ("0", False), ("false", False), ("No", False),
                                      ("off", False), (" 0 ", False)])
def test_a_flag_set_to_0_or_false_is_off(monkeypatch, value, on):
    """BERTCLI_QUIET=0 or BERTCLI_NO_FILL=false once switched the thing on (any value did)."""
    from bertcli import settings

    for name, read in (("BERTCLI_QUIET", settings.quiet), ("BERTCLI_NO_FILL", settings.no_fill),
                       ("BERTCLI_NO_ONNX", settings.onnx_disabled)):
        monkeypatch.setenv(name, value)
        assert read() is on, (name, value)


def test_ask_index_on_cpu_imports_no_torch(run_cli, tmp_path):
    import subprocess
    import sys

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "Rollo led the Normans to Normandy in 911. "
                                  "He was their first ruler."}) + "\n", encoding="utf-8")
    index = tmp_path / "index"
    assert run_cli("batch", "index", corpus, "--out", index, "--workers", "1").returncode == 0
    code = ("import sys; from bertcli.cli import run; "
            f"code = run(['ask', '--index', {str(index)!r}, 'Who led the Normans?', '--offline']); "
            "print('torch' in sys.modules, code)")
    # the first run may prepare the encoder's ONNX copy (an export, with torch) when this
    # test runs alone in a fresh cache; a run with the copy in place must not import torch
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "False 0", proc.stderr
