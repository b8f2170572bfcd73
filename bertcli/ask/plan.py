"""The first stages of `ask`: index a document, then plan the passages to read for each question.

A short document is read whole. A long one is indexed once (BM25 and dense vectors of its
passages, kept in the index cache: bertcli.ask.index_cache), and each question gets the passages
the retriever ranks best, adjacent ones merged while they fit one reader window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..backends.base import Reader
from ..progress import ProgressCallback
from ..read.document import Document
from ..sentences import Sentence, split_sentences
from .retrieve import Index, Passage, merge_adjacent
from .spans import window_tokens

# Documents up to this many reader tokens are read whole; longer ones go through the
# retriever first (see bertcli.ask.retrieve). About six windows of the default reader.
FULL_READ_TOKENS = 2048
PLAN_AHEAD = 32  # questions whose passages are chosen before the reader reads them


@dataclass(frozen=True)
class Plan:
    """The passages to read for one question, and the retrieval rank of each (0: the best)."""

    passages: list[Passage]
    ranks: list[int]


def reads_whole(reader: Reader, text: str) -> bool:
    """Whether `text` is short enough to read whole (FULL_READ_TOKENS reader tokens).
    Every word is at least one token: a long document is known without tokenizing it."""
    if len(text.split()) > FULL_READ_TOKENS:
        return False
    return reader.token_counts([text])[0] <= FULL_READ_TOKENS


def index_document(retriever: Any, doc: Document, language: str | None, unit: str,
                   cached: bool, progress: ProgressCallback | None = None,
                   ) -> tuple[Index, list[Sentence]]:
    """The retriever's index of `doc` and its sentences (split by `language`'s rules). A long
    document's index is kept in bertcli's index cache: asked again, it is not indexed again
    (short ones cost less to index than to look up)."""
    split = partial(split_sentences, lang=language, progress=progress)
    if cached:
        return retriever.cached_index(doc.text, split, unit, doc.source, language)
    sentences = split(doc.text)
    return retriever.index(doc.text, sentences, unit, language), sentences


def whole(doc: Document, questions: Sequence[str]) -> Iterator[Plan]:
    """Every question reads the whole document."""
    for _ in questions:
        yield Plan([Passage(0, len(doc.text))], [0])


def plan_passages(reader: Reader, text: str, index: Index, questions: Sequence[str], passages: int,
                  planned: Callable[[], None] | None = None) -> Iterator[Plan]:
    """The passages to read for each question, in order. Planned PLAN_AHEAD questions at a
    time, so that the first answers of a long questions file come out before the last
    questions are planned; `planned()` is called once every question is (the retriever may
    then be let go)."""
    tokens: dict[tuple[int, int], int] = {}  # reader tokens of each passage, as needed
    for begin in range(0, len(questions), PLAN_AHEAD):
        plans = []
        for question in questions[begin:begin + PLAN_AHEAD]:
            # question + [CLS] [SEP] [SEP] + context must fit one reader window
            room = window_tokens(reader) - reader.question_tokens(question) - 3

            def fits(p: Passage, room: int = room) -> bool:
                inside = [n for (a, b), n in tokens.items() if a >= p.start and b <= p.end]
                return sum(inside) <= room

            top = index.top(question, passages)
            new = [p for p in top if (p.start, p.end) not in tokens]
            counts = reader.token_counts([text[p.start:p.end] for p in new])
            tokens.update(((p.start, p.end), n) for p, n in zip(new, counts))
            merged = merge_adjacent(top, text, fits)
            # each read passage keeps the best retrieval rank of the passages it joins
            ranks = [min(r for r, t in enumerate(top) if m.start <= t.start and t.end <= m.end)
                     for m in merged]
            plans.append(Plan(merged, ranks))
        if begin + PLAN_AHEAD >= len(questions) and planned is not None:
            planned()
        yield from plans
