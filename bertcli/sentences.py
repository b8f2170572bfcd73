"""Sentence segmentation with character offsets (spaCy's rule-based sentencizer)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import List


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: `text == document_text[start:end]`."""

    index: int  # position among all sentences of the document, from 0
    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def _nlp():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    # Long documents are fine for the sentencizer: it keeps no per-token parse state.
    nlp.max_length = 10**9
    return nlp


def split_sentences(text: str) -> List[Sentence]:
    """Split `text` into sentences, stripped of surrounding whitespace, with offsets."""
    sentences: List[Sentence] = []
    for span in _nlp()(text).sents:
        start, end = span.start_char, span.end_char
        raw = text[start:end]
        stripped = raw.strip()
        if not stripped:
            continue
        start += len(raw) - len(raw.lstrip())
        end = start + len(stripped)
        sentences.append(Sentence(len(sentences), start, end, stripped))
    return sentences
