"""Sentence segmentation with character offsets (spaCy's rule-based sentencizer)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: `text == document_text[start:end]`."""

    index: int  # position among all sentences of the document, from 0
    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def _nlp():
    import sys

    if "torch" in sys.modules:
        import spacy
    else:
        # spaCy's thinc imports torch whenever it is installed (1 s), though the sentencizer
        # never uses it. Hide torch during the import; bertcli imports it later if it needs it.
        sys.modules["torch"] = None  # type: ignore[assignment]
        try:
            import spacy
        finally:
            del sys.modules["torch"]

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    # Long documents are fine for the sentencizer: it keeps no per-token parse state.
    nlp.max_length = 10**9
    return nlp


# A blank line ends a sentence whatever the punctuation: titles, headings, list items and
# paragraphs without a final full stop stay separate.
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n\s*")


# Chinese and Japanese full stops (with any closing quotes or brackets after them) end a
# sentence: text without spaces is one long token to spaCy's tokenizer, so its sentencizer
# never sees them.
_CJK_END = re.compile(r"[。！？｡]+[」』”’）)】〕》]*")


def blocks(text: str) -> list[tuple[int, str]]:
    """(offset, block) pairs of the text between blank lines (and after CJK full stops)."""
    out, begin = [], 0
    for match in _BLOCK_BREAK.finditer(text):
        out.append((begin, text[begin:match.start()]))
        begin = match.end()
    out.append((begin, text[begin:]))
    pieces = []
    for offset, block in out:
        start = 0
        for end in _CJK_END.finditer(block):
            pieces.append((offset + start, block[start:end.end()]))
            start = end.end()
        pieces.append((offset + start, block[start:]))
    return [(offset, block) for offset, block in pieces if block.strip()]


# spaCy's sentencizer keeps a quote mark after a full stop with the sentence it ends, which is
# right for a closing quote ("no." Then) but not for one that opens the next sentence
# (fine. "We ...): a quote mark after whitespace opens.
_OPENING_QUOTE = re.compile(r"\s([\"'‘“])$")


def _spans(block: str, doc) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `block`, whitespace stripped, opening quotes moved on."""
    spans: list[tuple[int, int]] = []
    carry = None  # where a quote moved from the sentence before begins
    for span in doc.sents:
        start = span.start_char if carry is None else carry
        end, carry = span.end_char, None
        raw = block[start:end]  # not doc.text: spaCy rebuilds that string on every access
        stripped = raw.strip()
        if not stripped:
            continue
        start += len(raw) - len(raw.lstrip())
        end = start + len(stripped)
        quote = _OPENING_QUOTE.search(block, start, end)
        if quote and quote.start() > start:
            carry = quote.start(1)
            end = start + len(block[start:quote.start()].rstrip())
        spans.append((start, end))
    if carry is not None and spans:  # a quote that opens nothing: it stays where it was
        spans[-1] = (spans[-1][0], carry + 1)
    return spans


def split_sentences(text: str) -> list[Sentence]:
    """Split `text` into sentences, stripped of surrounding whitespace, with offsets."""
    sentences: list[Sentence] = []
    parts = blocks(text)
    for (offset, block), doc in zip(parts, _nlp().pipe(block for _, block in parts)):
        for start, end in _spans(block, doc):
            sentences.append(Sentence(len(sentences), offset + start, offset + end, block[start:end]))
    return sentences
