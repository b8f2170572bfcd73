"""A document's structure: blocks with a kind and a section path, and what reading removed.

Every converter (PDF, HTML, Markdown) writes its text through a `TextBuilder`, which joins
blocks with a blank line (the sentence splitter's hard boundary) and records where each block
lies in the text, its kind, and the headings above it. Plain text gets its blocks from its blank
lines (`derive_blocks`), with chapter headings ("CHAPTER IV", "Book 2") recognised.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum


class BlockKind(str, Enum):
    heading = "heading"
    paragraph = "paragraph"
    caption = "caption"
    list_item = "list_item"
    code = "code"
    footnote = "footnote"
    table = "table"


# The blocks whose sentences can be summary sentences; headings, captions, footnotes, tables
# and code are read by `ask` but never picked for a summary.
PROSE_KINDS = frozenset({BlockKind.paragraph.value, BlockKind.list_item.value})


class Reason(str, Enum):
    """Why a reader left a line out of the text (`bertcli text --show-removed`)."""

    running_head = "running-head"  # a header or footer repeated on many pages, or a stamp
    page_number = "page-number"
    footnote = "footnote"
    front_matter = "front-matter"  # title, authors, affiliations, e-mail addresses
    references = "references"  # the bibliography
    figure = "figure"  # text inside a figure (axis labels, diagram words)
    table = "table"  # a table's cells (its caption is kept)


@dataclass(frozen=True)
class Block:
    """`text[start:end]` is one block. `section` holds the titles of the headings it lies
    under, outermost first (a heading's own title included); `level` is a heading's depth."""

    start: int
    end: int
    kind: str
    section: tuple[str, ...] = ()
    level: int = 0
    page: int | None = None  # 1-based, for a PDF


@dataclass(frozen=True)
class Removed:
    """A line left out of the text: why, on which page, and `at`, the offset in the text where
    it would have been."""

    text: str
    reason: str
    page: int | None = None
    at: int = 0


@dataclass(frozen=True)
class Converted:
    """What a converter made of its input: the text, its blocks, what it left out, and (PDF)
    the offset where each page begins."""

    text: str
    blocks: tuple[Block, ...] = ()
    removed: tuple[Removed, ...] = ()
    pages: tuple[int, ...] = ()


def one_line(text: str) -> str:
    """Whitespace (line breaks included) collapsed to single spaces."""
    return " ".join(text.split())


class TextBuilder:
    """Blocks in reading order -> the document's text, its blocks, and what was removed."""

    def __init__(self, normalize: bool = False):
        self._parts: list[str] = []
        self._length = 0
        self._sections: list[tuple[int, str]] = []
        self._normalize = normalize  # NFKC before offsets are taken (PDF: ligatures)
        self.blocks: list[Block] = []
        self.removed: list[Removed] = []

    @property
    def length(self) -> int:
        return self._length

    def next_start(self) -> int:
        """Where the next block will start."""
        return self._length + 2 if self._parts else 0

    def add(self, text: str, kind: str = BlockKind.paragraph.value, level: int = 0,
            page: int | None = None) -> None:
        if self._normalize:
            text = unicodedata.normalize("NFKC", text)
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not text:
            return
        if kind == BlockKind.heading.value:
            level = max(1, level)
            while self._sections and self._sections[-1][0] >= level:
                self._sections.pop()
            self._sections.append((level, one_line(text)))
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        self.blocks.append(Block(start, self._length, kind,
                                 tuple(title for _, title in self._sections), level, page))

    def remove(self, text: str, reason: str, page: int | None = None) -> None:
        if text.strip():
            self.removed.append(Removed(one_line(text), reason, page, self.next_start()))

    def text(self) -> str:
        return "".join(self._parts)

    def result(self, pages: Sequence[int] = ()) -> Converted:
        # lines removed after the last block are "at" the text's end
        removed = tuple(r if r.at <= self._length else replace(r, at=self._length)
                        for r in self.removed)
        return Converted(self.text(), tuple(self.blocks), removed, tuple(pages))


# Plain-text headings: "CHAPTER IV", "Chapter 12. The Return", "BOOK II", "Part One".
_CHAPTER = re.compile(r"^(chapter|book|part|act|volume)\s+([ivxlcdm]+|\d+|[a-z]+)\b[^\n]{0,80}$",
                      re.I)
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def derive_blocks(text: str) -> tuple[Block, ...]:
    """Blocks of a plain text: what blank lines separate. A one-line block naming a chapter,
    book or part is a heading; the rest are paragraphs."""
    section: tuple[str, ...] = ()  # the chapter the blocks below lie in
    blocks = []
    start = 0
    for match in [*_BLANK_LINES.finditer(text), None]:
        end = match.start() if match else len(text)
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece.rstrip())
        if trail > lead:
            line = piece[lead:trail]
            if "\n" not in line and _CHAPTER.match(line):
                section = (one_line(line),)
                blocks.append(Block(start + lead, start + trail, BlockKind.heading.value, section, 1))
            else:
                blocks.append(Block(start + lead, start + trail, BlockKind.paragraph.value, section))
        if match:
            start = match.end()
    return tuple(blocks)


class BlockIndex:
    """Looks up the block of many offsets of one document (a bisect each)."""

    def __init__(self, blocks: Sequence[Block]):
        self.blocks = list(blocks)
        self._starts = [b.start for b in self.blocks]

    def at(self, offset: int) -> Block | None:
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and offset < max(self.blocks[i].end, self.blocks[i].start + 1):
            return self.blocks[i]
        return None

    def kind(self, offset: int) -> str:
        block = self.at(offset)
        return block.kind if block is not None else BlockKind.paragraph.value

    def section(self, offset: int) -> str | None:
        """The title of the innermost section that holds `offset`."""
        block = self.at(offset)
        return block.section[-1] if block is not None and block.section else None
