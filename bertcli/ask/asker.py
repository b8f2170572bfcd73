"""Extractive question answering: the `Asker` API.

A document goes down the stages once: index (bertcli.ask.plan) -> plan passages per question
-> read (bertcli.ask.spans.read_passages) -> choose (bertcli.ask.choose: answers, scores,
abstention). `Asker.ask_documents` is the one entry point for several documents and questions,
used by `ask`, `chat`, `serve` and `batch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .. import notices
from ..backends.base import Reader
from ..backends.load import PRECISIONS
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
from ..ordered import in_order
from ..progress import ProgressCallback
from ..read.document import Document, as_document
from ..sentences import split_sentences
from .choose import answers_from_spans, decide, pool, sentence_around  # noqa: F401
from .plan import FULL_READ_TOKENS, Plan, index_document, plan_passages, reads_whole, whole  # noqa: F401
from .results import Answer, AskResult
from .retrieve import Passage, merge_adjacent  # noqa: F401  (re-exported)
from .spans import (  # noqa: F401  (re-exported: bertcli.qa was their home)
    DOC_STRIDE,
    MAX_ANSWER_LEN,
    MAX_SEQ_LEN,
    READ_STEP,
    Span,
    make_windows,
    rank_prior,
    read_passages,
    window_tokens,
)
from .verify import document_words, for_reader

READER_PRECISIONS = PRECISIONS
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
FILL_THREAD = "thread"  # Asker(fill_behind=...): embed a long document's rest on a thread
FILL_PROCESS = "process"  # ... or in a detached process (bertcli.ask.fill)


def _release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc), so RSS really drops."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def check_options(top_k: int, max_answer_len: int, passages: int,
                  min_score: float | None = None) -> None:
    for name, value in (("--top-k", top_k), ("--max-answer-len", max_answer_len),
                        ("--passages", passages)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise UsageError(f"--min-score must be between 0 and 1, got {min_score}")


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
        fill_behind: str | None = None,
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
        self.verifier = for_reader(self.reader_name)  # None: no calibration for this reader
        self._retriever: Any = None
        # once a long document's questions are done, embed the rest of it: on a thread
        # (FILL_THREAD: `serve`, `chat`) or in a detached process (FILL_PROCESS: `ask`)
        if fill_behind not in (None, FILL_THREAD, FILL_PROCESS):
            raise ValueError(f"fill_behind: {fill_behind!r}")
        self.fill_behind = fill_behind

    @property
    def reader(self) -> Reader | None:
        """The reader (its tokenizer usable at once; `ready_reader()` before running it)."""
        return self._loading.model if self._loading is not None else None

    def ready_reader(self) -> Reader | None:
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
            limit = window_tokens(self.reader) - DOC_STRIDE - 4
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

        With `abstain`, a question whose best answer is less likely to be right than
        `min_score` (default: the verifier's threshold) gets no answers and a `best_guess`;
        without, the best spans are returned regardless.
        """
        return list(self.iter_ask(document, questions, top_k=top_k, max_answer_len=max_answer_len,
                                  full=full, passages=passages, abstain=abstain,
                                  min_score=min_score))

    def ask_documents(
        self,
        documents: Iterable[Document | str],
        questions: Sequence[str],
        top_k: int = 1,
        max_answer_len: int = MAX_ANSWER_LEN,
        full: bool = False,
        passages: int = DEFAULT_PASSAGES,
        abstain: bool = True,
        min_score: float | None = None,
        across: bool = False,
        progress: ProgressCallback | None = None,
    ) -> Iterator[AskResult]:
        """Every question against every document: one result per document and question
        (documents in order, questions in order), or with `across` one result per question,
        holding the best `top_k` answers among all the documents, each naming its source."""
        check_options(top_k, max_answer_len, passages, min_score)
        if not across:
            for doc in documents:
                yield from self.iter_ask(doc, questions, top_k=top_k,
                                         max_answer_len=max_answer_len, full=full,
                                         passages=passages, abstain=abstain,
                                         min_score=min_score, progress=progress)
            return
        pooled: list[list[AskResult]] = [[] for _ in questions]
        sources: list[str] = []
        for doc in documents:
            doc = as_document(doc)
            sources.append(doc.source)
            for i, result in enumerate(self.iter_ask(
                    doc, questions, top_k=top_k, max_answer_len=max_answer_len, full=full,
                    passages=passages, abstain=False, progress=progress)):
                pooled[i].append(result)
        for question, results in zip(questions, pooled):
            yield pool(results, question, ", ".join(sources), self.model_name, self.mode, top_k,
                       abstain, min_score, self.verifier)

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
        from .fill import asking

        with asking():  # a background fill pauses meanwhile (bertcli.ask.fill)
            check_options(top_k, max_answer_len, passages, min_score)
            questions = [self.check_question(q) for q in questions]
            if not questions:
                raise InputError("no questions")
            doc = as_document(document)
            language = resolve_language(doc.text, self.lang)
            warn_if_english_only(self.model_name, language, "ask", self.notice)

            if self.reader is None:
                long = len(doc.text.split()) > FULL_READ_TOKENS
                retriever = self.retriever()
                sentence_index, _ = index_document(retriever, doc, language, "sentence", long, progress)
                for q in questions:
                    yield self._retrieval_answers(doc, q, sentence_index, top_k, language)
                retriever.keep(sentence_index)
                return

            # stage 1 and 2: index (long documents) and plan the passages of each question
            plans: Iterable[Plan]
            index = None
            if full or reads_whole(self.reader, doc.text):
                sentences = split_sentences(doc.text, language)
                plans = whole(doc, questions)
            else:
                retriever = self.retriever()
                index, sentences = index_document(retriever, doc, language, "passage", True, progress)

                def planned() -> None:  # every question's passages embedded: keep them, then let go
                    retriever.keep(index)
                    self._let_retriever_go()

                plans = plan_passages(self.reader, doc.text, index, questions, passages,
                                      planned=planned)
            reader = self.ready_reader()
            assert reader is not None  # reader mode (retrieval mode returned above)
            doc_words = document_words(doc.text)

            def answer(question: str, plan: Plan) -> AskResult:
                # stage 3: read. The reader always offers its best spans; stage 4 decides.
                contexts = [(p.start, doc.text[p.start:p.end]) for p in plan.passages]
                spans = read_passages(reader, question, contexts, top_k=top_k,
                                      max_answer_len=max_answer_len, abstain=False,
                                      priors=[rank_prior(r) for r in plan.ranks],
                                      sure=None if len(contexts) == 1 else SURE_MARGIN, step=READ_STEP)
                # stage 4: choose
                answers = answers_from_spans(question, spans, contexts, plan.ranks, doc, sentences,
                                             doc_words, self.verifier)
                return decide(AskResult(doc.source, self.model_name, "reader", question, answers,
                                        plan.passages, format=doc.format, language=language),
                              abstain, min_score, self.verifier)

            # two questions at a time on ONNX Runtime (one thread a run), answers in order
            yield from in_order(answer, zip(questions, plans), reader.runs_at_once)
            if self.fill_behind is not None and index is not None:
                from . import fill

                if self.fill_behind == FILL_THREAD:
                    # the retriever that built the index (a torch one was let go: not loaded again)
                    fill.fill_on_thread(retriever, index)
                else:
                    fill.start_process(index, "passage", language)

    def _let_retriever_go(self) -> None:
        """A torch retriever is not needed while the reader reads the last questions: let it
        go, so that the two torch models never sit in memory together (peak RSS below the
        tutorial's pipeline). The next long document loads it again. An ONNX one is kept."""
        if self._retriever is not None and not hasattr(self._retriever.encoder, "session"):
            self._retriever = None
            _release_memory()

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
