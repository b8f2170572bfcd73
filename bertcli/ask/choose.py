"""The last stage of `ask`: spans the reader offered -> answers, scored and perhaps withheld.

Each span becomes an `Answer` with its sentence and page, and its score becomes the probability
that it is right (bertcli.ask.verify). When the best answer is less likely to be right than
`min_score` (default: the verifier's threshold), the result holds no answers, and the best one
as `best_guess`: "no answer in this document".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..read.document import Document
from ..sentences import Sentence
from .results import Answer, AskResult
from .spans import Span
from .verify import Evidence, Verifier, evidence


def sentence_around(sentences: Sequence[Sentence], start: int, end: int, text: str) -> tuple[str, int]:
    """The sentence(s) that hold [start, end) — an answer can cross a sentence boundary."""
    first = next((s for s in sentences if s.end > start), None)
    last = next((s for s in reversed(sentences) if s.start < end), None)
    if first is None or last is None:
        return text[start:end], start
    lo, hi = min(first.start, start), max(last.end, end)
    return text[lo:hi], lo


def probability(span: Span, seen: Evidence, verifier: Verifier | None) -> float:
    """The probability that `span` is right: the verifier's, or without one for this reader
    the reader's own probability."""
    return verifier.probability(seen) if verifier is not None else span.score


def answers_from_spans(question: str, spans: Sequence[Span], contexts: Sequence[tuple[int, str]],
                       ranks: Sequence[int], doc: Document, sentences: Sequence[Sentence],
                       doc_words: frozenset[str], verifier: Verifier | None) -> list[Answer]:
    """Every span as an Answer of `doc`: its sentence, page, section, evidence and calibrated
    score. A span never crosses a block boundary (a blank line): it ends with its first block."""
    answers = []
    for span in spans:
        span = within_block(span)
        context, context_start = sentence_around(sentences, span.start, span.end, doc.text)
        seen = evidence(question, span.text, context, contexts[span.context_index][1],
                        span.margin, span.score, span.null, span.windows,
                        ranks[span.context_index], doc_words)
        answers.append(Answer(span.text, span.start, span.end, probability(span, seen, verifier), context,
                              context_start, doc.source, doc.page_at(span.start), seen,
                              doc.section_at(span.start)))
    return answers


def within_block(span: Span) -> Span:
    """`span` cut at the first block boundary in it ("4000.\n\n5.4" -> "4000."), without a
    trailing comma, semicolon or colon ("1066," -> "1066")."""
    cut = span.text.find("\n\n")
    text = span.text[:cut] if cut > 0 else span.text
    text = text.rstrip().rstrip(",;:").rstrip() or text
    if text == span.text:
        return span
    return replace(span, text=text, end=span.start + len(text))


def decide(result: AskResult, abstain: bool, min_score: float | None,
           verifier: Verifier | None) -> AskResult:
    """Withhold the answers when the best is less likely to be right than `min_score`
    (default: the verifier's threshold; without a verifier, when no span beat "no answer")."""
    if not result.answers or result.mode != "reader":
        return result
    best = result.answers[0]
    result.no_answer_score = round(1.0 - best.score, 6)
    if not abstain:
        return result
    if min_score is not None:
        unsure = best.score < min_score
    elif verifier is not None:
        unsure = best.score < verifier.threshold
    else:
        unsure = best.evidence is not None and best.evidence.margin <= 0
    if unsure:
        result.best_guess, result.answers = best, []
    return result


def pool(results: Sequence[AskResult], question: str, source: str, model: str, mode: str,
         top_k: int, abstain: bool, min_score: float | None,
         verifier: Verifier | None) -> AskResult:
    """The best `top_k` answers to one question among several documents' (`ask --across`);
    each document's results were kept whole (not abstained), so the best of all is judged.
    `passages` holds every document's passages read, each with its `source`."""
    answers = [a for r in results for a in (r.answers or ([r.best_guess] if r.best_guess else []))]
    best = sorted(answers, key=lambda a: -a.score)[:top_k]
    mode = results[0].mode if results else mode
    # every passage read, named by its document: offsets alone are ambiguous across documents
    read = [replace(p, source=r.source) for r in results for p in r.passages]
    return decide(AskResult(source, model, mode, question, best, read, across=True),
                  abstain, min_score, verifier)
