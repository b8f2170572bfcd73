"""Questions read side by side: results in question order, errors in their place, nothing
drawn ahead of what the consumer takes, and the same answers as reading one at a time."""

from __future__ import annotations

import threading
import time

import pytest

from bertcli.ask import asker as qa
from bertcli.backends.onnx_models import FastReader
from bertcli.ordered import in_order

from ..conftest import EXAMPLE


def test_results_come_in_input_order_when_later_items_finish_first():
    delays = [0.2, 0.0, 0.1, 0.0, 0.05]

    def work(i, delay):
        time.sleep(delay)
        return i

    assert list(in_order(work, enumerate(delays), 2)) == [0, 1, 2, 3, 4]


def test_two_items_run_at_the_same_time():
    together = threading.Barrier(2, timeout=10)  # one at a time: BrokenBarrierError

    def work(i):
        together.wait()
        return i * 10

    assert list(in_order(work, [(i,) for i in range(4)], 2)) == [0, 10, 20, 30]


def test_items_are_drawn_on_the_callers_thread_and_one_at_a_time_runs_there():
    caller = threading.current_thread()
    drawn_on, ran_on = [], []

    def items():
        for i in range(5):
            drawn_on.append(threading.current_thread())
            yield (i,)

    def work(i):
        ran_on.append(threading.current_thread())
        return i

    assert list(in_order(work, items(), 3)) == list(range(5))
    assert drawn_on == [caller] * 5
    assert list(in_order(work, items(), 1)) == list(range(5))
    assert ran_on[-5:] == [caller] * 5


def test_an_error_is_raised_in_its_place_after_the_results_before_it():
    def work(i):
        if i == 2:
            raise ValueError("question 2 failed")
        return i

    got = []
    with pytest.raises(ValueError, match="question 2 failed"):
        for result in in_order(work, [(i,) for i in range(6)], 2):
            got.append(result)
    assert got == [0, 1]


def test_a_consumer_that_stops_early_leaves_the_rest_undrawn():
    drawn = []

    def items():
        for i in range(100):
            drawn.append(i)
            yield (i,)

    results = in_order(lambda i: i, items(), 2)
    assert next(results) == 0
    results.close()
    assert len(drawn) <= 3


@pytest.fixture(scope="module")
def asker(tiny_qa_dir):
    return qa.Asker(model=str(tiny_qa_dir), device="cpu")


def test_questions_read_side_by_side_get_the_answers_read_one_at_a_time(asker):
    text = EXAMPLE.read_text(encoding="utf-8")  # 4,000 words: through the retriever
    questions = ["Who was Rollo?", "When did the Normans get their name?", "Where is Normandy?",
                 "Who did Rollo swear fealty to?", "What language did the Normans speak?"]
    reader = asker.ready_reader()
    assert isinstance(reader, FastReader)  # its tokenizer is shared by the reading threads
    default = reader.runs_at_once

    def answers(runs_at_once: int) -> list:
        reader.runs_at_once = runs_at_once
        results = asker.ask(text, questions, top_k=3, passages=6, abstain=False)
        return [(r.question, [(a.text, a.start, a.end, round(a.score, 6)) for a in r.answers],
                 [(p.start, p.end) for p in r.passages]) for r in results]

    try:
        one_at_a_time = answers(1)
        assert answers(2) == one_at_a_time == answers(4)
    finally:
        reader.runs_at_once = default
    assert [q for q, _, _ in one_at_a_time] == questions
    assert all(spans for _, spans, _ in one_at_a_time)
