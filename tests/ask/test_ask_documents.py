"""`ask` on whole documents: comparable scores, distinct answers, several documents, eval."""

import json

import numpy as np
import pytest

from bertcli.ask.asker import Asker, read_passages
from bertcli.eval import squad

from ..cli.test_cli import one_line_error
from ..conftest import EXAMPLE


@pytest.fixture(scope="module")
def asker(tiny_qa_dir):
    return Asker(model=str(tiny_qa_dir), device="cpu")


def test_scores_are_probabilities_and_answers_are_distinct(asker):
    text = EXAMPLE.read_text(encoding="utf-8")
    [result] = asker.ask(text * 3, ["Who was the Norse leader?"], top_k=5, abstain=False)
    assert 1 <= len(result.answers) <= 5
    total = sum(a.score for a in result.answers)
    assert all(0.0 <= a.score <= 1.0 for a in result.answers) and total <= 1.0 + 1e-6
    assert [a.score for a in result.answers] == sorted((a.score for a in result.answers), reverse=True)
    for i, a in enumerate(result.answers):  # no answer overlaps or contains another
        for b in result.answers[i + 1:]:
            assert a.end <= b.start or b.end <= a.start, (a, b)
        assert a.source == "<text>" or a.source


def test_a_window_without_the_answer_cannot_outrank_one_with_it(asker, monkeypatch):
    """Two passages: the reader is sure of "Rollo" in one (well above its no-answer) and
    offers a span in the other that its own no-answer beats. Per-window softmax would rank
    both alike; the document-level score keeps the right one, and abstains in the other."""
    first = "The Norse leader was Rollo, who swore fealty to the king."
    second = "Bread is baked in ovens in many villages of the valley."
    text = first + "\n\n" + second
    reader = asker.reader

    def logits(windows, batch_size=16):
        out = []
        for w in windows:
            ids = w["input_ids"]
            n = len(ids)
            start, end = np.full(n, -5.0, np.float32), np.full(n, -5.0, np.float32)
            tokens = [reader.tokenizer.id_to_token(i) for i in ids]  # the ONNX reader's tokenizer
            if "roll" in "".join(tokens).lower():
                k = next(i for i, t in enumerate(tokens) if t.lower().startswith("roll"))
                start[k], end[k] = 6.0, 6.0
                start[0] = end[0] = 0.0
            else:
                k = next(i for i, t in enumerate(tokens) if t.lower().startswith("bread"))
                start[k], end[k] = 3.0, 3.0
                start[0] = end[0] = 4.0  # the reader prefers "no answer" here
            out.append((start, end))
        return out

    monkeypatch.setattr(reader, "logits", logits)
    spans = read_passages(reader, "Who was the leader?", [(0, first), (len(first) + 2, second)],
                          top_k=3)
    assert spans and spans[0].text.lower().startswith("roll")
    assert all("bread" not in s.text.lower() for s in spans)
    assert text[spans[0].start:spans[0].end] == spans[0].text


def test_cli_names_each_documents_answers_and_across_ranks_them(run_cli, tiny_qa_dir, tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    b.write_text("Bread is baked in ovens. The valley has many villages and two rivers.\n")
    proc = run_cli("ask", "Who was the Norse leader?", a, b, "--model", tiny_qa_dir)
    assert proc.returncode == 0, proc.err
    headers = [line for line in proc.out.splitlines() if line.startswith("==> ")]
    assert headers == [f"==> {a}: Who was the Norse leader? <==",
                       f"==> {b}: Who was the Norse leader? <=="]

    proc = run_cli("ask", "Who was the Norse leader?", a, b, "--model", tiny_qa_dir, "--across",
                   "-k", "3", "--format", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)  # one question: one object, whatever the documents
    assert 1 <= len(result["answers"]) <= 3
    scores = [x["score"] for x in result["answers"]]
    assert scores == sorted(scores, reverse=True)
    texts = {str(a): a.read_text(encoding="utf-8"), str(b): b.read_text(encoding="utf-8")}
    for answer in result["answers"]:
        assert answer["source"] in texts
        assert texts[answer["source"]][answer["start"]:answer["end"]] == answer["text"]

    proc = run_cli("ask", "Who was the Norse leader?", a, b, "--model", tiny_qa_dir, "--across",
                   "-k", "2")
    assert proc.returncode == 0, proc.err
    for line in proc.out.splitlines():
        assert line.split("\t")[1] in texts


def test_questions_file_reports_a_bad_line_and_answers_the_rest(run_cli, tiny_qa_dir, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("Who was the Norse leader?\n" + "word " * 400 + "\nWhere is Normandy?\n")
    proc = run_cli("ask", "-q", questions, EXAMPLE, "--model", tiny_qa_dir, "-f", "jsonl")
    assert proc.returncode == 3
    got = [json.loads(line)["question"] for line in proc.out.splitlines()]
    assert got == ["Who was the Norse leader?", "Where is Normandy?"]
    errors = [line for line in proc.err.splitlines() if line.startswith("bertcli: error:")]
    assert len(errors) == 1 and "line 2" in errors[0] and "question too long" in errors[0]
    assert "Traceback" not in proc.err


def test_question_after_the_document_gets_a_hint(run_cli):
    proc = run_cli("ask", EXAMPLE, "Who was the Norse leader?")
    one_line_error(proc, 3, "no such file", "the question comes first")


def test_jsonl_streams_each_answer_as_it_is_ready(asker):
    text = EXAMPLE.read_text(encoding="utf-8")
    results = asker.iter_ask(text, ["Who?", "When?", "Where?"])
    first = next(results)  # one answered question, before the others are read
    assert first.question == "Who?"
    assert [r.question for r in results] == ["When?", "Where?"]


def _two_paragraph_squad(tmp_path, version="1.1"):
    paragraphs = [
        {"context": "The capital of France is Paris. It lies on the Seine.",
         "qas": [{"id": "q1", "question": "What is the capital of France?",
                  "answers": [{"text": "Paris", "answer_start": 25}]}]},
        {"context": "The Loire is the longest river in France.",
         "qas": [{"id": "q2", "question": "What is the longest river in France?",
                  "answers": [{"text": "The Loire", "answer_start": 0}]}]},
    ]
    if version == "2.0":
        paragraphs[1]["qas"].append({"id": "q3", "question": "Who painted the river?",
                                     "answers": [], "is_impossible": True})
        for p in paragraphs:
            for qa in p["qas"]:
                qa.setdefault("is_impossible", False)
    path = tmp_path / f"squad{version}.json"
    path.write_text(json.dumps({"version": version, "data": [{"title": "France",
                                                              "paragraphs": paragraphs}]}))
    return path


def test_whole_articles_join_paragraphs_and_shift_offsets(tmp_path):
    path = _two_paragraph_squad(tmp_path)
    [article] = squad.whole_articles(squad.load_articles(path))
    assert article.text.count("\n\n") == 1
    for q in article.questions:
        for answer, start in zip(q.answers, q.answer_starts):
            assert article.text[start:start + len(answer)] == answer


def test_cli_eval_ask_whole_article(run_cli, tmp_path):
    path = _two_paragraph_squad(tmp_path, "2.0")
    proc = run_cli("eval", "ask", path, "--whole-article", "--format", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert result["mode"] == "whole article" and result["questions"] == 3
    assert result["abstain"] is True and result["passages"] == 10
    assert 0 <= result["unanswerable_abstained"] <= 100
    assert 0 <= result["answerable_overlap"] <= 100
    assert result["seconds_per_question"] > 0
    assert 0 <= result["f1"] <= 100


def test_cli_eval_ask_whole_article_without_paragraphs(run_cli, tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"data": [{"title": "T", "paragraphs": []}]}))
    one_line_error(run_cli("eval", "ask", path, "--whole-article"), 3, "holds no questions")


def test_long_questions_lists_are_planned_a_few_at_a_time(asker, monkeypatch):
    """The first answer of a long questions file must not wait for every question's
    retrieval (a 10,000-line file printed nothing for minutes)."""
    import bertcli.ask.plan as plan
    from bertcli.ask.retrieve import Index

    monkeypatch.setattr(plan, "PLAN_AHEAD", 2)
    planned = []
    original = Index.top
    monkeypatch.setattr(Index, "top", lambda self, q, k: planned.append(q) or original(self, q, k))
    text = (EXAMPLE.read_text(encoding="utf-8") + "\n\n") * 4
    questions = [f"Question number {i}?" for i in range(6)]
    results = asker.iter_ask(text, questions)
    first = next(results)
    assert first.question == questions[0] and len(planned) == 2
    assert [r.question for r in results] == questions[1:] and len(planned) == 6
