"""A PDF's lines as PDFium gives them, with font size and position (bertcli.read.pdf cleans them)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ..errors import InputError, first_line
from ..progress import ProgressCallback, report

# PDFium's mark for a hyphen it found at a line end (in get_text_range's output).
_SOFT = "\ufffe"


@dataclass
class Line:
    page: int  # 0-based
    text: str  # may hold _SOFT where PDFium found a line-end hyphen
    size: float  # font size (median of a few of its characters)
    top: float  # fraction of the page height from the top
    width: float = 0.0  # of the printed line that ends it (PDFium joins hyphenated lines)
    weight: int = 400  # font weight (700: bold), of the same characters as `size`
    mono: bool = False  # set in a fixed-pitch font (code)
    reason: str | None = None  # why it is left out of the text (bertcli.read.blocks.Reason)
    kind: str = "paragraph"  # the kind of block it belongs to (bertcli.read.blocks.BlockKind)
    level: int = 0  # a heading's depth

    @property
    def kept(self) -> bool:
        return self.reason is None


def read_lines(data: bytes, source: str,
               progress: ProgressCallback | None = None) -> tuple[list[list[Line]], int]:
    """Lines of each page (PDFium's order), and the number of pages."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        message = str(err).lower()
        # PDFium refuses an empty page tree (and its error code may be a stale one)
        if re.search(rb"/Type\s*/Pages\b[^>]*?/Count\s+0\b", data):
            raise InputError(f"{source}: this PDF has no pages") from None
        if "password" in message:
            raise InputError(f"{source}: this PDF is protected by a password; remove it first "
                             "(e.g. qpdf --decrypt --password=PASSWORD in.pdf out.pdf)") from None
        if "security" in message:
            raise InputError(f"{source}: this PDF is encrypted and cannot be opened") from None
        if b"%PDF-" not in data[:1024]:
            raise InputError(f"{source}: not a PDF (no %PDF- header); if it is text, pass "
                             "--input-format text") from None
        raise InputError(f"{source}: not a readable PDF ({first_line(err)})") from None
    pages: list[list[Line]] = []
    try:
        count = len(doc)
        if count == 0:
            raise InputError(f"{source}: this PDF has no pages")
        for number in range(count):
            page = doc[number]
            if page.get_rotation():
                # PDFium orders a turned page's lines as shown turned (a page turned 90° reads
                # bottom line first); read it as written. The file is not changed.
                page.set_rotation(0)
            height = page.get_height() or 1.0
            textpage = page.get_textpage()
            n = textpage.count_chars()
            text = textpage.get_text_range(0, n) if n > 0 else ""
            lines = []
            position = 0
            for raw in text.split("\r\n"):
                # one char of the text is one char of the page, while PDFium keeps that promise
                if raw.strip() and len(raw) <= n - position:
                    box = textpage.get_charbox(position)
                    top = min(max(1.0 - box[3] / height, 0.0), 1.0)
                    lines.extend(_by_size(raw, position, number, top, textpage, pdfium_c))
                elif raw.strip():
                    lines.append(Line(number, raw, 0.0, 0.5))
                position += len(raw) + 2
            pages.append(lines)
            report(progress, "pages", 1, count)
            textpage.close()
            page.close()
    except InputError:
        raise
    except Exception as err:  # PDFium on a damaged file
        raise InputError(f"{source}: not a readable PDF ({first_line(err)})") from None
    finally:
        doc.close()
    return pages, count


_WORD = re.compile(r"[^\W\d_]{4,}")
SUBSCRIPT = 0.8  # letters below this fraction of the word's first letter's size


def _spaced_subscripts(piece: str, offset: int, textpage, pdfium_c) -> str:
    """`piece` with a space before letters set as a subscript or superscript that the text
    layer glues to the word before them: "BERT" + small "LARGE" -> "BERT LARGE" (so the
    question "BERT LARGE" finds it). Only words whose last letter is smaller than their first
    are looked at letter by letter, and only letters off the word's baseline count: small
    capitals ("CC-NEWS" in a paper's small caps) sit on it and stay joined."""
    size = pdfium_c.FPDFText_GetFontSize
    out, last = [], 0
    for match in _WORD.finditer(piece):
        a, b = match.start(), match.end() - 1
        first = size(textpage, offset + a)
        if first <= 0 or size(textpage, offset + b) >= SUBSCRIPT * first:
            continue
        cut = next((k for k in range(a + 1, b + 1)
                    if size(textpage, offset + k) < SUBSCRIPT * first), None)
        if cut is not None and cut - a >= 1 and b - cut >= 1 \
                and _off_baseline(textpage, offset + a, offset + cut, first):
            out.append(piece[last:cut] + " ")
            last = cut
    return "".join(out) + piece[last:]


def _off_baseline(textpage, base: int, small: int, size: float) -> bool:
    """Whether the character at `small` sits a tenth of `size` or more above or below the
    baseline of the character at `base` (a subscript or superscript; small capitals do not)."""
    base_bottom, small_bottom = textpage.get_charbox(base)[1], textpage.get_charbox(small)[1]
    return abs(small_bottom - base_bottom) >= 0.1 * size


def _size(textpage, pdfium_c, start: int, length: int) -> tuple[float, int]:
    """The most common font size among up to eleven characters spread over
    [start, start + length) (subscripts and symbols are the minority), and their median weight."""
    picks = sorted({start + (length * k) // 12 for k in range(1, 12)})
    sizes = Counter(round(pdfium_c.FPDFText_GetFontSize(textpage, i) * 2) / 2 for i in picks)
    weights = sorted(pdfium_c.FPDFText_GetFontWeight(textpage, i) for i in picks)
    size = max(sizes.items(), key=lambda item: (item[1], item[0]))[0]
    return round(size, 1), int(weights[len(weights) // 2])


def _by_size(raw: str, position: int, page: int, top: float, textpage, pdfium_c) -> list[Line]:
    """One PDFium line, cut where its font size changes at a line-end hyphen: PDFium joins a
    column's last hyphenated line to whatever follows it, e.g. a footnote ("cor-" + "1The ...")."""
    out: list[Line] = []
    offset = position
    for piece in raw.split(_SOFT):
        size, weight = _size(textpage, pdfium_c, offset, len(piece)) if piece else (0.0, 400)
        shown = _spaced_subscripts(piece, offset, textpage, pdfium_c)
        if out and abs(out[-1].size - size) <= 0.5:
            out[-1].text += _SOFT + shown
        elif out:
            out[-1].text += "-"
            out.append(Line(page, shown, size, top, weight=weight))
        else:
            out.append(Line(page, shown, size, top, weight=weight))
        if piece:
            mono, bold = _font_traits(textpage, pdfium_c, offset + len(piece) // 2)
            out[-1].mono = out[-1].mono or mono
            if bold:  # fonts that do not state their weight: "CMBX12", "Times-Bold"
                out[-1].weight = max(out[-1].weight, 700)
            left, right = textpage.get_charbox(offset)[0], textpage.get_charbox(offset + len(piece) - 1)[2]
            out[-1].width = max(0.0, right - left)
        offset += len(piece) + 1
    return out


_MONO_NAME = re.compile(rb"mono|courier|cmtt|consol|menlo|inconsolata|typewriter|sftt|lmmono|tt\d", re.I)
_BOLD_NAME = re.compile(rb"bold|cmbx|\bbx\d|medi|semibold|demi|heavy|black", re.I)
_FIXED_PITCH, _FORCE_BOLD = 1, 1 << 18  # PDF font descriptor flags


def _font_traits(textpage, pdfium_c, index: int) -> tuple[bool, bool]:
    """(fixed-pitch, bold) for the font of the character at `index`, by its flags or name."""
    import ctypes

    name = ctypes.create_string_buffer(96)
    flags = ctypes.c_int(0)
    pdfium_c.FPDFText_GetFontInfo(textpage, index, name, 96, ctypes.byref(flags))
    base = name.value.split(b"+")[-1]
    return (bool(flags.value & _FIXED_PITCH) or bool(_MONO_NAME.search(base)),
            bool(flags.value & _FORCE_BOLD) or bool(_BOLD_NAME.search(base)))
