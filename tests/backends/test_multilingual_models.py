"""Multilingual models through `-m DIR` (issue 18): XLM-RoBERTa-style and mBERT-style readers
and an XLM-R encoder, on torch and on ONNX Runtime, held to transformers 4's question-answering
pipeline on random documents in many scripts.

XLM-R differs from BERT where bertcli could go wrong: no token_type_ids, <s>/</s> (two </s>
between question and context), a sentencepiece Unigram tokenizer that normalises (NFKC, runs
of spaces) so that token offsets are not character positions, pad id 1 and positions counted
from padding_idx. The models are tiny and random (tests/multilingual.py).
"""

from __future__ import annotations

import json
import random
import unicodedata

import numpy as np
import pytest

from bertcli.ask.asker import Asker
from bertcli.ask.parity import read_contexts
from bertcli.ask.spans import _word_span, tidy_span
from bertcli.backends import onnx_backend as fast
from bertcli.models import ResolvedModel

from ..ask.test_onnx_reader import assert_reads_alike
from ..multilingual import SENTENCES, UNSPACED, random_text

transformers = pytest.importorskip("transformers")

READERS = ["tiny_xlmr_qa_dir", "tiny_mbert_qa_dir"]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models run fastest on one thread; on a busy machine torch's idle threads spin and
    made this file twice as slow."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTCLI_NO_ONNX", raising=False)
    return tmp_path / "cache"


def documents(seed: int, n: int):
    """`n` (question, document) pairs: one or two languages each, one to several windows."""
    rng = random.Random(seed)
    for _ in range(n):
        doc = random_text(rng, rng.choice([5, 20, 60, 150, 400]))
        question = random_text(rng, rng.randint(1, 8)).replace("\n", " ") + "?"
        yield question, doc


def torch_reader(path):
    from bertcli.backends.torch_backend import Reader

    return Reader(ResolvedModel("tiny", path, "directory"), "cpu")


def in_one_block(doc: str, start: int, end: int) -> tuple[int, int]:
    """The pipeline's span as `ask` gives it (bertcli.ask.choose.within_block): cut at a blank
    line (issue #35), no trailing comma, semicolon or colon."""
    cut = doc.find("\n\n", start, end)
    text = doc[start:cut] if cut > start else doc[start:end]
    text = text.rstrip().rstrip(",;:").rstrip() or text
    return start, start + len(text)


def key(answer) -> tuple:
    return (answer["answer"], answer["start"], answer["end"]) if isinstance(answer, dict) \
        else (answer.text, answer.start, answer.end)


@pytest.mark.parametrize("model_fixture", READERS)
def test_reader_matches_the_pipeline_on_40_documents(request, model_fixture, cache):
    """The pipeline's top answer (text, start, end) from bertcli's reader on torch, on all 40
    documents. `ask` (the ONNX reader, one ranking over the document) gives that answer where
    the document fits one window, tidied (`tidy_span`: the pipeline can cut an accent off) and
    cut at a blank line (an answer stays in one block), and exact offsets everywhere."""
    path = request.getfixturevalue(model_fixture)
    pipe = transformers.pipeline("question-answering", model=str(path), tokenizer=str(path), device=-1)
    reader = torch_reader(path)
    asker = Asker(model=str(path), device="cpu", notice=lambda _: None)
    assert isinstance(asker.reader, fast.FastReader)
    differ, asked_differ, one_window, scripts = [], [], 0, set()
    for number, (question, doc) in enumerate(documents(seed=18, n=40)):
        expected = pipe(question=question, context=doc)
        got, _ = read_contexts(reader, question, [(0, doc)])
        if key(got[0]) != key(expected) or abs(got[0]["score"] - expected["score"]) > 1e-4:
            differ.append((number, got[0], expected))
        if number < 10:  # top-k with the null answer, as in test_qa_parity
            expected_k = pipe(question=question, context=doc, top_k=3, handle_impossible_answer=True)
            got_k, _ = read_contexts(reader, question, [(0, doc)], top_k=3, handle_impossible_answer=True)
            assert [key(g) for g in got_k] == [key(e) for e in expected_k]
            assert [g["score"] for g in got_k] == pytest.approx([e["score"] for e in expected_k], abs=1e-4)
        answer = asker.ask(doc, [question], full=True, abstain=False)[0].answers[0]
        assert doc[answer.start:answer.end] == answer.text and answer.text == answer.text.strip()
        if len(reader.encode(question, doc, 384, 128)) == 1:
            one_window += 1
            start, end = in_one_block(doc, *tidy_span(doc, expected["start"], expected["end"]))
            if key(answer) != (doc[start:end], start, end):
                asked_differ.append((number, key(answer), key(expected)))
        scripts.update(unicodedata.name(c).split()[0] for c in doc if c.isalpha())
    assert not differ, f"{len(differ)}/40 differ from the pipeline: {differ[:3]}"
    assert not asked_differ, f"{len(asked_differ)}/{one_window} differ: {asked_differ[:3]}"
    assert 10 <= one_window <= 35  # several documents span several windows
    assert {"LATIN", "CJK", "ARABIC", "CYRILLIC", "HANGUL"} <= scripts


@pytest.mark.parametrize("model_fixture", READERS)
def test_onnx_reader_gives_torchs_windows_logits_and_answers(request, model_fixture, cache):
    path = request.getfixturevalue(model_fixture)
    model = ResolvedModel("tiny", path, "directory")
    onnx = fast.load_fast_reader(model, "fp32", lambda _: None)
    assert onnx is not None
    reader = torch_reader(path)
    assert (onnx.question_first, onnx.cls_id, onnx.pad_id, onnx.input_names) == \
        (reader.question_first, reader.cls_id, reader.tokenizer.pad_token_id, reader.input_names)
    if "xlmr" in model_fixture:  # what sets XLM-R apart
        assert onnx.input_names == ["input_ids", "attention_mask"] and (onnx.cls_id, onnx.pad_id) == (0, 1)
    several = 0
    for question, doc in documents(seed=7, n=12):
        several += assert_reads_alike(onnx, reader, question, doc) > 1
    assert several >= 3
    # padded batches (torch on a GPU reads 16 windows a batch): pad id 1 must not move XLM-R's
    # positions, which count from padding_idx
    windows = [w.inputs for question, doc in documents(seed=8, n=6)
               for w in reader.encode(question, doc, 384, 128)]
    for (s1, e1), (s2, e2) in zip(reader.logits(windows, batch_size=16), reader.logits(windows, batch_size=1)):
        np.testing.assert_allclose(s1, s2, atol=1e-4)
        np.testing.assert_allclose(e1, e2, atol=1e-4)
    assert len({len(w["input_ids"]) for w in windows}) > 1
    # the int8 copy of the same graph runs too
    int8 = fast.load_fast_reader(model, "int8", lambda _: None)
    got = onnx.encode(question, doc, 384, 128)
    assert int8 is not None and len(int8.logits([w.inputs for w in got])) == len(got)


@pytest.fixture(scope="module")
def sentencepiece_qa_dir(tmp_path_factory):
    """An XLM-R reader with a `sentencepiece.bpe.model` and no tokenizer.json (as many hub
    checkpoints): transformers converts it to Metaspace without WhitespaceSplit, so that words
    start with their space."""
    pytest.importorskip("sentencepiece")
    from ..multilingual import xlmr_sentencepiece_reader

    return xlmr_sentencepiece_reader(tmp_path_factory.mktemp("xlmr-spm-qa"), seed=6)


def test_a_sentencepiece_model_reader_answers_without_whitespace(sentencepiece_qa_dir, cache):
    """The pipeline answers " Paris" with such a tokenizer; bertcli's pipeline reproduction
    gives exactly that, and `ask` (on the ONNX copy, whose tokenizer.json bertcli wrote from the
    converted tokenizer) the same words at the same place: "Paris"."""
    assert not (sentencepiece_qa_dir / "tokenizer.json").exists()
    pipe = transformers.pipeline("question-answering", model=str(sentencepiece_qa_dir),
                                 tokenizer=str(sentencepiece_qa_dir), device=-1)
    reader = torch_reader(sentencepiece_qa_dir)
    asker = Asker(model=str(sentencepiece_qa_dir), device="cpu", notice=lambda _: None)
    assert isinstance(asker.reader, fast.FastReader)
    rng = random.Random(5)
    spaced = compared = 0
    for _ in range(12):
        doc = random_text(rng, rng.choice([5, 30, 80]), ["de", "fr", "ru", "zh"])
        question = random_text(rng, 4, ["de"]) + "?"
        expected = pipe(question=question, context=doc)
        assert key(read_contexts(reader, question, [(0, doc)])[0][0]) == key(expected)
        if len(reader.encode(question, doc, 384, 128)) != 1:
            continue
        answer = asker.ask(doc, [question], full=True, abstain=False)[0].answers[0]
        spaced += expected["answer"] != expected["answer"].strip()
        start, end = in_one_block(doc, *tidy_span(doc, expected["start"], expected["end"]))
        assert key(answer) == (doc[start:end], start, end)
        compared += 1
    assert compared >= 8 and spaced >= 3  # the case arose


@pytest.mark.parametrize("legacy", [True, False])
def test_every_word_span_is_tidy_and_exact(legacy):
    """For every token of a text with full-width forms, ligatures, decomposed accents, NBSP,
    emoji and runs of spaces: its word's span (tidied) is a whole whitespace-free run of the
    text, never cutting an accent off."""
    from ..multilingual import unigram_tokenizer

    tokenizer = unigram_tokenizer(legacy=legacy)
    text = ("Die  Straße\u00a0ist ＡＢＣ１２３ breit.\n\nLa ﬁnale e\u0301te\u0301 🙂 à Paris, "
            "诺曼人 النورمان  Норманны.")
    encoding = tokenizer("Wo?", text)[0]
    for token, sequence in enumerate(encoding.sequence_ids):
        if sequence != 1:
            continue
        start, end = tidy_span(text, *_word_span(encoding, token, token, 1))
        if start == end:
            continue
        span = text[start:end]
        assert span == span.strip() and not unicodedata.combining(text[end:end + 1] or "a")
        assert start == 0 or text[start - 1].isspace() or not legacy, span


def test_tidy_span():
    text = " été  x\u0301y "
    assert tidy_span(text, 0, 4) == (1, 4)
    assert tidy_span("e\u0301te\u0301", 0, 4) == (0, 5)
    assert tidy_span(text, 5, 7) == (6, 8)  # the mark after x stays with it
    assert tidy_span("   ", 0, 3) == (3, 3)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def mixed_document() -> str:
    return "\n\n".join(" ".join(SENTENCES[lang]) if lang not in UNSPACED else "".join(SENTENCES[lang])
                       for lang in ("de", "zh", "ar", "ja", "ru", "en"))


def test_summarize_with_an_xlmr_encoder_on_onnx_and_torch(run_cli, tiny_xlmr_encoder_dir, tmp_path,
                                                          monkeypatch):
    """`summarize -m DIR` prepares and runs the ONNX copy; torch picks the same sentences."""
    from bertcli.summarize.summarizer import Summarizer

    text = mixed_document()
    doc = write(tmp_path, "doc.txt", text)
    proc = run_cli("summarize", doc, "-m", tiny_xlmr_encoder_dir, "-s", "central", "--precision",
                   "fp32", "-n", "3", "--offline", "-f", "json")
    assert proc.returncode == 0, proc.err
    assert "preparing a fast CPU copy" in proc.err
    picked = json.loads(proc.out)["sentences"]
    for sentence in picked:
        assert text[sentence["start"]:sentence["end"]] == sentence["text"]
    monkeypatch.setenv("BERTCLI_NO_ONNX", "1")
    summarizer = Summarizer(model=str(tiny_xlmr_encoder_dir), device="cpu", strategy="central",
                            precision="fp32", notice=lambda _: None)
    summary = summarizer(text, num_sentences=3)
    assert not hasattr(summarizer.encoder, "session")  # torch
    assert len(picked) == 3
    assert [(s["start"], s["end"]) for s in picked] == [(s.start, s.end) for s in summary.sentences]


@pytest.mark.parametrize("kind", ["xlmr", "bert-under-sentencepiece"])
def test_multilingual_encoders_embed_alike_on_onnx_and_torch(request, kind, tmp_path, cache):
    """Same token ids (pad 1, <s>/</s> with special tokens) and embeddings on both backends,
    for an XLM-R encoder and for a BERT under an XLM-R tokenizer (paraphrase-multilingual)."""
    from bertcli.backends.torch_backend import Encoder

    from ..multilingual import bert_encoder_with_unigram

    path = request.getfixturevalue("tiny_xlmr_encoder_dir") if kind == "xlmr" \
        else bert_encoder_with_unigram(tmp_path / "encoder", seed=9)
    model = ResolvedModel("tiny", path, "directory")
    onnx = fast.load_fast_encoder(model, "fp32", lambda _: None)
    assert onnx is not None and onnx.pad_id == 1
    encoder = Encoder(model, "cpu")
    texts = [s for group in SENTENCES.values() for s in group]
    assert onnx.token_ids(texts) == encoder.token_ids(texts)
    ids = onnx.token_ids(texts[:1], special_tokens=True)[0]
    assert (ids[0], ids[-1]) == (0, 2)
    np.testing.assert_allclose(onnx.embed(texts), encoder.embed(texts), atol=1e-5)
    np.testing.assert_allclose(onnx.embed_normalized(texts), encoder.embed_normalized(texts), atol=1e-5)
    int8 = fast.load_fast_encoder(model, "int8", lambda _: None)  # `summarize`'s default on CPU
    assert int8 is not None
    vectors = int8.embed_normalized(texts)
    assert vectors.shape == (len(texts), 32) and np.isfinite(vectors).all()


def test_ask_cli_with_an_xlmr_reader(run_cli, tiny_xlmr_qa_dir, tmp_path, monkeypatch):
    """`ask -m DIR` on German, Chinese, Arabic, Japanese and Russian text: exit 0, exact
    offsets, and torch's answers from the ONNX copy."""
    text = mixed_document()
    doc = write(tmp_path, "doc.txt", text)
    proc = run_cli("ask", "Wann schwor Rollo die Treue?", doc, "-m", tiny_xlmr_qa_dir, "-k", "3",
                   "--offline", "-f", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    for answer in result["answers"]:
        assert text[answer["start"]:answer["end"]] == answer["text"] == answer["text"].strip()
        assert text[answer["context_start"]:].startswith(answer["context"])
    monkeypatch.setenv("BERTCLI_NO_ONNX", "1")
    asker = Asker(model=str(tiny_xlmr_qa_dir), device="cpu", notice=lambda _: None)
    assert not isinstance(asker.reader, fast.FastReader)
    want = asker.ask(text, ["Wann schwor Rollo die Treue?"], top_k=3)[0].answers
    assert [(a["text"], a["start"], a["end"]) for a in result["answers"]] == [key(a) for a in want]


def test_xlmr_encoder_without_a_tokenizer_limit_truncates_to_its_positions(tiny_xlmr_encoder_dir,
                                                                           tmp_path, cache):
    """XLM-R has 514 positions for 512 tokens (positions start after padding_idx 1). With no
    model_max_length in tokenizer_config.json a long sentence took position 514: IndexError."""
    import shutil

    from bertcli.backends.torch_backend import Encoder

    path = tmp_path / "encoder"
    shutil.copytree(tiny_xlmr_encoder_dir, path)
    config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("model_max_length", None)
    (path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    model = ResolvedModel("tiny", path, "directory")
    encoder = Encoder(model, "cpu")
    onnx = fast.load_fast_encoder(model, "fp32", lambda _: None)
    assert onnx is not None and encoder.max_tokens == onnx.max_tokens == 512
    long = " ".join(["Straße Норманны"] * 300)  # well over 512 tokens
    assert len(encoder.token_ids([long])[0]) == 512
    np.testing.assert_allclose(onnx.embed([long]), encoder.embed([long]), atol=1e-5)
    np.testing.assert_allclose(onnx.embed_normalized([long]), encoder.embed_normalized([long]), atol=1e-5)
