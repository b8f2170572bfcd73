"""Word (.docx) documents in blocks (python-docx): headings from the Title and Heading N
styles, list paragraphs from List styles or numbering, each table row a block, in the order
the body holds them. Headers, footers, footnotes and comments are not read."""

from __future__ import annotations

import io
import re
import zipfile

from ..errors import InputError
from .blocks import BlockKind, Converted, TextBuilder, one_line

# A part that unpacks to more than this is refused: a few kilobytes of zip can claim gigabytes.
MAX_PART_BYTES = 512 * 1024 * 1024
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def docx_document(data: bytes, source: str) -> Converted:
    """A .docx file's text and blocks; an InputError naming why when it cannot be read."""
    document = _open(data, source)
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    builder = TextBuilder()
    body = document.element.body
    for element in _body_elements(body):
        if element.tag == f"{_W}p":
            paragraph = Paragraph(element, document)
            kind, level = _paragraph_kind(paragraph)
            if kind == BlockKind.paragraph.value and _bold_heading(paragraph):
                kind, level = BlockKind.heading.value, _numbering_depth(paragraph.text)
            if kind:
                builder.add(paragraph.text, kind, level)
        else:
            for row in _rows(Table(element, document)):
                builder.add(row, BlockKind.table.value)
    return builder.result()


def _open(data: bytes, source: str):
    """The python-docx Document of `data`, after checks that name what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InputError(f"{source}: not a readable .docx (not a zip archive, or a truncated "
                         "one)") from None
    with archive:
        infos = archive.infolist()
        too_large = next((i for i in infos if i.file_size > MAX_PART_BYTES), None)
        if too_large is not None:
            raise InputError(f"{source}: not a readable .docx ({too_large.filename} unpacks to "
                             f"{too_large.file_size:,} bytes)")
        if "[Content_Types].xml" not in {i.filename for i in infos}:
            raise InputError(f"{source}: not a readable .docx (a zip archive without "
                             "[Content_Types].xml, not a Word document)")
    import docx

    try:
        return docx.Document(io.BytesIO(data))
    except KeyError:  # no main document part, or one its relationships name is missing
        raise InputError(f"{source}: not a readable .docx (no word/document.xml, or a part it "
                         "names is missing)") from None
    except Exception as err:  # python-docx, zipfile and lxml raise many kinds on bad input
        from ..errors import first_line

        raise InputError(f"{source}: not a readable .docx ({first_line(err)})") from None


def _body_elements(container):
    """The paragraphs and tables of the body in document order, including those inside content
    controls (w:sdt), which python-docx's iter_inner_content passes over; a table of contents
    (a content control, or TOC-styled paragraphs) only repeats the headings, and is left out."""
    for child in container.iterchildren():
        if child.tag in (f"{_W}p", f"{_W}tbl"):
            yield child
        elif child.tag == f"{_W}sdt" and not _is_contents(child):
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _body_elements(content)


def _is_contents(sdt) -> bool:
    gallery = sdt.find(f"{_W}sdtPr/{_W}docPartObj/{_W}docPartGallery")
    return gallery is not None and gallery.get(f"{_W}val", "") == "Table of Contents"


def _paragraph_kind(paragraph) -> tuple[str, int]:
    """(block kind, heading level) of a paragraph from its style (or the styles it is based
    on) and its numbering; kind "" for an entry of a table of contents."""
    style = paragraph.style
    for _ in range(4):  # a custom style based on "Heading 2" is a level-2 heading
        if style is None:
            break
        name = (style.name or "").strip()
        if name.lower().startswith(("toc ", "toc heading")):
            return "", 0
        if name.lower() == "title":
            return BlockKind.heading.value, 1
        heading = _HEADING_STYLE.match(name)
        if heading:
            return BlockKind.heading.value, int(heading.group(1))
        if name.lower().startswith("list"):
            return BlockKind.list_item.value, 0
        style = style.base_style
    properties = paragraph._p.pPr
    if properties is not None and properties.numPr is not None:
        return BlockKind.list_item.value, 0
    return BlockKind.paragraph.value, 0


_NUMBER = re.compile(r"^\s*(\d{1,2}(?:\.\d{1,2}){0,3})[.)]?\s+\S")


def _bold_heading(paragraph) -> bool:
    """A heading typed as bold Normal text (many real reports): a short paragraph, every run
    bold, no full stop at its end."""
    text = paragraph.text.strip()
    runs = [run for run in paragraph.runs if run.text.strip()]
    return bool(runs) and 0 < len(text.split()) <= 12 and not text.endswith((".", ",", ";")) \
        and all(run.bold for run in runs)


def _numbering_depth(text: str) -> int:
    """"2.3 Data" is a level-2 heading; unnumbered bold headings are level 1."""
    number = _NUMBER.match(text)
    return number.group(1).count(".") + 1 if number else 1


def _rows(table) -> list[str]:
    """Each row's cells joined with " | " (a merged cell once, empty cells left out); the rows
    of a table inside a cell follow its row (layouts nest whole documents in tables)."""
    rows = []
    for row in table.rows:
        cells = []
        nested = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:
                continue  # python-docx repeats a cell spanning several grid columns
            previous = cell._tc
            text = one_line(cell.text)
            if text:
                cells.append(text)
            nested.extend(cell.tables)
        if cells:
            rows.append(" | ".join(cells))
        for inner in nested:
            rows.extend(_rows(inner))
    return rows
