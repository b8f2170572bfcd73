"""`ask` says when the document does not answer: the verifier's score, abstention in every
surface (text, JSON, chat, serve, ask --index), --min-score and --always-answer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertcli.ask import verify
from bertcli.ask.choose import decide
from bertcli.ask.results import Answer, AskResult

from ..conftest import EXAMPLE


def _result(score: float, mode: str = "reader") -> AskResult:
    answer = Answer("Rollo", 10, 15, score, "Rollo led them.", 10, "doc.txt")
    return AskResult("doc.txt", "m", mode, "Who?", [answer], [])


def test_below_the_threshold_the_best_answer_becomes_the_best_guess():
    verifier = verify.Verifier(np.zeros(len(verify.FEATURES)), np.ones(len(verify.FEATURES)),
                               np.zeros(len(verify.FEATURES)), 0.0, threshold=0.5)
    result = decide(_result(0.3), abstain=True, min_score=None, verifier=verifier)
    assert result.answers == [] and result.best_guess is not None
    assert result.best_guess.text == "Rollo" and result.no_answer_score == pytest.approx(0.7)
    kept = decide(_result(0.3), abstain=False, min_score=None, verifier=verifier)
    assert [a.text for a in kept.answers] == ["Rollo"] and kept.best_guess is None
    assert decide(_result(0.3), True, 0.25, verifier).answers  # --min-score overrides
    assert not decide(_result(0.6), True, 0.7, verifier).answers
    retrieval = decide(_result(0.01, "retrieval"), True, None, verifier)
    assert retrieval.answers and retrieval.no_answer_score is None


def test_verifier_probability_is_a_logistic_of_the_features():
    n = len(verify.FEATURES)
    weights = np.zeros(n)
    weights[0] = 1.0  # margin / 10, clipped to [-1.5, 2.5]
    v = verify.Verifier(np.zeros(n), np.ones(n), weights, -1.0, 0.5)
    e = verify.evidence("Who led the Normans?", "Rollo", "Rollo led the Normans.", "Rollo led the Normans.",
                        margin=30.0, probability=0.9, null=0.01, windows=1, rank=0,
                        doc_words=verify.document_words("Rollo led the Normans."))
    assert v.probability(e) == pytest.approx(1 / (1 + np.exp(-(2.5 - 1.0))))
    assert e.document_coverage == 1.0 and e.rare_missing == 0
    other = verify.evidence("Who led the Vikings in Sweden?", "Rollo", "Rollo led the Normans.",
                            "Rollo led the Normans.", 30.0, 0.9, 0.01, 1, 0,
                            verify.document_words("Rollo led the Normans."))
    assert other.rare_missing == 2  # Vikings, Sweden


def test_the_shipped_verifier_fits_its_features_and_reader():
    v = verify.bundled()
    assert v is not None and len(v.weights) == len(verify.FEATURES) and 0 < v.threshold < 1
    assert verify.for_reader(v.reader) is v
    assert verify.for_reader("distilbert-base-cased-distilled-squad") is None


def test_a_question_the_document_does_not_answer(run_cli):
    proc = run_cli("ask", "What is the capital of France?", EXAMPLE, "--offline")
    assert proc.returncode == 0, proc.err
    assert proc.out.startswith(f"no answer in {EXAMPLE} (best guess: \"")
    assert len(proc.out.splitlines()) == 1
    proc = run_cli("ask", "What is the capital of France?", EXAMPLE, "--offline", "-f", "json")
    result = json.loads(proc.out)
    assert result["answers"] == [] and result["best_guess"]["text"]
    guess = result["best_guess"]
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text[guess["start"]:guess["end"]] == guess["text"]
    assert result["no_answer_score"] == pytest.approx(1 - guess["score"], abs=1e-6)
    proc = run_cli("ask", "What is the capital of France?", EXAMPLE, "--offline", "--always-answer")
    assert proc.returncode == 0 and proc.out.strip() == guess["text"]


def test_a_question_the_document_answers(run_cli):
    proc = run_cli("ask", "Who was the Norse leader?", EXAMPLE, "--offline", "-f", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert result["answers"][0]["text"] == "Rollo" and result["best_guess"] is None
    assert 0.5 < result["answers"][0]["score"] <= 1.0


@pytest.mark.parametrize("value", ["-0.1", "1.5", "abc"])
def test_min_score_outside_zero_to_one_is_a_usage_error(run_cli, value):
    proc = run_cli("ask", "Who?", EXAMPLE, "--min-score", value, "--offline")
    assert proc.returncode == 2 and "--min-score" in proc.err and "Traceback" not in proc.err


@pytest.mark.parametrize("text", ["   \n\t  \n", "123 456 7890 42 17"])
def test_documents_of_whitespace_or_numbers_give_an_error_or_no_made_up_span(run_cli, tmp_path, text):
    doc = tmp_path / "doc.txt"
    doc.write_text(text, encoding="utf-8")
    proc = run_cli("ask", "Who founded the city?", doc, "--offline", "-f", "json")
    assert "Traceback" not in proc.err
    if proc.returncode:
        assert proc.returncode == 3 and len(proc.err.strip().splitlines()) == 1
        return
    result = json.loads(proc.out)
    for answer in result["answers"] + ([result["best_guess"]] if result["best_guess"] else []):
        assert text[answer["start"]:answer["end"]] == answer["text"]


def test_a_question_longer_than_the_window_is_one_line(run_cli):
    proc = run_cli("ask", "why " * 400, EXAMPLE, "--offline", "--quiet")
    assert proc.returncode == 3 and "question too long" in proc.err
    assert len(proc.err.strip().splitlines()) == 1


def test_ask_index_refuses_options_it_cannot_honour(run_cli, tmp_path):
    proc = run_cli("ask", "--index", tmp_path, "Who?", "--full", "--lang", "de")
    assert proc.returncode == 2
    assert "--index does not take --full, --lang" in proc.err
