"""The named rules that read a PDF's lines: which are left out, and why (bertcli.read.blocks.Reason),
and which are headings and captions.

A line that reads as prose (`is_prose`) is only ever left out as a running head or footer, a
page number, a footnote, front matter (title, authors, affiliations) or part of the references:
the rules for figure and table text never touch it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from .blocks import BlockKind, Reason
from .pdf_lines import _SOFT, Line

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+|\}@[\w-]+\.")
_BARE_NUMBER = re.compile(r"^\W*(\d{1,4}|[ivxlcdm]{1,7})\W*$", re.I)
_PAGE_OF = re.compile(r"^\W*(page\s+)?\d{1,4}\s*(of|/)\s*\d{1,4}\W*$", re.I)
_STAMP = re.compile(r"^(arXiv:\d{4}\.\d{4,5}|Proceedings of\b.*\bpages\b|.*(©|\(c\)\s*\d{4}|"
                    r"\bcopyright\b).*\d{4})", re.I)
ABSTRACT = re.compile(r"^\s*(abstract|a\s?b\s?s\s?t\s?r\s?a\s?c\s?t)\s*[.:—–-]?\s*", re.I)
_REFERENCES = re.compile(r"^\s*(\d+\.?\s*)?(references|bibliography|works cited|literature cited)\s*$",
                         re.I)
# The heading of an appendix after the references: "A Additional Details", "Appendix B", ...
_APPENDIX = re.compile(r"^\s*(appendix\b|appendices\b|[A-H](\.\d+)?\s+[A-Z][a-z]+)")
CAPTION = re.compile(r"^\s*(figure|fig\.|table|algorithm|listing)\s+[A-Z]?\d+(\.\d+)?\s*[:.|—–-]", re.I)
# A numbered heading: "3 Model", "3.2.1 Attention", "A.1 Details", "IV. RESULTS"
_NUMBERED = re.compile(r"^(?P<number>\d{1,2}(\.\d{1,2}){0,3}|[A-H](\.\d{1,2}){0,3}|[IVX]{1,5})"
                       r"\.?\s+(?P<title>[A-Z][^\n]{0,100})$")
_NAMED = frozenset("abstract introduction conclusion conclusions discussion acknowledgments "
                   "acknowledgements acknowledgment acknowledgement references appendix summary "
                   "background contents foreword preface glossary index".split())
_FOOTNOTE_MARK = re.compile(r"^\s*(\d{1,2}|[∗*†‡§¶])(\s*[^\W\d]|\s*http|$)")
_PROSE_WORD = re.compile(r"[^\W\d_]*[^\W\d_A-Z][^\W\d_]*(-[^\W\d_]+)*")
BOLD = 600
SMALL_TEXT = 0.85  # lines below this fraction of the body's font size are not body text
MARGIN = 0.1  # the top and bottom tenth of a page: where running headers and footers sit
FOOT = 0.55  # footnotes start below this fraction of the page's height


def _words(text: str) -> tuple[int, int]:
    """(tokens, tokens that are words with a lower-case letter)."""
    tokens = text.replace(_SOFT, "-").split()
    words = sum(1 for t in tokens if _PROSE_WORD.fullmatch(t.strip(".,;:()[]'\"’”“")))
    return len(tokens), words


def is_prose(text: str) -> bool:
    """A line of running prose: five or more tokens, half of them words (or four, three of
    them words)."""
    tokens, words = _words(text)
    return (tokens >= 5 and words >= 0.5 * tokens) or (tokens == 4 and words >= 3)


def is_label(text: str) -> bool:
    """Not prose: few lower-case words (figure labels, table rows, formulas)."""
    tokens, words = _words(text)
    return tokens >= 4 and words < 0.4 * tokens


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def mark_running(pages: list[list[Line]]) -> None:
    """Headers, footers and page numbers: lines near the top or bottom of a page that repeat
    (digits aside) on several pages, bare numbers there, and stamps anywhere."""
    seen: Counter = Counter()
    for lines in pages:
        seen.update({_key(line.text) for line in lines if line.top < MARGIN or line.top > 1 - MARGIN})
    enough = max(2, int(0.4 * len(pages)))
    for lines in pages:
        for line in lines:
            edge = line.top < MARGIN or line.top > 1 - MARGIN
            text = line.text.strip()
            if edge and (_BARE_NUMBER.match(text) or _PAGE_OF.match(text)):
                line.reason = Reason.page_number.value
            elif (edge and seen[_key(text)] >= enough) or _STAMP.match(text):
                line.reason = Reason.running_head.value


def mark_front_and_back(lines: list[Line]) -> None:
    """The block before "Abstract" on the first page (the abstract's own heading kept);
    e-mail lines; reference lists up to an appendix."""
    first_page = [line for line in lines if line.page == lines[0].page]
    for i, line in enumerate(first_page[:40]):
        match = ABSTRACT.match(line.text)
        if match and (match.end() == len(line.text) or line.text[match.end() - 1] in ".:—–-"):
            for before in first_page[:i]:
                before.reason = before.reason or Reason.front_matter.value
            break
    in_references = False
    for line in lines:
        text = line.text.strip()
        if _EMAIL.search(text):
            line.reason = line.reason or Reason.front_matter.value
        if _REFERENCES.match(text):
            in_references = True
            line.kind, line.level = BlockKind.heading.value, 1
            continue  # the heading stays: a section of its own
        elif in_references and _ends_references(line, text):
            in_references = False
        if in_references:
            line.reason = line.reason or Reason.references.value


def _starts_caption(lines: Sequence[Line], i: int, body: float,
                    ends_block: Callable[[Line, Sequence[Line]], bool]) -> bool:
    """ "Figure 2: ..." starts a caption; "Table 6. In this table ..." only where it starts a
    block or is set in another size than the body (else it is a sentence of the text)."""
    match = CAPTION.match(lines[i].text)
    if not match or not lines[i].kept:
        return False
    if match.group(0).rstrip().endswith(":") or abs(lines[i].size - body) > 0.3:
        return True
    before = [line for line in lines[max(0, i - 3):i] if line.kept and line.page == lines[i].page]
    return not before or ends_block(before[-1], [*before[-2:-1], lines[i]])


def _ends_references(line: Line, text: str) -> bool:
    """An appendix heading ("A Details", "Appendix B"), a short bold line, or a figure's
    caption: what follows a reference list is not part of it."""
    if len(text) >= 60 or re.search(r"\b(1[89]|20)\d\d\b", text):
        return bool(CAPTION.match(text)) and ":" in text[:20]
    return bool(_APPENDIX.match(text) or CAPTION.match(text)
                or (line.weight >= BOLD and len(text.split()) <= 8 and not text.endswith(".")))


def mark_captions(lines: Sequence[Line], body: float,
                  ends_block: Callable[[Line, Sequence[Line]], bool]) -> None:
    """A caption ("Table 2: ...") runs from its first line to the line that ends its
    paragraph, in the same font size, at most twelve lines."""
    i = 0
    while i < len(lines):
        line = lines[i]
        if _starts_caption(lines, i, body, ends_block):
            line.kind = BlockKind.caption.value
            j = i
            while j - i < 12 and not ends_block(lines[j], [*lines[max(0, j - 1):j], *lines[j + 1:j + 2]]):
                following = lines[j + 1] if j + 1 < len(lines) else None
                if following is None or following.page != line.page or not following.kept \
                        or abs(following.size - line.size) > 0.5 or CAPTION.match(following.text):
                    break
                j += 1
                following.kind = BlockKind.caption.value
            i = j
        i += 1


def _captions_by_page(lines: Sequence[Line]) -> dict[int, list[tuple[int, str]]]:
    """Where each caption starts, page by page: (line index, `table` or `figure`)."""
    captions: dict[int, list[tuple[int, str]]] = {}
    for j, line in enumerate(lines):
        if line.kind == BlockKind.caption.value and CAPTION.match(line.text):
            reason = Reason.table.value if line.text.lstrip().lower().startswith("table") \
                else Reason.figure.value
            captions.setdefault(line.page, []).append((j, reason))
    return captions


def _nearest_caption(captions: dict[int, list[tuple[int, str]]], lines: Sequence[Line],
                     i: int) -> str:
    """`table` when the caption nearest line i on its page is a table's, else `figure`."""
    best, distance = Reason.figure.value, len(lines)
    for j, reason in captions.get(lines[i].page, ()):
        if abs(j - i) < distance:
            best, distance = reason, abs(j - i)
    return best


def mark_code(lines: Sequence[Line]) -> None:
    """Lines set in a fixed-pitch font are code blocks (commands, listings)."""
    for line in lines:
        if line.kept and line.mono and line.kind == BlockKind.paragraph.value:
            line.kind = BlockKind.code.value


def mark_small(lines: Sequence[Line], body: float) -> None:
    """Text set smaller than the body: footnotes (in the lower part of a page, starting with a
    marker, and the lines that continue them), kept as footnote blocks; figure and table text
    unless it reads as prose."""
    if body <= 0:
        return
    in_footnote = -1  # the page of the footnote being read
    captions = _captions_by_page(lines)
    for i, line in enumerate(lines):
        small = 0 < line.size < SMALL_TEXT * body
        if not small or not line.kept or line.kind != BlockKind.paragraph.value:
            in_footnote = -1 if not small else in_footnote
            continue
        if line.top > FOOT and (_FOOTNOTE_MARK.match(line.text) or in_footnote == line.page):
            line.kind = BlockKind.footnote.value
            in_footnote = line.page
        elif not is_prose(line.text):
            line.reason = _nearest_caption(captions, lines, i)


def _in_prose(lines: Sequence[Line], i: int, full_width: float) -> bool:
    """A column-wide line next to a line of prose: part of a paragraph, however many numbers
    it holds ("BERTBASE (L=12, H=768, A=12, Total Parameters=110M) and ...")."""
    if full_width <= 0 or lines[i].width < 0.9 * full_width:
        return False
    around = [line for line in (lines[i - 1] if i else None, lines[i + 1] if i + 1 < len(lines) else None)
              if line is not None and line.page == lines[i].page and line.kept]
    return any(is_prose(line.text) for line in around)


def mark_labels(lines: Sequence[Line], is_short: Callable[[Line], bool], full_width: float) -> None:
    """Figure and table text in the body's size: runs of three or more short lines that do
    not end a sentence, or of two or more word-poor lines. A word-poor line alone (a formula)
    stays. Prose, headings, captions and code are never touched, nor column-wide lines beside
    prose."""
    run: list[int] = []
    captions = _captions_by_page(lines)

    def flush() -> None:
        labels = sum(1 for k in run if is_label(lines[k].text))
        if len(run) >= 3 or labels >= 2:
            for k in run:
                if not lines[k].text.rstrip().endswith((".", "?", "!")) or is_label(lines[k].text):
                    lines[k].reason = _nearest_caption(captions, lines, k)
        run.clear()

    for i, line in enumerate(lines):
        if not line.kept or line.kind != BlockKind.paragraph.value or is_prose(line.text) \
                or _in_prose(lines, i, full_width):
            flush()
            continue
        if is_label(line.text) or is_short(line):
            run.append(i)
            continue
        flush()
    flush()


def mark_headings(lines: Sequence[Line], body: float, full_width: float = 0.0,
                  numbered_only: bool = False) -> None:
    """Headings: numbered lines ("3.2 Attention") in bold or a larger size, named ones
    ("Abstract", "References"), and short bold lines larger than the body. `numbered_only`:
    the numbered ones alone (before the figure-text rules, which would take a run of short
    numbered headings for a figure's labels)."""
    previous: Line | None = None
    for line in lines:
        if not line.kept:
            continue
        if previous is not None and previous.kind == BlockKind.heading.value \
                and previous.level > 0 and _continues_heading(previous, line, full_width):
            line.kind, line.level = BlockKind.heading.value, 0  # joins the heading above
        previous = line
        if line.kind != BlockKind.paragraph.value:
            continue
        text = " ".join(line.text.replace(_SOFT, "-").split())
        words = text.split()
        if not words or len(words) > 12 or text.endswith((".", ",", ";", ":")) and not ABSTRACT.match(text):
            continue
        emphasised = line.weight >= BOLD or (body > 0 and line.size >= body + 0.5)
        numbered = _NUMBERED.match(text)
        # a title has a word ("3 BERT", "4.2 SQuAD v1.1"), not just labels ("C T1" in a figure)
        titled = numbered is not None and re.search(r"[^\W\d_]{3,}", numbered.group("title"))
        if numbered and titled and emphasised and not is_label(text):
            line.kind = BlockKind.heading.value
            line.level = numbered.group("number").count(".") + 1
        elif numbered_only:
            continue
        elif text.lower().rstrip(":.") in _NAMED and (emphasised or len(words) == 1):
            line.kind, line.level = BlockKind.heading.value, 1
        elif emphasised and line.weight >= BOLD and body > 0 and body + 1 <= line.size <= 2.5 * body:
            line.kind, line.level = BlockKind.heading.value, 1


_CONNECTOR = re.compile(r"(\b(and|or|of|for|the|a|an|in|on|with|to|from|by|via|vs)|[,:–—-])\s*$", re.I)


def _continues_heading(heading: Line, line: Line, full_width: float = 0.0) -> bool:
    """A heading's second line: same page, size and weight, short, no number of its own, after
    a first line that fills the column or ends mid-phrase ("Comparison of BERT, ELMo, and") —
    not a table's bold header row under a short heading."""
    words = line.text.split()
    wrapped = (full_width > 0 and heading.width >= 0.7 * full_width) \
        or bool(_CONNECTOR.search(heading.text))
    return (line.page == heading.page and abs(line.size - heading.size) <= 0.3
            and (line.weight >= BOLD) == (heading.weight >= BOLD) and 0 < len(words) <= 6
            and not line.text.rstrip().endswith(".") and not _NUMBERED.match(line.text)
            and heading.weight >= BOLD and wrapped)
