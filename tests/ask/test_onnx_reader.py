"""The ONNX Runtime reader: torch's windows and answers, prepared once, no torch in the process
afterwards, and torch as the fallback."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pytest

from bertcli.ask.asker import Asker
from bertcli.ask.spans import read_passages
from bertcli.backends import onnx_backend as fast
from bertcli.models import ResolvedModel, bundled_reader

from ..conftest import EXAMPLE
from .test_qa_parity import random_text


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTCLI_NO_ONNX", raising=False)
    return tmp_path / "cache"


@pytest.mark.parametrize("model_fixture", ["tiny_qa_dir", "tiny_bert_qa_dir"])
def test_fp32_reader_gives_torchs_windows_and_answers(request, model_fixture, cache):
    from bertcli.backends.torch_backend import Reader

    path = request.getfixturevalue(model_fixture)
    model = ResolvedModel("tiny", path, "directory")
    notices: list[str] = []
    onnx = fast.load_fast_reader(model, "fp32", notices.append)
    assert onnx is not None and len(notices) == 1 and "preparing a fast CPU copy" in notices[0]
    torch_reader = Reader(model, "cpu")
    assert (onnx.question_first, onnx.cls_id, onnx.model_max_length) == \
        (torch_reader.question_first, torch_reader.cls_id, torch_reader.model_max_length)
    rng = random.Random(11)
    several = 0
    for _ in range(20):
        doc = random_text(rng, rng.choice([5, 40, 300, 900]))  # up to several windows
        question = random_text(rng, rng.randint(1, 8)).replace("\n", " ") + "?"
        several += assert_reads_alike(onnx, torch_reader, question, doc) > 1
    assert several >= 5
    assert onnx.token_counts(["a few words here", ""]) == torch_reader.token_counts(["a few words here", ""])
    assert onnx.question_tokens("Who was Rollo?") == torch_reader.question_tokens("Who was Rollo?")


def assert_reads_alike(onnx, torch_reader, question: str, doc: str) -> int:
    """The ONNX reader makes torch's windows (ids, sequence ids, offsets), gives its logits to
    1e-4 and its top-2 answers. Returns the number of windows."""
    got, want = onnx.encode(question, doc, 384, 128), torch_reader.encode(question, doc, 384, 128)
    assert [(w.inputs, w.sequence_ids, w.encoding.offsets) for w in got] == \
        [(w.inputs, w.sequence_ids, w.encoding.offsets) for w in want]
    for (s1, e1), (s2, e2) in zip(onnx.logits([w.inputs for w in got]),
                                  torch_reader.logits([w.inputs for w in want])):
        np.testing.assert_allclose(s1, s2, atol=1e-4)
        np.testing.assert_allclose(e1, e2, atol=1e-4)
    a = read_passages(onnx, question, [(0, doc)], top_k=2, abstain=False)
    b = read_passages(torch_reader, question, [(0, doc)], top_k=2, abstain=False)
    assert [(x.text, x.start, x.end) for x in a] == [(x.text, x.start, x.end) for x in b]
    return len(got)


def test_bundled_reader_fp32_answers_as_torch_on_the_example(cache):
    from bertcli.backends.torch_backend import Reader

    model = bundled_reader()
    assert model is not None
    onnx = fast.load_fast_reader(model, "fp32", lambda _: None)
    torch_reader = Reader(model, "cpu")
    text = EXAMPLE.read_text(encoding="utf-8")[:6000]
    for question in ("Who was the Norse leader?", "When did the Normans get their name?",
                     "Who did Rollo swear fealty to?"):
        a = read_passages(onnx, question, [(0, text)], top_k=3)
        b = read_passages(torch_reader, question, [(0, text)], top_k=3)
        assert [(x.text, x.start, x.end) for x in a] == [(x.text, x.start, x.end) for x in b]
        assert [round(x.score, 3) for x in a] == [round(x.score, 3) for x in b]


def test_asker_on_cpu_uses_onnx_and_torch_when_told(cache, tiny_qa_dir, monkeypatch):
    asker = Asker(model=str(tiny_qa_dir), device="cpu", precision="fp32")
    assert isinstance(asker.reader, fast.FastReader) and asker.reader.precision == "fp32"
    assert Asker(model=str(tiny_qa_dir), device="cpu", precision="int8").reader.precision == "int8"
    monkeypatch.setenv("BERTCLI_NO_ONNX", "1")
    from bertcli.backends.torch_backend import Reader

    assert isinstance(Asker(model=str(tiny_qa_dir), device="cpu").reader, Reader)


def test_damaged_reader_copy_is_prepared_again(cache, tiny_qa_dir):
    model = ResolvedModel("tiny", tiny_qa_dir, "directory")
    fast.load_fast_reader(model, "fp32", lambda _: None)
    folder = fast.prepared_dir(model, fast.READER)
    onnx_path = folder / fast.onnx_file("fp32", fast.READER)
    onnx_path.write_bytes(onnx_path.read_bytes()[:1000])  # truncated
    notices: list[str] = []
    reader = fast.load_fast_reader(model, "fp32", notices.append)
    assert reader is not None and any("is damaged" in n for n in notices)
    assert reader.logits([{"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1]}])


def test_ask_runs_without_torch_once_prepared(run_cli, new_user_env, tmp_path):
    """The second `ask` of a new user: bundled reader, long document through the retriever
    (bundled encoder), and neither torch nor transformers nor scikit-learn imported."""
    text = EXAMPLE.read_text(encoding="utf-8")
    doc = tmp_path / "doc.txt"
    doc.write_text(text, encoding="utf-8")
    first = run_cli("ask", "Who was the Norse leader?", doc, "--offline", "-f", "json")
    assert first.returncode == 0, first.err
    probe = (
        "import sys\n"
        "from bertcli.cli import app\n"
        "sys.argv = ['bertcli', 'ask', 'Who was the Norse leader?', sys.argv[1], '--offline', '-f', 'json']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print('IMPORTED', sorted(m for m in ('torch', 'transformers', 'sklearn', 'spacy') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, str(doc)], capture_output=True, text=True,
                          env=new_user_env, timeout=120)
    # spaCy is not needed either: the document's sentences come from its cached index
    assert "IMPORTED []" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout) == json.loads(first.out)


def test_a_reader_session_that_cannot_run_falls_back_to_torch(cache, tiny_qa_dir, monkeypatch):
    from bertcli.backends.torch_backend import Reader

    def broken(self):
        raise RuntimeError("MatMulNBits is not supported here\nsecond line")

    monkeypatch.setattr(fast.FastReader, "session", property(broken))
    notices: list[str] = []
    asker = Asker(model=str(tiny_qa_dir), device="cpu", notice=notices.append)
    result = asker.ask("The Norse leader was Rollo.", ["Who was the leader?"])[0]
    assert isinstance(asker.reader, Reader) and result.mode == "reader"
    assert any("cannot load the fp32 fast CPU copy" in n and "using torch" in n and "\n" not in n
               for n in notices)
