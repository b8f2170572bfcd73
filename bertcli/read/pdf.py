"""PDF text for reading: lines with their font size and position (pypdfium2), in blocks.

Why pypdfium2 (measured with benchmarks/pdf_extractors.py): on the BERT paper (16 pages) it
extracts in 0.13 s against pypdf's 1.22 s and pdfminer.six's 3.54 s; PDFium follows the content
order that LaTeX two-column papers are written in, marks the hyphens it finds at line ends, and
gives each character's font size, weight and box, which is what the rules below need.

What is left out, each by a named rule (bertcli.read.pdf_rules; `bertcli text --show-removed`
lists them): running heads and footers, page numbers, stamps; footnotes; the title and author
block before "Abstract" and e-mail lines; the references (up to an appendix); text inside
figures, and table cells (a table's caption is kept: tables are not read as rows). A line that
reads as prose is never left out as figure or table text.

What is kept, as blocks (bertcli.read.blocks): paragraphs; headings (numbered and bold or
larger, or named: "Abstract", "References"), which give each block its section; captions
("Table 2: ..."), which `ask` reads and summaries do not pick. A word hyphenated across a line
end is joined unless the document itself writes it with a hyphen (`representa-|tion` ->
`representation`, `task-|specific` stays), and the text is NFKC-normalised (`ﬁ` -> `fi`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ..errors import InputError
from ..progress import ProgressCallback
from .blocks import BlockKind, Converted, TextBuilder
from .pdf_lines import _SOFT, Line, read_lines  # noqa: F401  (read_lines: re-exported)
from .pdf_rules import (
    ABSTRACT,
    CAPTION,
    mark_captions,
    mark_code,
    mark_front_and_back,
    mark_headings,
    mark_labels,
    mark_running,
    mark_small,
)

_HYPHENATED = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
_LETTERS = re.compile(r"[^\W\d_]+")
# First parts that usually keep their hyphen when the document does not say otherwise.
_HYPHEN_PREFIXES = frozenset(
    "pre post non self multi cross anti semi well fine task state open end left right high low "
    "one two three four real long short large small first second third top bottom full half "
    "word sentence token data domain user data-to".split()
)
SHORT_LINE = 0.6  # ragged text: lines below this fraction of a typical line's length are short
JUSTIFIED_SHORT = 0.93  # justified text: lines narrower than this fraction of the column


def pdf_document(data: bytes, source: str,
                 progress: ProgressCallback | None = None) -> Converted:
    """The text of a PDF in blocks, what was left out, and where each page begins."""
    pages, count = read_lines(data, source, progress)
    if not any(line.text.strip() for lines in pages for line in lines):
        raise InputError(
            f"{source}: this PDF has no text layer ({count} page(s), probably scanned); "
            "run OCR first (e.g. ocrmypdf) and try again"
        )
    _tell_of_poor_pages(pages, source)
    return clean(pages)


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return shown + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


_LEADERS = frozenset(".·…_-–—,:;()%/=+" + _SOFT)


def _tell_of_poor_pages(pages: list[list[Line]], source: str) -> None:
    """A notice for pages whose text layer gives nothing (a scanned page among text pages) or
    gives few letters (a broken text layer: glyphs without Unicode, "(cid:12)" codes)."""
    from .. import notices

    empty, broken = [], []
    for number, lines in enumerate(pages, 1):
        chars = "".join(line.text for line in lines).replace(" ", "")
        # digits and dot leaders are not a broken layer (a table of numbers, a contents page)
        signs = [ch for ch in chars if not ch.isdigit() and ch not in _LEADERS]
        letters = sum(ch.isalpha() for ch in signs)
        if not chars:
            empty.append(number)
        elif len(signs) >= 200 and (letters < 0.3 * len(signs) or "(cid:" in chars
                                    or chars.count("\ufffd") > 0.05 * len(chars)):
            broken.append(number)
    if empty:
        notices.notice(f"{source}: no text layer on page(s) {_page_list(empty)} (scanned?); "
                       "read the others; OCR would read those too (e.g. ocrmypdf --skip-text)")
    if broken:
        notices.notice(f"{source}: the text layer of page(s) {_page_list(broken)} looks broken "
                       "(few letters); read as it is")


def pdf_text(data: bytes, source: str,
             progress: ProgressCallback | None = None) -> tuple[str, list[int]]:
    """The text of a PDF and the offset where each page begins in it."""
    converted = pdf_document(data, source, progress)
    return converted.text, list(converted.pages)


def _plain(text: str) -> str:
    """Control characters out (PDFium's other marks, NULs), tabs as spaces."""
    return "".join(c if c == _SOFT or c.isprintable() else " " for c in text)


def _mode_size(lines: Sequence[Line]) -> float:
    weights: Counter = Counter()
    for line in lines:
        if line.size > 0:
            weights[round(line.size * 2) / 2] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 0.0


def _vocabulary(lines: Sequence[Line]) -> tuple[Counter, Counter]:
    """How often the document writes each word, and each hyphenated pair, within a line."""
    words: Counter = Counter()
    pairs: Counter = Counter()
    for line in lines:
        for piece in line.text.split(_SOFT):
            inner = piece.split()
            # the fragments next to a line-end hyphen are not words of their own
            if len(inner) > 2:
                for token in inner[1:-1]:
                    words.update(w.lower() for w in _LETTERS.findall(token))
                for compound in _HYPHENATED.findall(" ".join(inner[1:-1])):
                    parts = compound.lower().split("-")
                    pairs.update(f"{a}-{b}" for a, b in zip(parts, parts[1:]))
    return words, pairs


def _dehyphenate(text: str, words: Counter, pairs: Counter) -> str:
    """Join `left` + `right` at each PDFium line-end hyphen unless the hyphen is the word's own."""
    pieces = text.split(_SOFT)
    out = pieces[0]
    for piece in pieces[1:]:
        left = re.search(r"([^\W\d_]+)$", out)
        right = re.match(r"([^\W\d_]+)", piece)
        if left is None or right is None or not right.group(1)[0].islower():
            out += "-" + piece  # "PLAY-ER", "cor-1The": not a plain word split
            continue
        a, b = left.group(1).lower(), right.group(1).lower()
        joined, hyphened = words[a + b], pairs[f"{a}-{b}"]
        # the joined word unseen while both halves are words of the document: a compound
        both_words = len(a) > 2 and len(b) > 2 and words[a] > 0 and words[b] > 0
        keep = hyphened > joined or (joined == 0 and (a in _HYPHEN_PREFIXES or both_words))
        out += ("-" if keep else "") + piece
    return out


def _last_line_length(line: Line) -> int:
    """The length of the printed line that ends `line` (PDFium joins hyphenated lines)."""
    pieces = line.text.split(_SOFT)
    return len(pieces[-1]) + (10 if len(pieces) > 1 else 0)


def _short_test(lines: Sequence[Line], body: float):
    """Whether a line ends before its column does (a heading, a paragraph's last line).
    Justified text (most body lines equally wide) is judged by width against the wider of the
    lines around it (an indented abstract is narrower than the columns, but no line of it is
    narrower than its neighbours except its last); ragged text by length."""
    body_lines = [line for line in lines if line.kept and (body == 0 or abs(line.size - body) <= 0.5)]
    widths = sorted(line.width for line in body_lines if line.width > 0)
    if widths:
        typical_width = widths[len(widths) // 2]
        full = sum(1 for w in widths if abs(w - typical_width) <= 0.03 * typical_width)
        if full >= 0.5 * len(widths):
            def narrower(line: Line, neighbours: Sequence[Line]) -> bool:
                around = max((n.width for n in neighbours if n.page == line.page), default=0.0)
                return 0 < line.width < JUSTIFIED_SHORT * around
            return narrower
    lengths = sorted(_last_line_length(line) for line in body_lines)
    typical = lengths[len(lengths) // 2] if lengths else 0
    return lambda line, neighbours: _last_line_length(line) < SHORT_LINE * typical


def _typical_width(lines: Sequence[Line], body: float) -> float:
    """The median width of body-size lines: a column's width, in justified text."""
    widths = sorted(line.width for line in lines if line.width > 0 and abs(line.size - body) <= 0.5)
    return widths[len(widths) // 2] if widths else 0.0


def _short_by_length(lines: Sequence[Line], body: float):
    lengths = sorted(_last_line_length(line) for line in lines
                     if line.kept and (body == 0 or abs(line.size - body) <= 0.5))
    typical = lengths[len(lengths) // 2] if lengths else 0
    return lambda line: _last_line_length(line) < SHORT_LINE * typical


def clean(pages: list[list[Line]]) -> Converted:
    """The text in blocks, what was left out, and page start offsets (see the module's docstring)."""
    for lines in pages:
        for line in lines:
            line.text = _plain(line.text).strip()
    pages = [[line for line in lines if line.text] for lines in pages]
    every = [line for lines in pages for line in lines]
    body = _mode_size(every)
    is_short = _short_test(every, body)
    mark_running(pages)
    if any(line.kept for line in every):
        mark_front_and_back([line for line in every if line.kept])
    mark_captions(every, body, is_short)
    mark_code(every)
    mark_small(every, body)
    full_width = _typical_width(every, body)
    mark_headings(every, body, full_width, numbered_only=True)
    mark_labels(every, _short_by_length(every, body), full_width)
    mark_headings(every, body, full_width)
    if not any(line.kept for line in every):  # nothing looked like body text: keep it all
        for line in every:
            line.reason = None
    words, pairs = _vocabulary([line for line in every if line.kept])
    page_items = [_page_items(lines, number, is_short, words, pairs)
                  for number, lines in enumerate(pages)]
    _join_split_words(page_items)
    _join_broken_paragraphs(page_items)
    builder = TextBuilder(normalize=True)
    starts = []
    for number, items in enumerate(page_items):
        starts.append(builder.next_start() if builder.length else 0)
        for kind, level, text in items:
            if kind == _REMOVED:
                builder.remove(text, level, number + 1)
            else:
                builder.add(text, kind, level, number + 1)
    return builder.result(starts)


_REMOVED = "removed"  # an item [_REMOVED, reason, text]: a line left out


def _page_items(lines: Sequence[Line], number: int, is_short, words: Counter,
                pairs: Counter) -> list[list]:
    """A page as [kind, level, text] items in reading order: blocks of kept lines, and each
    line left out as [_REMOVED, reason, text], listed before the next block begins (a paragraph
    goes on across a footnote or figure set in its middle)."""
    items: list[list] = []
    pending: list[list] = []
    footnotes: list[list] = []  # at the end of the page, where they do not cut a paragraph
    kept = [line for line in lines if line.kept]
    position = iter(range(len(kept)))  # where `line` is in `kept`
    previous: Line | None = None
    ended = True  # whether the last kept line ended its block
    for line in lines:
        if not line.kept:
            pending.append([_REMOVED, line.reason, line.text.replace(_SOFT, "-")])
            continue
        i = next(position)
        text = _dehyphenate(line.text, words, pairs)
        abstract = ABSTRACT.match(text) if number == 0 else None
        if abstract and abstract.end() < len(text) and text[abstract.end() - 1] in ".:—–-":
            items.append([BlockKind.heading.value, 1, text[:abstract.end()].strip(" .:—–-")])
            text, ended = text[abstract.end():], True
        if line.kind == BlockKind.heading.value and line.level == 0 and items \
                and items[-1][0] == BlockKind.heading.value:
            items[-1][2] += " " + text  # a heading's second line
        elif line.kind == BlockKind.footnote.value:
            _add_footnote(footnotes, text)
            continue
        elif previous is None or line.kind != previous.kind \
                or (ended and line.kind != BlockKind.code.value) \
                or line.kind == BlockKind.heading.value or abs(line.size - previous.size) > 0.5 \
                or (line.kind == BlockKind.caption.value and CAPTION.match(text)):
            items.extend(pending)
            pending.clear()
            items.append([line.kind, line.level, text])
        else:
            items[-1][2] += "\n" + text
        ended = line.kind == BlockKind.heading.value \
            or is_short(line, kept[max(0, i - 1):i] + kept[i + 1:i + 2])
        previous = line
    return items + pending + footnotes


_MARKER = re.compile(r"^(\d{1,2}|[∗*†‡§¶])(?=[^\W\d_]|http)")


def _add_footnote(footnotes: list[list], text: str) -> None:
    """A footnote line: a marker starts a footnote ("4We note" -> "4 We note"; a marker alone
    on its line joins the line after it); other lines continue the last one."""
    if footnotes and (footnotes[-1][2].strip() in _ALONE or not _MARKER.match(text)
                      and not _ALONE_MARK.match(text)):
        footnotes[-1][2] += (" " if footnotes[-1][2].strip() in _ALONE else "\n") + text
    else:
        footnotes.append([BlockKind.footnote.value, 0, _MARKER.sub(r"\1 ", text)])


_ALONE_MARK = re.compile(r"^\s*(\d{1,2}|[∗*†‡§¶])\s*$")
_ALONE = frozenset([*"∗*†‡§¶", *(str(n) for n in range(100))])


_SENTENCE_END = re.compile(r"[.!?:;\"”’)\]]\s*$")
# What may sit between the two halves of a paragraph cut by a column or page break
_BETWEEN = frozenset({BlockKind.caption.value, BlockKind.footnote.value, BlockKind.code.value,
                      BlockKind.table.value, _REMOVED})


def _join_broken_paragraphs(pages: list[list[list]]) -> None:
    """A paragraph cut by a column or page break, a figure or a footnote ("... we generate
    binary questions" | Table 1 | "based on the presence of ...") is one paragraph again: a
    paragraph that does not end a sentence takes the next paragraph that starts in lower case,
    when only captions, footnotes, code, tables or removed lines lie between."""
    open_item: list | None = None
    for items in pages:
        kept = []
        for item in items:
            if item[0] == BlockKind.paragraph.value:
                if open_item is not None and item[2][:1].islower():
                    open_item[2] += "\n" + item[2]
                    if _SENTENCE_END.search(item[2]):
                        open_item = None
                    continue
                open_item = None if _SENTENCE_END.search(item[2]) else item
            elif item[0] not in _BETWEEN:
                open_item = None
            kept.append(item)
        items[:] = kept


def _join_split_words(pages: list[list[list]]) -> None:
    """A word hyphenated across a page break ("scenar-" | "ios ...") goes whole to the first
    page; the rest of it may come after a figure at the top of the next page."""
    head_word = re.compile(r"^([^\W\d_A-Z]+)([.,;:!?)]*)(\s|$)")
    for page, following in zip(pages, pages[1:]):
        last = next((item for item in reversed(page) if item[0] != _REMOVED), None)
        first = next((item for item in following if item[0] != _REMOVED), None)
        if last is None or first is None or last[0] != BlockKind.paragraph.value:
            continue
        tail = re.search(r"([^\W\d_]+)-$", last[2])
        head = head_word.search(first[2])
        if tail and head:
            last[2] = last[2][:-1] + head.group(1) + head.group(2)
            first[2] = first[2][head.end():].strip()
