"""SQuAD 2.0's official metrics and calibration (bertcli.eval.squad2)."""

from __future__ import annotations

import pytest

from bertcli.eval.squad import Question
from bertcli.eval.squad2 import calibration, coverage, squad2_metrics


def q(qid: str, answers: tuple[str, ...]) -> Question:
    return Question(qid, "t", "ctx", "?", answers, tuple(0 for _ in answers))


QUESTIONS = [q("a", ("Rollo",)), q("b", ("in 911",)), q("c", ()), q("d", ())]


def test_official_figures_with_abstentions():
    predictions = {"a": "Rollo", "b": "", "c": "", "d": "Paris"}
    details = {"a": ("Rollo", 0.9), "b": ("911", 0.4), "c": ("x", 0.2), "d": ("Paris", 0.6)}
    out = squad2_metrics(QUESTIONS, predictions, details)
    assert out["exact"] == pytest.approx(50.0)  # a right, c right (no answer), b and d wrong
    assert out["HasAns_f1"] == pytest.approx(50.0) and out["NoAns_accuracy"] == pytest.approx(50.0)
    # answering only "a" (threshold 0.9): a right, c and d right as no answer -> 3 of 4
    assert out["best_f1"] == pytest.approx(75.0) and out["best_threshold"] == pytest.approx(0.9)


def test_calibration_and_coverage():
    details = {"a": ("Rollo", 0.95), "b": ("Paris", 0.95), "c": ("x", 0.05), "d": ("y", 0.05)}
    ece, table = calibration(QUESTIONS, details)
    # bin 0.9-1.0: mean 0.95, right 0.5; bin 0.0-0.1: mean 0.05, right 0.0
    assert ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)
    assert [row["answers"] for row in table] == [2, 2]
    answered, right = coverage(QUESTIONS, {"a": "Rollo", "b": "Paris", "c": "", "d": ""})
    assert (answered, right) == (50.0, 50.0)
