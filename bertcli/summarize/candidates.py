"""Candidate sentences of a summary: no bylines, datelines or fragments, and not too long."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..sentences import Sentence, latin_length, word_count

# bert-extractive-summarizer's candidate filter: sentences of 41 to 599 characters.
MIN_CHARS = 40
MAX_CHARS = 600

# Lines that are not sentences of the text: bylines, datelines, timestamps, photo credits,
# calls to action. They are never picked, whatever the strategy.
_BOILERPLATE = re.compile(
    r"""(^by\s*[.|]|^by\s+[A-Z][\w.'-]*(\s+[A-Z][\w.'-]*){0,3}\s*[.|]?$
        |\b(published|updated|last\s+updated)\s*:?\s*[.|]?\s*\d
        |\b\d{1,2}:\d{2}\s*(am|pm)?\s*(EST|EDT|GMT|BST|UTC|CET|PST|PDT)\b
        |\b(click|tap)\s+here\b|\bscroll\s+down\b|\bread\s+more\s*:|\bsign\s+up\b
        |\b(photo|image|picture)s?\s*(credit|courtesy|:)|\bgetty\s+images\b|\(pictured\)
        |^(share|follow)\s+(this|us|@))""",
    re.IGNORECASE | re.VERBOSE,
)
MIN_WORDS = 6
MIN_SENTENCE_WORDS = 3  # fewer words with letters: a fragment, never picked
# A dateline opening a news story: "(CNN) -- ", "WASHINGTON (AP) - ", "Hong Kong (CNN) -- ",
# and CNN's form since 2015, "(CNN)The ..." (no dash, no space: only before a capital, a digit
# or a quote). The sentence after it is a candidate; the dateline is cut from it.
_DATELINE = re.compile(
    r"^(?:[A-Z][\w.'’-]*(?:[ ,]+[A-Z][\w.'’-]*){0,4}\s*)?"
    r"\((?:CNN|AP|AFP|Reuters|UPI|dpa|[A-Z][A-Za-z]+ News)\)"
    r"(?:\s*(?:--|—|–|-)\s*|(?=[A-Z0-9\"“‘']))"
)


def is_boilerplate(sentence: Sentence) -> bool:
    """Bylines, timestamps, captions and the like, and fragments of under six words."""
    return word_count(sentence.text) < MIN_WORDS or bool(_BOILERPLATE.search(sentence.text))


def is_fragment(sentence: Sentence) -> bool:
    """Not a sentence at all: a byline, timestamp or caption, or under three words with
    letters ("Associated Press .", "| ."). A short real sentence is not a fragment."""
    words = sum(1 for w in sentence.text.split() if any(ch.isalpha() for ch in w))
    return words < MIN_SENTENCE_WORDS or bool(_BOILERPLATE.search(sentence.text))


def without_dateline(sentence: Sentence) -> Sentence:
    """The sentence less a leading news dateline, offsets moved to match."""
    match = _DATELINE.match(sentence.text)
    if not match or match.end() == len(sentence.text):
        return sentence
    return Sentence(sentence.index, sentence.start + match.end(), sentence.end,
                    sentence.text[match.end():])


def length_filtered(sentences: Sequence[Sentence]) -> list[Sentence]:
    """Candidates: no boilerplate, and the library's 41 to 599 characters (a Han or kana
    character counting as 3)."""
    return [s for s in sentences
            if MIN_CHARS < latin_length(s.text) < MAX_CHARS and not is_boilerplate(s)]
