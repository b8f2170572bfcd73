"""Extractive summarization: pick the sentences that best represent a document."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import notices
from ..backends.base import Encoder
from ..backends.load import PRECISIONS  # noqa: F401  (re-exported)
from ..errors import UsageError
from ..languages import AUTO, check_lang, resolve_language, warn_if_english_only
from ..models import (
    BUNDLED_ENCODER,
    DEFAULT_ENCODER,
    ResolvedModel,
    bundled_encoder,
    fallback_message,
    prefer_bundled,
    resolve,
)
from ..progress import ProgressCallback, embed_in_chunks
from ..read.blocks import PROSE_KINDS, BlockIndex, BlockKind
from ..read.document import Document, as_document, page_at
from ..sentences import Sentence, split_sentences, word_count
from .candidates import is_boilerplate, is_fragment, length_filtered, without_dateline  # noqa: F401
from .select import central_select, cluster_select, position_trust  # noqa: F401
from .strategies import STRATEGIES

# `learned` (doc_scorer.py): beats the filtered lead on CNN/DailyMail validation articles,
# where `central` is ~2 ROUGE below it (README, "Summary quality").
DEFAULT_STRATEGY = "learned"
# Precision of the encoder on the ONNX path (bertcli.backends.onnx_backend.STORED, or `auto`).
DEFAULT_PRECISION = "auto"
# What `auto` means per strategy: int8 where the numerics change is safe for a default (same
# sentences as float32 for at least 90% of articles, ROUGE within 0.3; per-token int8 for
# learned: 91.5% of 1,000 CNN/DailyMail validation articles, ROUGE -0.1), and only on CPUs with
# int8 dot products (onnx_backend.int8_dot_products). `central` is exact: per-token int8 kept
# its picks for 81% of held-out SQuAD articles only. `cluster` is the tutorial's method, kept
# exact so it reproduces the tutorial: k-means turns small differences into other picks.
AUTO_PRECISION = {"learned": "int8", "central": "fp32", "cluster": "fp32"}  # `lead` embeds nothing

@dataclass
class Summary:
    """The chosen sentences, in document order, with offsets into `document.text`."""

    source: str
    model: str
    strategy: str
    sentences: list[Sentence]
    candidates: int
    notes: list[str] = field(default_factory=list)
    format: str = "text"  # what the input was read as
    page_starts: tuple[int, ...] = ()  # a PDF's page start offsets (Document.pages)
    language: str | None = None  # ISO 639-1, given (--lang) or detected; None: no letters
    sections: list[SectionSummary] = field(default_factory=list)  # --by-section
    structure: BlockIndex | None = field(default=None, repr=False, compare=False)

    def page(self, sentence: Sentence) -> int | None:
        """The 1-based page a sentence starts on, for a PDF; None otherwise."""
        return page_at(self.page_starts, sentence.start)

    def section(self, sentence: Sentence) -> str | None:
        """The title of the section a sentence lies in, if the document has headings."""
        return self.structure.section(sentence.start) if self.structure is not None else None


@dataclass
class SectionSummary:
    """The sentences picked from one section: `text[start:end]` is the section, heading first."""

    title: str | None
    start: int
    end: int
    sentences: list[Sentence]


# Sections whose sentences are not the document's own: reference lists and link collections.
_BACK_MATTER = re.compile(r"^(\d+(\.\d+)*\.?\s*)?(references|bibliography|works cited|literature cited|"
                          r"see also|external links|further reading|notes|citations|sources)$", re.I)


def in_back_matter(structure: BlockIndex, offset: int) -> bool:
    """Whether `offset` lies under a "References", "See also" or "External links" heading."""
    block = structure.at(offset)
    return block is not None and any(_BACK_MATTER.match(title) for title in block.section)


def sections_of(structure: BlockIndex, length: int) -> list[tuple[str | None, int, int]]:
    """The document's top-level sections as (title, start, end): split at the headings of the
    outermost level that has two or more of them (chapters of a book, numbered sections of a
    paper); text before the first such heading is a section without a title."""
    headings = [b for b in structure.blocks if b.kind == BlockKind.heading.value]
    levels = sorted({b.level for b in headings})
    level = next((lv for lv in levels if sum(1 for b in headings if b.level == lv) >= 2), None)
    if level is None:
        return [(None, 0, length)]
    cuts = [b for b in headings if b.level <= level]
    parts: list[tuple[str | None, int, int]] = [(None, 0, cuts[0].start)] if cuts[0].start > 0 else []
    for block, following in zip(cuts, [*cuts[1:], None]):
        parts.append((block.section[-1] if block.section else None, block.start,
                      following.start if following is not None else length))
    return parts


def sentence_count(available: int, num_sentences: int | None, ratio: float | None) -> int:
    if num_sentences is not None and ratio is not None:
        raise UsageError("-n/--num-sentences and --ratio cannot be used together")
    if ratio is not None:
        if not 0 < ratio <= 1:
            raise UsageError(f"--ratio must be in (0, 1], got {ratio}")
        return max(1, round(ratio * available))
    n = 3 if num_sentences is None else num_sentences
    if n < 1:
        raise UsageError(f"-n/--num-sentences must be at least 1, got {n}")
    return n


def check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy {strategy}: choose one of {', '.join(STRATEGIES)}")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")


def effective_precision(precision: str, strategy: str) -> str:
    """`auto` resolved for a summary strategy (and this CPU); fp32 and int8 are taken as asked."""
    if precision != "auto":
        return precision
    if AUTO_PRECISION.get(strategy, "fp32") == "fp32":
        return "fp32"
    from ..backends.onnx_backend import auto_int8

    return auto_int8()


class Summarizer:
    """Loads the encoder once; call it on as many documents as you like."""

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        offline: bool = False,
        notice: Callable[[str], None] = notices.notice,
        precision: str = DEFAULT_PRECISION,
        strategy: str = DEFAULT_STRATEGY,
        lang: str = AUTO,
    ):
        from ..backends.load import resolve_device

        check_precision(precision)
        check_strategy(strategy)
        # each document's language: its sentence rules, and a warning for English-only models
        self.lang = check_lang(lang)
        self.notice = notice
        self.precision = precision
        self.strategy = strategy
        self._learned: Any = None  # the learned strategy's scorer, once loaded (False: unusable)
        # `learned` was trained on the bundled encoder's embeddings: that is its default model;
        # `lead` needs none, so it does not look for (or announce the lack of) a hub model.
        self.resolved = bundled_encoder() if model is None and strategy in ("learned", "lead") \
            else self._resolve(model, offline)
        # One encoder per precision in use (bertcli.backends.load: ONNX Runtime on CPU, with its
        # fallback to float32 and torch; torch on a GPU).
        self._encoders: dict = {}
        self.device = resolve_device(device)
        if strategy != "lead":
            self._start(strategy)  # the session loads while the caller reads and splits text

    def _start(self, strategy: str):
        """The encoder for `strategy`'s precision, loading (bertcli.backends.load.Loading)."""
        from ..backends.load import ENCODER, load

        precision = effective_precision(self.precision, strategy)
        if precision not in self._encoders:
            self._encoders[precision] = load(ENCODER, self.resolved, self.device, precision,
                                             self.notice)
        return self._encoders[precision]

    def encoder_for(self, strategy: str) -> Encoder:
        """The encoder `strategy` runs on, ready to use."""
        return self._start(strategy).ready()

    @property
    def encoder(self):
        """The encoder of the default strategy."""
        return self.encoder_for(self.strategy)

    def _resolve(self, model: str | None, offline: bool) -> ResolvedModel:
        def fallback() -> ResolvedModel:
            if not prefer_bundled():  # chosen with `bertcli models default bundled`: no notice
                self.notice(fallback_message("the encoder", DEFAULT_ENCODER,
                                             f"the bundled {BUNDLED_ENCODER} encoder"))
            return bundled_encoder()

        resolved = resolve(model, DEFAULT_ENCODER, offline=offline, fallback=fallback)
        assert resolved is not None
        return resolved

    def select(self, candidates: Sequence[Sentence], k: int, strategy: str,
               progress: ProgressCallback | None = None) -> list[int]:
        texts = [s.text for s in candidates]
        if strategy == "lead":
            return list(range(k))
        encoder = self.encoder_for(strategy)
        if strategy == "cluster":
            return cluster_select(embed_in_chunks(encoder.embed, texts, progress), k)
        vectors = embed_in_chunks(encoder.embed_normalized, texts, progress)
        if strategy == "learned":
            scorer = self._scorer()
            if scorer is not None:
                lengths = np.array([word_count(t) for t in texts], dtype=np.float64)
                return scorer.select(vectors, lengths, k, texts)
        return central_select(vectors, k)

    def _bundled_model(self) -> bool:
        from ..models import bundled_encoder_path

        bundled = bundled_encoder_path()
        return self.resolved.name == BUNDLED_ENCODER or (
            bundled is not None and self.resolved.path.resolve() == bundled.resolve())

    def _scorer(self):
        """The trained scorer of `learned`, or None (then `central`, said once) when the
        installed file is missing or unreadable, or --model's embeddings are not the ones it
        was trained on."""
        if self._learned is None:
            from .doc_scorer import DOC_SCORER_FILE, load_doc_scorer

            scorer: object = load_doc_scorer()
            if isinstance(scorer, Exception):
                self.notice(f"the learned summary scorer ({DOC_SCORER_FILE.name}) is missing or "
                            f"unreadable ({type(scorer).__name__}); using central")
                scorer = False
            elif not self._bundled_model():
                self.notice(f"the learned summary scorer reads {BUNDLED_ENCODER} embeddings, not "
                            f"{self.model_name}'s; using central")
                scorer = False
            self._learned = scorer
        return self._learned or None

    @property
    def model_name(self) -> str:
        return self.resolved.name

    def __call__(
        self,
        document: Document | str,
        num_sentences: int | None = None,
        ratio: float | None = None,
        strategy: str | None = None,
        progress: ProgressCallback | None = None,
        by_section: bool = False,
    ) -> Summary:
        """Summarize one document; `strategy` defaults to the one given at construction.
        `by_section` picks `num_sentences` (or `ratio`) from each top-level section instead
        (`Summary.sections`). `progress(what, advance, total)` hears of the sentences embedded
        (bertcli.progress)."""
        doc = as_document(document)
        strategy = strategy or self.strategy
        check_strategy(strategy)
        language = resolve_language(doc.text, self.lang)
        warn_if_english_only(self.model_name, language, "summarize", self.notice)
        structure = doc.structure
        sentences = [without_dateline(s) for s in split_sentences(doc.text, language)]
        # headings, captions, footnotes, tables and code are never summary sentences; a document
        # with none of its own (only code, say) is summarized from what it has, and says so
        prose = [s for s in sentences if structure.kind(s.start) in PROSE_KINDS
                 and not in_back_matter(structure, s.start)]
        fallback = [] if prose or not sentences else [
            f"{doc.source}: no prose to summarize (only "
            f"{', '.join(sorted({structure.kind(s.start) for s in sentences}))}); "
            "picking from those lines"]
        sentences = prose or sentences
        sections: list[SectionSummary] = []
        if by_section:
            sentence_count(10, num_sentences, ratio)
            for title, start, end in sections_of(structure, len(doc.text)):
                inside = [s for s in sentences if start <= s.start < end]
                if length_filtered(inside):  # a lone title or a few fragments: no summary
                    picked, _, _ = self._pick(inside, num_sentences, ratio, strategy, progress)
                    sections.append(SectionSummary(title, start, end, picked))
            picked = [s for part in sections for s in part.sentences]
            candidates, notes = len(sentences), list[str]()
        else:
            picked, candidates, notes = self._pick(sentences, num_sentences, ratio, strategy, progress)
            notes = [f"{doc.source}: {note}" for note in notes]
        notes = fallback + notes
        return Summary(
            source=doc.source,
            model=self.model_name,
            strategy=strategy,
            sentences=picked,
            candidates=candidates,
            notes=notes,
            format=doc.format,
            page_starts=doc.pages,
            language=language,
            sections=sections,
            structure=structure,
        )

    def _pick(self, sentences: Sequence[Sentence], num_sentences: int | None, ratio: float | None,
              strategy: str, progress: ProgressCallback | None) -> tuple[list[Sentence], int, list[str]]:
        """(the sentences picked in document order, how many were candidates, notes)."""
        kept = length_filtered(sentences)
        # --ratio counts candidates. When the length filter leaves too few, any sentence that
        # is not a fragment is a candidate, however short (-n N of a text of N short sentences
        # gives N); a document of nothing but fragments uses them all.
        wanted = sentence_count(len(kept) or len(sentences), num_sentences, ratio)
        candidates = kept
        if len(candidates) < wanted:
            candidates = [s for s in sentences if not is_fragment(s)] or list(sentences)
        if len(candidates) <= wanted:
            notes = [] if len(candidates) == wanted else [
                f"only {len(candidates)} sentence(s), fewer than the {wanted} asked for; "
                "returning all of them"]
            return list(candidates), len(candidates), notes
        return [candidates[i] for i in self.select(candidates, wanted, strategy, progress)], \
            len(candidates), []


def summarize(
    document: Document | str,
    num_sentences: int | None = None,
    ratio: float | None = None,
    model: str | None = None,
    strategy: str = DEFAULT_STRATEGY,
    device: str = "auto",
    offline: bool = False,
    precision: str = "auto",
    lang: str = AUTO,
    by_section: bool = False,
) -> Summary:
    """Summarize one document (a `Document` or a string). See `Summarizer` for many."""
    return Summarizer(model=model, device=device, offline=offline, precision=precision,
                      strategy=strategy, lang=lang)(document, num_sentences=num_sentences,
                                                    ratio=ratio, by_section=by_section)
