"""Extractive question answering: the `Asker` API, passages to read, answers with offsets.

Windows and the choice of spans live in bertcli.spans; passages and their ranking in
bertcli.retrieve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .. import notices
from ..errors import InputError, UsageError
from ..languages import AUTO, check_lang, resolve_language, warn_if_english_only
from ..models import (
    BUNDLED_READER,
    DEFAULT_READER,
    ResolvedModel,
    bundled_reader,
    fallback_message,
    prefer_bundled,
    resolve,
)
from ..progress import ProgressCallback
from ..read.document import Document, as_document
from ..sentences import Sentence, split_sentences
from .retrieve import Passage, merge_adjacent
from .spans import (  # noqa: F401  (re-exported: bertcli.qa was their home)
    DOC_STRIDE,
    MAX_ANSWER_LEN,
    MAX_SEQ_LEN,
    READ_STEP,
    Span,
    make_windows,
    rank_prior,
    read_contexts,
    read_passages,
    window_tokens,
)
from .verify import Evidence, document_words, evidence
from .verify import bundled as bundled_verifier

# Documents up to this many reader tokens are read whole; longer ones go through the
# retriever first (see bertcli.retrieve). About six windows of the default reader.
FULL_READ_TOKENS = 2048
PLAN_AHEAD = 32  # questions whose passages are chosen before the reader reads them
READER_PRECISIONS = ("auto", "fp32", "int8")
# What `auto` means for the reader on CPU: float32. The int8 copy (per token, 1.7x faster) is
# the default only if it keeps SQuAD F1 within 0.3 of float32 on whole articles and paragraphs;
# it did on held-out training articles, not on dev (-1.4 / -0.5; benchmarks/README.md).
AUTO_READER_PRECISION = "fp32"
DEFAULT_PASSAGES = 10  # 98.3% answer recall on squad2-dev articles (benchmarks/retrieval_recall.py)
# The retrieved passages are read READ_STEP (3) at a time, best rank first, until a span's value
# (logits over "no answer", plus rank prior) reaches SURE_MARGIN: on held-out training articles
# this read 3.9 windows a question instead of 7.0 at the same whole-article F1 (margins up to
# 15 stopped after the first step nearly always and lost 0.2; steps of 2 lost 0.5 to 1.8).
SURE_MARGIN = 20.0


@dataclass(frozen=True)
class Answer:
    """An answer span: `text == document_text[start:end]`; `context` is its sentence."""

    text: str
    start: int
    end: int
    score: float
    context: str
    context_start: int
    source: str = ""  # the document it came from (several documents: `ask --across`)
    page: int | None = None  # the 1-based page the answer starts on, for a PDF
    # what the answerability check read (bertcli.verify); not part of any output
    evidence: Evidence | None = field(default=None, repr=False, compare=False)


@dataclass
class AskResult:
    source: str
    model: str
    mode: str  # "reader" or "retrieval"
    question: str
    answers: list[Answer]
    passages: list[Passage]
    format: str = "text"  # what the input was read as
    across: bool = False  # answers drawn from several documents (`ask --across`)
    language: str | None = None  # ISO 639-1, given (--lang) or detected; None: no letters
    # When `answers` is empty because no span was likely enough to be right: the best span
    # anyway, and the probability that the document does not answer (1 - its score).
    best_guess: Answer | None = None
    no_answer_score: float | None = None


# --- the user-facing API -------------------------------------------------------------------


def _release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc), so RSS really drops."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def sentence_around(sentences: Sequence[Sentence], start: int, end: int, text: str) -> tuple[str, int]:
    """The sentence(s) that hold [start, end) — an answer can cross a sentence boundary."""
    first = next((s for s in sentences if s.end > start), None)
    last = next((s for s in reversed(sentences) if s.start < end), None)
    if first is None or last is None:
        return text[start:end], start
    lo, hi = min(first.start, start), max(last.end, end)
    return text[lo:hi], lo


def check_options(top_k: int, max_answer_len: int, passages: int) -> None:
    for name, value in (("--top-k", top_k), ("--max-answer-len", max_answer_len),
                        ("--passages", passages)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")


class Asker:
    """Loads the reader (and, for long documents, the retriever) once for many questions."""

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        offline: bool = False,
        retrieval_only: bool = False,
        notice: Callable[[str], None] = notices.notice,
        precision: str = "auto",
        lang: str = AUTO,
    ):
        from ..backends.load import READER, load, resolve_device

        # each document's language: its sentence rules, and a warning for English-only models
        self.lang = check_lang(lang)
        if precision not in READER_PRECISIONS:
            raise UsageError(f"unknown precision {precision!r} (choose from "
                             f"{', '.join(READER_PRECISIONS)})")
        self.notice = notice
        self.device = resolve_device(device)
        self._loading: Any = None  # bertcli.backends.load.Loading; None in retrieval mode
        self.reader_name: str | None = None
        if not retrieval_only:
            resolved = resolve(model, DEFAULT_READER, offline=offline, fallback=self._no_reader)
            if resolved is not None:
                # its session opens while the document is read and split
                self._loading = load(READER, resolved, self.device,
                                     AUTO_READER_PRECISION if precision == "auto" else precision,
                                     notice)
                self.reader_name = resolved.name
        self._retriever: Any = None

    @property
    def reader(self) -> Any:
        """The reader (its tokenizer usable at once; `ready_reader()` before running it)."""
        return self._loading.model if self._loading is not None else None

    def ready_reader(self) -> Any:
        """The reader, ready to run (on the next backend if its first cannot run here)."""
        return self._loading.ready() if self._loading is not None else None

    def _no_reader(self) -> ResolvedModel | None:
        bundled = bundled_reader()
        if bundled is not None:
            if not prefer_bundled():  # chosen with `bertcli models default bundled`: no notice
                self.notice(fallback_message("the reader", DEFAULT_READER,
                                             f"bertcli's bundled {BUNDLED_READER}, smaller and less accurate"))
            return bundled
        self.notice(fallback_message("the reader", DEFAULT_READER, "the best-matching sentences"))
        return None

    @property
    def mode(self) -> str:
        return "reader" if self.reader is not None else "retrieval"

    @property
    def model_name(self) -> str:
        from .retrieve import RETRIEVER_NAME

        return self.reader_name if self.reader is not None and self.reader_name else RETRIEVER_NAME

    def retriever(self):
        if self._retriever is None:
            from .retrieve import Retriever

            self._retriever = Retriever(device=self.device, notice=self.notice)
        return self._retriever

    def check_question(self, question: str) -> str:
        question = question.strip()
        if not question:
            raise InputError("empty question")
        if self.reader is not None:
            limit = self._window_tokens() - DOC_STRIDE - 4
            n = self.reader.question_tokens(question)
            if n > limit:
                raise InputError(
                    f"question too long: {n} tokens, the reader takes at most {limit}"
                )
        return question

    def ask(
        self,
        document: Document | str,
        questions: Iterable[str],
        top_k: int = 1,
        max_answer_len: int = MAX_ANSWER_LEN,
        full: bool = False,
        passages: int = DEFAULT_PASSAGES,
        abstain: bool = True,
        min_score: float | None = None,
    ) -> list[AskResult]:
        """Answer each question against `document`; results in question order.

        With `abstain`, a question that no passage read answers better than "no answer" gets
        no answers (see `read_passages`); without, the best spans are returned regardless.
        """
        return list(self.iter_ask(document, questions, top_k=top_k, max_answer_len=max_answer_len,
                                  full=full, passages=passages, abstain=abstain,
                                  min_score=min_score))

    def iter_ask(
        self,
        document: Document | str,
        questions: Iterable[str],
        top_k: int = 1,
        max_answer_len: int = MAX_ANSWER_LEN,
        full: bool = False,
        passages: int = DEFAULT_PASSAGES,
        abstain: bool = True,
        min_score: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[AskResult]:
        """`ask`, one result at a time as each question is answered. `progress(what, advance,
        total)` hears of the passages embedded for retrieval (bertcli.progress)."""
        check_options(top_k, max_answer_len, passages)
        questions = [self.check_question(q) for q in questions]
        if not questions:
            raise InputError("no questions")
        doc = as_document(document)
        language = resolve_language(doc.text, self.lang)
        warn_if_english_only(self.model_name, language, "ask", self.notice)

        if self.reader is None:
            long = len(doc.text.split()) > FULL_READ_TOKENS
            index, sentences = self._index(doc, language, "sentence", cached=long,
                                            progress=progress)
            for q in questions:
                yield self._retrieval_answers(doc, q, index, top_k, language)
            return

        if full or self._reads_whole(doc.text):
            sentences = split_sentences(doc.text, language)
            plans: Iterable[tuple[list[Passage], list[int]]] = (
                ([Passage(0, len(doc.text))], [0]) for _ in questions)
        else:
            index, sentences = self._index(doc, language, "passage", cached=True,
                                           progress=progress)
            plans = self._plans(doc.text, index, questions, passages)
        self.ready_reader()
        doc_words = document_words(doc.text)
        for question, (chosen, ranks) in zip(questions, plans):
            contexts = [(p.start, doc.text[p.start:p.end]) for p in chosen]
            # The reader always offers its best spans; whether to answer is the verifier's call.
            spans = read_passages(self.reader, question, contexts, top_k=top_k,
                                  max_answer_len=max_answer_len, abstain=False,
                                  priors=[rank_prior(r) for r in ranks],
                                  sure=None if len(chosen) == 1 else SURE_MARGIN, step=READ_STEP)
            answers = []
            for span in spans:
                context, context_start = sentence_around(sentences, span.start, span.end, doc.text)
                seen = evidence(question, span.text, context, contexts[span.context_index][1],
                                span.margin, span.score, span.null, span.windows,
                                ranks[span.context_index], doc_words)
                answers.append(Answer(span.text, span.start, span.end, self._score(span, seen),
                                      context, context_start, doc.source,
                                      doc.page_at(span.start), seen))
            yield self._decide(AskResult(doc.source, self.model_name, "reader", question, answers,
                                         chosen, format=doc.format, language=language),
                               abstain, min_score)

    @staticmethod
    def _score(span, seen: Evidence) -> float:
        """The probability that the span is right (the verifier's), or without a verifier the
        reader's own probability."""
        verifier = bundled_verifier()
        return verifier.probability(seen) if verifier is not None else span.score

    @staticmethod
    def _decide(result: AskResult, abstain: bool, min_score: float | None) -> AskResult:
        """Abstain when the best answer is less likely to be right than `min_score` (default:
        the verifier's threshold; without a verifier, when no span beats "no answer")."""
        if not result.answers:
            return result
        best = result.answers[0]
        result.no_answer_score = round(1.0 - best.score, 6)
        if not abstain:
            return result
        verifier = bundled_verifier()
        if verifier is None:
            unsure = min_score is None and best.evidence is not None and best.evidence.margin <= 0
        else:
            unsure = False
        if min_score is not None or verifier is not None:
            limit = min_score if min_score is not None else verifier.threshold  # type: ignore[union-attr]
            unsure = unsure or best.score < limit
        if unsure:
            result.best_guess, result.answers = best, []
        return result

    def _index(self, doc: Document, language: str | None, unit: str, cached: bool,
               progress: ProgressCallback | None = None):
        """The retriever's index of `doc` and its sentences (split by `language`'s rules). A
        long document's index is kept in bertcli's index cache (bertcli.index_cache): asked
        again, it is not indexed again (short ones cost less to index than to look up)."""
        retriever = self.retriever()
        if cached:
            return retriever.cached_index(doc.text, partial(split_sentences, lang=language), unit,
                                          doc.source, progress, language)
        sentences = split_sentences(doc.text, language)
        return retriever.index(doc.text, sentences, unit, progress, language), sentences

    def _plans(self, text: str, index, questions: Sequence[str],
               passages: int) -> Iterator[tuple[list[Passage], list[int]]]:
        """The passages to read for each question, in order, with their retrieval ranks (0 is
        the best). Planned PLAN_AHEAD questions at a time, so that the first answers of a long
        questions file come out before the last questions are planned."""
        tokens: dict[tuple[int, int], int] = {}  # reader tokens of each passage, as needed
        for begin in range(0, len(questions), PLAN_AHEAD):
            plans = []
            for question in questions[begin:begin + PLAN_AHEAD]:
                # question + [CLS] [SEP] [SEP] + context must fit one reader window
                room = self._window_tokens() - self.reader.question_tokens(question) - 3

                def fits(p: Passage, room: int = room) -> bool:
                    inside = [n for (a, b), n in tokens.items() if a >= p.start and b <= p.end]
                    return sum(inside) <= room

                top = index.top(question, passages)
                new = [p for p in top if (p.start, p.end) not in tokens]
                counts = self.reader.token_counts([text[p.start:p.end] for p in new])
                tokens.update(((p.start, p.end), n) for p, n in zip(new, counts))
                merged = merge_adjacent(top, text, fits)
                # each read passage keeps the best retrieval rank of the passages it joins
                ranks = [min(r for r, t in enumerate(top) if m.start <= t.start and t.end <= m.end)
                         for m in merged]
                plans.append((merged, ranks))
            if begin + PLAN_AHEAD >= len(questions) and not self._retriever_is_light():
                # A torch retriever is not needed while the reader reads the last questions:
                # let it go, so that the two torch models never sit in memory together (peak
                # RSS below the tutorial's pipeline). The next long document loads it again.
                del index
                self._retriever = None
                _release_memory()
            yield from plans

    def _retriever_is_light(self) -> bool:
        """The retriever runs on ONNX Runtime (small, quick to keep): kept between documents."""
        return self._retriever is not None and hasattr(self._retriever.encoder, "session")

    def _window_tokens(self) -> int:
        return window_tokens(self.reader)

    def _reads_whole(self, text: str) -> bool:
        """Whether `text` is short enough to read whole (FULL_READ_TOKENS reader tokens).
        Every word is at least one token: a long document is known without tokenizing it."""
        if len(text.split()) > FULL_READ_TOKENS:
            return False
        return self.reader.token_counts([text])[0] <= FULL_READ_TOKENS

    def _retrieval_answers(self, doc: Document, question: str, index, top_k: int,
                           language: str | None) -> AskResult:
        hits = index.top_scored(question, top_k)
        answers = [Answer(doc.text[p.start:p.end], p.start, p.end, score, doc.text[p.start:p.end],
                          p.start, doc.source, doc.page_at(p.start)) for p, score in hits]
        return AskResult(doc.source, self.model_name, "retrieval", question, answers,
                         [p for p, _ in hits], format=doc.format, language=language)


def ask(
    question: str,
    document: Document | str,
    top_k: int = 1,
    model: str | None = None,
    device: str = "auto",
    offline: bool = False,
    full: bool = False,
    lang: str = AUTO,
) -> AskResult:
    """Answer one question against one document (a `Document` or a string)."""
    asker = Asker(model=model, device=device, offline=offline, lang=lang)
    return asker.ask(document, [question], top_k=top_k, full=full)[0]
