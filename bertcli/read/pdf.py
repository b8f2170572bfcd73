"""PDF text for reading: lines with their font size and position (pypdfium2), cleaned.

Why pypdfium2 (measured with benchmarks/pdf_extractors.py): on the BERT paper (16 pages) it
extracts in 0.13 s against pypdf's 1.22 s and pdfminer.six's 3.54 s (per page 0.008 s, 0.08 s,
0.22 s); pdfminer.six's layout boxes would order columns too, but at ~0.2 s a page. PDFium
follows the content order that LaTeX two-column papers are written in (left column, then
right), marks the hyphens it finds at line ends, and gives each character's font size and
box, which is what the cleaning below needs.

Cleaning (every step works on whole lines; nothing is rewritten inside a line except
hyphenation and NFKC):
- running headers and footers (lines repeated near the top or bottom of many pages), bare page
  numbers, arXiv stamps and copyright/proceedings lines are dropped;
- text set smaller than the body (footnotes, figure labels, table bodies) and label runs
  (several short lines in a row, or lines that are mostly not words) are dropped;
- on the first page, the title/author/affiliation block before "Abstract" is dropped, and lines
  with an e-mail address anywhere;
- figure and table captions ("Figure 2: ...", up to the caption's last line) are dropped;
- a reference list (after a "References" or "Bibliography" heading) is dropped up to an
  appendix heading or the end;
- a word hyphenated across a line end is joined unless the document itself writes it with a
  hyphen (`representa-|tion` -> `representation`, `task-|specific` stays);
- Unicode NFKC (the ligature `ﬁ` becomes `fi`);
- a short line (a heading, a paragraph's last line) ends a block (a blank line follows), so a
  heading never joins the sentence after it.

`pdf_text` returns the text and the offset where each page begins in it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from ..errors import InputError
from ..progress import ProgressCallback
from .pdf_lines import _SOFT, Line, read_lines  # noqa: F401  (read_lines: re-exported)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+|\}@[\w-]+\.")
_BARE_NUMBER = re.compile(r"^\W*(\d{1,4}|[ivxlcdm]{1,7})\W*$", re.I)
_STAMP = re.compile(r"^(arXiv:\d{4}\.\d{4,5}|Proceedings of\b.*\bpages\b|.*(©|\(c\)\s*\d{4}|"
                    r"\bcopyright\b).*\d{4})", re.I)
_ABSTRACT = re.compile(r"^\s*(abstract|a\s?b\s?s\s?t\s?r\s?a\s?c\s?t)\s*[.:—–-]?\s*", re.I)
_REFERENCES = re.compile(r"^\s*(\d+\.?\s*)?(references|bibliography|works cited|literature cited)\s*$",
                         re.I)
# The heading of an appendix after the references: "A Additional Details", "Appendix B", ...
_APPENDIX = re.compile(r"^\s*(appendix\b|appendices\b|[A-H](\.\d+)?\s+[A-Z][a-z]+)")
_CAPTION = re.compile(r"^\s*(figure|fig\.|table)\s+\d+\s*[:.]", re.I)
_PROSE_WORD = re.compile(r"[^\W\d_]*[^\W\d_A-Z][^\W\d_]*(-[^\W\d_]+)*")
_HYPHENATED = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
_LETTERS = re.compile(r"[^\W\d_]+")
# First parts that usually keep their hyphen when the document does not say otherwise.
_HYPHEN_PREFIXES = frozenset(
    "pre post non self multi cross anti semi well fine task state open end left right high low "
    "one two three four real long short large small first second third top bottom full half "
    "word sentence token data domain user data-to".split()
)
SMALL_TEXT = 0.85  # lines below this fraction of the body's font size are not body text
SHORT_LINE = 0.6  # ragged text: lines below this fraction of a typical line's length are short
JUSTIFIED_SHORT = 0.93  # justified text: lines narrower than this fraction of the column
MARGIN = 0.1  # the top and bottom tenth of a page: where running headers and footers sit


def pdf_text(data: bytes, source: str,
             progress: ProgressCallback | None = None) -> tuple[str, list[int]]:
    """The cleaned text of a PDF and the offset where each page begins in it."""
    pages, count = read_lines(data, source, progress)
    if not any(line.text.strip() for lines in pages for line in lines):
        raise InputError(
            f"{source}: this PDF has no text layer ({count} page(s), probably scanned); "
            "run OCR first (e.g. ocrmypdf) and try again"
        )
    return clean(pages)


def _plain(text: str) -> str:
    """Control characters out (PDFium's other marks, NULs), tabs as spaces."""
    return "".join(c if c == _SOFT or c.isprintable() else " " for c in text)


def _mode_size(lines: Sequence[Line]) -> float:
    weights: Counter = Counter()
    for line in lines:
        if line.size > 0:
            weights[round(line.size * 2) / 2] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 0.0


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _mark_running(pages: list[list[Line]]) -> None:
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
            if (edge and (seen[_key(text)] >= enough or _BARE_NUMBER.match(text))) \
                    or _STAMP.match(text):
                line.drop = True


def _is_label(text: str) -> bool:
    """Not prose: few lower-case words (figure labels, table rows, formulas)."""
    tokens = text.split()
    if len(tokens) < 4:
        return False
    words = sum(1 for t in tokens if _PROSE_WORD.fullmatch(t.strip(".,;:()[]'\"’”“")))
    return words / len(tokens) < 0.4


def _mark_front_and_back(lines: list[Line]) -> None:
    """The block before "Abstract" on the first page; reference lists; e-mail lines."""
    first_page = [line for line in lines if line.page == lines[0].page]
    for i, line in enumerate(first_page[:40]):
        match = _ABSTRACT.match(line.text)
        if match and (match.end() == len(line.text) or line.text[match.end() - 1] in ".:—–-"):
            for before in first_page[:i]:
                before.drop = True
            rest = line.text[match.end():].strip()
            if rest:
                line.text = rest
            else:
                line.drop = True
            break
    in_references = False
    for line in lines:
        text = line.text.strip()
        if _EMAIL.search(text):
            line.drop = True
        if _REFERENCES.match(text):
            in_references = True
        elif in_references and _APPENDIX.match(text) and len(text) < 60 \
                and not re.search(r"\b(1[89]|20)\d\d\b", text):
            in_references = False
        if in_references:
            line.drop = True


def _mark_labels(lines: list[Line], is_short) -> None:
    """Runs of three or more short lines that do not end a sentence, and word-poor lines."""
    run: list[Line] = []

    def flush() -> None:
        if len(run) >= 3:
            for line in run:
                if not line.text.rstrip().endswith((".", "?", "!")):
                    line.drop = True
        run.clear()

    for line in lines:
        if _is_label(line.text.replace(_SOFT, "-")):
            line.drop = True
        if is_short(line):
            run.append(line)
        else:
            flush()
    flush()


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
    body_lines = [line for line in lines if not line.drop and (body == 0 or abs(line.size - body) <= 0.5)]
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


def _short_by_length(lines: Sequence[Line], body: float):
    lengths = sorted(_last_line_length(line) for line in lines
                     if not line.drop and (body == 0 or abs(line.size - body) <= 0.5))
    typical = lengths[len(lengths) // 2] if lengths else 0
    return lambda line: _last_line_length(line) < SHORT_LINE * typical


def clean(pages: list[list[Line]]) -> tuple[str, list[int]]:
    """Cleaned text and page start offsets (see the module's docstring)."""
    for lines in pages:
        for line in lines:
            line.text = _plain(line.text).strip()
    pages = [[line for line in lines if line.text] for lines in pages]
    every = [line for lines in pages for line in lines]
    body = _mode_size(every)
    if body > 0:
        for line in every:
            if 0 < line.size < SMALL_TEXT * body:
                line.drop = True
    is_short = _short_test(every, body)
    is_label_length = _short_by_length(every, body)
    _mark_running(pages)
    kept = [line for line in every if not line.drop]
    if kept:
        _mark_front_and_back(kept)
        _mark_labels([line for line in kept if not line.drop], is_label_length)
    kept = [line for line in every if not line.drop]
    if not kept:  # nothing looked like body text: keep it all rather than return nothing
        for line in every:
            line.drop = False
        kept = every
    words, pairs = _vocabulary(kept)
    page_texts = []
    for number in range(len(pages)):
        page_lines = [line for line in pages[number] if not line.drop]
        blocks: list[list[str]] = [[]]
        for i, line in enumerate(page_lines):
            text = _dehyphenate(line.text, words, pairs)
            if blocks[-1] and (_CAPTION.match(text) or abs(line.size - page_lines[i - 1].size) > 0.5):
                blocks.append([])
            blocks[-1].append(text)
            if is_short(line, page_lines[max(0, i - 1):i] + page_lines[i + 1:i + 2]):
                blocks.append([])
        # a figure's or table's caption is not the text's own prose: never a candidate
        page_texts.append("\n\n".join("\n".join(b) for b in blocks if b and not _CAPTION.match(b[0])))
    page_texts = _join_split_words(page_texts)
    text, starts = "", []
    for page in page_texts:
        page = unicodedata.normalize("NFKC", page).strip()
        if text and page:
            text += "\n\n"
        starts.append(len(text))
        text += page
    return text, starts


def _join_split_words(pages: list[str]) -> list[str]:
    """A word hyphenated across a page break ("scenar-" | "ios ...") goes whole to the first
    page; the rest of it may come after a figure at the top of the next page."""
    pages = list(pages)
    for i in range(len(pages) - 1):
        tail = re.search(r"([^\W\d_]+)-$", pages[i])
        head = re.compile(r"(?:^|\n\n)([^\W\d_A-Z]+)([.,;:!?)]*)(\s|$)").search(pages[i + 1][:2000])
        if tail and head:
            pages[i] = pages[i][:-1] + head.group(1) + head.group(2)
            pages[i + 1] = (pages[i + 1][:head.start(1)] + pages[i + 1][head.end():]).strip()
    return pages
