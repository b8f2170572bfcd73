import numpy as np
import pytest

from bertcli.ask.asker import FULL_READ_TOKENS, Asker, Passage, merge_adjacent, sentence_around
from bertcli.ask.plan import reads_whole
from bertcli.errors import InputError, UsageError
from bertcli.sentences import split_sentences

from ..conftest import EXAMPLE


@pytest.fixture(scope="module")
def asker(tiny_qa_dir):
    return Asker(model=str(tiny_qa_dir), device="cpu")


def test_answers_carry_offsets_and_context(asker):
    text = EXAMPLE.read_text(encoding="utf-8")[:1500]
    result = asker.ask(text, ["Who was the Norse leader?"], top_k=3)[0]
    assert result.mode == "reader" and 1 <= len(result.answers) <= 3
    scores = [a.score for a in result.answers]
    assert scores == sorted(scores, reverse=True)
    for a in result.answers:
        assert text[a.start:a.end] == a.text
        assert text[a.context_start:a.context_start + len(a.context)] == a.context
        assert a.context_start <= a.start and a.end <= a.context_start + len(a.context)
    assert result.passages == [Passage(0, len(text))]  # short: read whole


def test_long_document_reads_ranked_passages_only(asker):
    text = EXAMPLE.read_text(encoding="utf-8")
    assert not reads_whole(asker.reader, text)
    assert asker.reader.token_counts([text])[0] > FULL_READ_TOKENS
    result = asker.ask(text, ["Who was the Norse leader?"], passages=3)[0]
    read = sum(p.end - p.start for p in result.passages)
    assert 0 < read < len(text) / 3
    for a in result.answers:
        assert any(p.start <= a.start and a.end <= p.end for p in result.passages)
    full = asker.ask(text, ["Who was the Norse leader?"], full=True)[0]
    assert full.passages == [Passage(0, len(text))]


def test_abstains_when_no_answer_beats_the_null_answer(asker, monkeypatch):
    def cls_wins(windows, batch_size=16):
        out = []
        for w in windows:
            n = len(w["input_ids"])
            start, end = np.zeros(n, np.float32), np.zeros(n, np.float32)
            start[0] = end[0] = 20.0  # all the mass on [CLS]: "no answer"
            out.append((start, end))
        return out

    monkeypatch.setattr(asker.reader, "logits", cls_wins)
    result = asker.ask("The sky is blue. Grass is green.", ["What colour is snow?"])[0]
    assert result.answers == [] and result.mode == "reader"


def test_several_questions_in_order(asker):
    questions = ["Where is Normandy?", "Who was Rollo?", "When?"]
    results = asker.ask("Normandy is in France. Rollo was a Viking leader in 911.", questions)
    assert [r.question for r in results] == questions


@pytest.mark.parametrize("questions,error,message", [
    ([""], InputError, "empty question"),
    (["   "], InputError, "empty question"),
    ([], InputError, "no questions"),
    (["word " * 400], InputError, "question too long"),
])
def test_bad_questions(asker, questions, error, message):
    with pytest.raises(error, match=message):
        asker.ask("Some document text.", questions)


def test_bad_options(asker):
    with pytest.raises(UsageError, match="--top-k"):
        asker.ask("Some text.", ["Why?"], top_k=0)


def test_merge_adjacent_joins_neighbours_only():
    text = "aaa bbb\n\nccc ddd"
    merged = merge_adjacent([Passage(12, 15), Passage(0, 3), Passage(4, 7)], text)
    assert merged == [Passage(0, 7), Passage(12, 15)]


def test_sentence_around_spans_sentences():
    text = "One two. Three four. Five."
    sentences = split_sentences(text)
    assert sentence_around(sentences, 4, 7, text) == ("One two.", 0)
    assert sentence_around(sentences, 4, 14, text) == ("One two. Three four.", 0)


def test_retrieval_only_on_real_text():
    text = EXAMPLE.read_text(encoding="utf-8")
    asker = Asker(retrieval_only=True, device="cpu")
    result = asker.ask(text, ["Who was the Norse leader who swore fealty to King Charles III?"], top_k=2)[0]
    assert result.mode == "retrieval" and len(result.answers) == 2
    assert "Rollo" in result.answers[0].text
    for a in result.answers:
        assert text[a.start:a.end] == a.text


def test_no_reader_at_all_falls_back_to_retrieval(monkeypatch):
    """Without the hub reader and without the bundled one, answers come from the retriever."""
    import bertcli.ask.asker as qa

    monkeypatch.setattr(qa, "bundled_reader", lambda: None)
    notices = []
    asker = qa.Asker(device="cpu", offline=True, notice=notices.append)
    assert asker.mode == "retrieval" and asker.reader is None
    assert len(notices) == 1
    assert "bertcli models pull distilbert-base-cased-distilled-squad" in notices[0]


def test_merge_adjacent_only_while_it_fits_one_window():
    from bertcli.ask.asker import Passage, merge_adjacent

    text = "a" * 10 + " " + "b" * 10 + " " + "c" * 10 + "  x  " + "d" * 10
    parts = [Passage(0, 10), Passage(11, 21), Passage(22, 32), Passage(37, 47)]
    # no limit: neighbours separated by whitespace join, the one after "x" stays apart
    assert merge_adjacent(parts[::-1], text) == [Passage(0, 32), Passage(37, 47)]
    # at most 21 characters per merged passage: a, b join; c cannot join them
    fits = lambda p: p.end - p.start <= 21  # noqa: E731
    assert merge_adjacent(parts, text, fits) == [Passage(0, 21), Passage(22, 32), Passage(37, 47)]
