"""What `ask` returns: answers with character offsets into the document they came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from .retrieve import Passage
from .verify import Evidence


@dataclass(frozen=True)
class Answer:
    """An answer span: `text == document_text[start:end]`; `context` is its sentence.
    `score` is the probability that the answer is right (bertcli.ask.verify)."""

    text: str
    start: int
    end: int
    score: float
    context: str
    context_start: int
    source: str = ""  # the document it came from (several documents: `ask --across`)
    page: int | None = None  # the 1-based page the answer starts on, for a PDF
    # what the answerability check read (bertcli.ask.verify); not part of any output
    evidence: Evidence | None = field(default=None, repr=False, compare=False)
    section: str | None = None  # the title of the section it lies in, if the document has any


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
    # anyway, and the probability that the document does not answer (1 - the best's score).
    best_guess: Answer | None = None
    no_answer_score: float | None = None
