"""SQuAD data and the official v1.1 metric (exact match and token F1).

No third-party imports: the training script and `bertcli eval ask` share this module.
"""

from __future__ import annotations

import collections
import gzip
import json
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]


def load_articles(path: str | Path) -> list[dict]:
    """The `data` list of a SQuAD-layout JSON file (gzip allowed), checked record by record:
    a malformed record is an InputError naming the file and where in it."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            payload = json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except (OSError, EOFError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InputError(f"{path}: not a SQuAD JSON file ({str(err)[:120] or type(err).__name__})") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise InputError(f"{path}: not a SQuAD JSON file (no top-level \"data\" list)")
    try:
        for _ in iter_questions(data):
            pass
    except InputError as err:
        raise InputError(f"{path}: {err.message}") from None
    return data


def iter_questions(articles: Iterable[dict]) -> Iterator[Question]:
    """Every question with its paragraph. A malformed record (missing or mistyped field, empty
    context, an answer_start outside its paragraph) is an InputError saying where it is."""

    def kind_name(kind) -> str:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = {str: "a string", int: "an integer", list: "a list", dict: "an object"}
        return " or ".join(names.get(k, k.__name__) for k in kinds)

    def bad(where: str, what: str) -> InputError:
        return InputError(f"not a SQuAD JSON file ({where}: {what})")

    def field(record, name: str, kind, where: str, default=None):
        if not isinstance(record, dict):
            raise bad(where, "not a JSON object")
        if name not in record:
            if default is not None:
                return default
            raise bad(where, f"no \"{name}\"")
        value = record[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad(where, f"\"{name}\" is {type(value).__name__}, not {kind_name(kind)}")
        return value

    for a, article in enumerate(articles, start=1):
        where = f"article {a}"
        title = field(article, "title", str, where, default="")
        for p, paragraph in enumerate(field(article, "paragraphs", list, where, default=[]), start=1):
            where = f"article {a}, paragraph {p}"
            context = field(paragraph, "context", str, where)
            if not context.strip():
                raise bad(where, "empty context")
            for k, qa in enumerate(field(paragraph, "qas", list, where, default=[]), start=1):
                where = f"article {a}, paragraph {p}, question {k}"
                qid = field(qa, "id", (str, int), where)
                question = field(qa, "question", str, where)
                answers = field(qa, "answers", list, where, default=[])
                texts, starts = [], []
                for n, answer in enumerate(answers, start=1):
                    at = f"{where}, answer {n}"
                    texts.append(field(answer, "text", str, at))
                    start = field(answer, "answer_start", int, at)
                    if not 0 <= start <= len(context):
                        raise bad(at, f"answer_start {start} is outside its paragraph "
                                      f"(0-{len(context)})")
                    starts.append(start)
                yield Question(
                    id=str(qid),
                    title=title,
                    context=context,
                    question=question,
                    answers=tuple(texts),
                    answer_starts=tuple(starts),
                )


def load_questions(path: str | Path) -> list[Question]:
    questions = list(iter_questions(load_articles(path)))
    if not questions:
        raise InputError(f"{path}: holds no questions")
    return questions


_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the official script)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1_score(prediction: str, truth: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(truth).split()
    common = collections.Counter(predicted) & collections.Counter(expected)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_over(metric, prediction: str, truths: Sequence[str]) -> float:
    # SQuAD 2.0 unanswerable questions: only an empty prediction is right.
    if not truths:
        return float(not normalize_answer(prediction))
    return max(metric(prediction, truth) for truth in truths)


def score(questions: Sequence[Question], predictions: dict[str, str]) -> dict[str, float]:
    """EM and F1 in percent over `questions`; a missing prediction counts as wrong."""
    em = f1 = 0.0
    for q in questions:
        predicted = predictions.get(q.id, "")
        em += best_over(exact_match, predicted, q.answers)
        f1 += best_over(f1_score, predicted, q.answers)
    n = max(len(questions), 1)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n, "questions": len(questions)}


def has_unanswerable(articles: Iterable[dict]) -> bool:
    """True for SQuAD 2.0 files, whose questions may have no answer by design."""
    return any("is_impossible" in qa for a in articles for p in a.get("paragraphs", [])
               for qa in p.get("qas", []))


def _accepted(asker, questions: Sequence[Question], predictions: dict[str, str]) -> list[Question]:
    """The questions the reader takes; each one it refuses (e.g. too long) is predicted "",
    which counts as wrong."""
    accepted = []
    for q in questions:
        try:
            asker.check_question(q.question)
        except InputError:
            predictions[q.id] = ""
            continue
        accepted.append(q)
    return accepted


def _keep(result, details: dict[str, tuple[str, float]] | None, qid: str) -> str:
    """The answer text ("" for none); the best guess and its score go to `details`."""
    best = result.answers[0] if result.answers else result.best_guess
    if details is not None:
        details[qid] = (best.text, float(best.score)) if best is not None else ("", 0.0)
    return result.answers[0].text if result.answers else ""


def predict(asker, questions: Sequence[Question], abstain: bool, max_answer_len: int = 15,
            details: dict[str, tuple[str, float]] | None = None,
            min_score: float | None = None) -> tuple[dict[str, str], int]:
    """Ask each question against its own paragraph, as `bertcli ask` would.

    `asker` is a `bertcli.ask.asker.Asker`. Returns {question id: answer text} ("" for no
    answer) and how many questions the reader refused (e.g. too long); those count as wrong.
    `details` (if given) gets {question id: (best guess, its score)}, answered or not.
    """
    by_context: dict[str, list[Question]] = {}
    for q in questions:
        by_context.setdefault(q.context, []).append(q)
    predictions: dict[str, str] = {}
    refused = 0
    for context, group in by_context.items():
        accepted = _accepted(asker, group, predictions)
        refused += len(group) - len(accepted)
        if not accepted:
            continue
        results = asker.ask(context, [q.question for q in accepted], full=True, abstain=abstain,
                            max_answer_len=max_answer_len, min_score=min_score)
        for q, result in zip(accepted, results):
            predictions[q.id] = _keep(result, details, q.id)
    return predictions, refused


# --- whole articles: each question asked of its whole article, as a user asks a document -----

ARTICLE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Article:
    """An article's paragraphs joined by a blank line, and its questions."""

    title: str
    text: str
    questions: tuple[Question, ...]


def whole_articles(articles: Iterable[dict]) -> list[Article]:
    """Join each article's paragraphs with a blank line; answer offsets move with them."""
    out: list[Article] = []
    for article in articles:
        parts: list[str] = []
        questions: list[Question] = []
        shift = 0
        for paragraph in article.get("paragraphs", []):
            for q in iter_questions([{"title": article.get("title", ""), "paragraphs": [paragraph]}]):
                questions.append(Question(q.id, q.title, q.context, q.question, q.answers,
                                          tuple(s + shift for s in q.answer_starts)))
            parts.append(paragraph["context"])
            shift += len(paragraph["context"]) + len(ARTICLE_SEPARATOR)
        if questions:
            out.append(Article(article.get("title", ""), ARTICLE_SEPARATOR.join(parts),
                               tuple(questions)))
    return out


def predict_whole(asker, articles: Sequence[Article], abstain: bool, max_answer_len: int = 15,
                  passages: int | None = None, full: bool = False,
                  details: dict[str, tuple[str, float]] | None = None,
                  min_score: float | None = None) -> tuple[dict[str, str], int]:
    """Ask each question of its whole article through `ask`'s default path (retrieval for a
    long article, reading, selection). Returns {question id: answer} and the refused count."""
    from ..read.document import Document

    predictions: dict[str, str] = {}
    refused = 0
    for article in articles:
        accepted = _accepted(asker, article.questions, predictions)
        refused += len(article.questions) - len(accepted)
        if not accepted:
            continue
        doc = Document(source=article.title or "article", text=article.text)
        kwargs = {} if passages is None else {"passages": passages}
        results = asker.ask(doc, [q.question for q in accepted], full=full, abstain=abstain,
                            max_answer_len=max_answer_len, min_score=min_score, **kwargs)
        for q, result in zip(accepted, results):
            predictions[q.id] = _keep(result, details, q.id)
    return predictions, refused


def overlap_rate(questions: Sequence[Question], predictions: dict[str, str]) -> float:
    """Percent of questions whose predicted answer shares a token with a reference answer."""
    hits = sum(1 for q in questions
               if best_over(f1_score, predictions.get(q.id, ""), q.answers) > 0)
    return 100.0 * hits / max(len(questions), 1)


def spread(articles: Iterable[dict], per_article: int) -> list[Question]:
    """`per_article` questions of each article, evenly spaced through it (first to last
    paragraph), so that a sample asks about every part of a document."""
    chosen: list[Question] = []
    for article in articles:
        questions = list(iter_questions([article]))
        if len(questions) <= per_article:
            chosen.extend(questions)
            continue
        step = len(questions) / per_article
        chosen.extend(questions[int(i * step)] for i in range(per_article))
    return chosen
