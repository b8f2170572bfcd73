"""bertcli's reader gives what transformers 4's QuestionAnsweringPipeline gives.

Many random documents and questions, tiny random QA models (BERT and DistilBERT), the
pipeline's defaults (max_seq_len 384, doc_stride 128, max_answer_len 15): same answer text,
start and end, score within 1e-4 — with top-k and with abstention too.
"""

from __future__ import annotations

import random
import zlib

import pytest

pytestmark = pytest.mark.slow

transformers = pytest.importorskip("transformers")
if not hasattr(transformers.pipelines, "QuestionAnsweringPipeline"):
    pytest.skip("this transformers has no question-answering pipeline to compare with",
                allow_module_level=True)

from bertcli.ask.parity import read_contexts  # noqa: E402
from bertcli.ask.spans import read_passages  # noqa: E402
from bertcli.backends.torch_backend import Reader  # noqa: E402
from bertcli.models import ResolvedModel  # noqa: E402

WORDS = ("the duke of normandy rollo river seine in 911 treaty king charles army church "
         "fought battle north france england 1066 hastings william conquest castle people "
         "language norse vikings settled, married. (and) \"quoted\" state's Ñoño café x-ray 42.5%").split()


def random_text(rng: random.Random, n_words: int) -> str:
    parts = []
    for _ in range(n_words):
        parts.append(rng.choice(WORDS))
        parts.append(rng.choice([" ", " ", " ", "  ", "\n", ". ", ", ", "\n\n"]))
    return "".join(parts).strip()


def cases(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        # Lengths from one window to several (384-token windows with a 128-token stride).
        doc = random_text(rng, rng.choice([5, 30, 120, 300, 700, 1200]))
        question = random_text(rng, rng.randint(1, 12)).replace("\n", " ") + "?"
        yield question, doc


def pipeline_answers(pipe, question, doc, **kwargs):
    out = pipe(question=question, context=doc, **kwargs)
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("model_fixture", ["tiny_qa_dir", "tiny_bert_qa_dir"])
@pytest.mark.parametrize("top_k,impossible", [(1, False), (3, False), (2, True)])
def test_reader_matches_pipeline(request, model_fixture, top_k, impossible):
    path = request.getfixturevalue(model_fixture)
    pipe = transformers.pipeline("question-answering", model=str(path), tokenizer=str(path), device=-1)
    reader = Reader(ResolvedModel("tiny", path, "directory"), "cpu")
    compared = 0
    for question, doc in cases(seed=zlib.crc32(f"{model_fixture}{top_k}{impossible}".encode()), n=25):
        expected = pipeline_answers(pipe, question, doc, top_k=top_k, handle_impossible_answer=impossible)
        got, _ = read_contexts(reader, question, [(0, doc)], top_k=top_k,
                               handle_impossible_answer=impossible)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            assert (g["answer"], g["start"], g["end"]) == (e["answer"], e["start"], e["end"])
            assert g["score"] == pytest.approx(e["score"], abs=1e-4)
            assert doc[g["start"]:g["end"]] == g["answer"]
        compared += len(got)
    assert compared >= 25


@pytest.mark.parametrize("model_fixture", ["tiny_qa_dir", "tiny_bert_qa_dir"])
def test_document_ranking_keeps_the_pipeline_answer_on_one_window(request, model_fixture):
    """`ask` ranks with read_passages; where a document fits one window its top answer is the
    pipeline's (text, start, end), and its score is a probability."""
    path = request.getfixturevalue(model_fixture)
    pipe = transformers.pipeline("question-answering", model=str(path), tokenizer=str(path), device=-1)
    reader = Reader(ResolvedModel("tiny", path, "directory"), "cpu")
    rng = random.Random(7)
    compared = 0
    for _ in range(40):
        doc = random_text(rng, rng.choice([5, 20, 60, 150]))
        question = random_text(rng, rng.randint(1, 8)).replace("\n", " ") + "?"
        if len(reader.encode(question, doc, 384, 128)) != 1:
            continue
        expected = pipeline_answers(pipe, question, doc)[0]
        got = read_passages(reader, question, [(0, doc)], abstain=False)
        assert (got[0].text, got[0].start, got[0].end) == (expected["answer"], expected["start"],
                                                           expected["end"])
        assert 0.0 <= got[0].score <= 1.0
        compared += 1
    assert compared >= 30
