"""Turn HTML, Markdown, PDF, Word (.docx) and reStructuredText into plain text that bertcli reads.

Offsets bertcli reports for such inputs refer to the text produced here (`bertcli text FILE`
prints it). Blocks (paragraphs, headings, list items, pages) are separated by a blank line,
which the sentence splitter treats as a hard boundary. The converters are imported only when
an input needs them.
"""

from __future__ import annotations

import os
import re
from enum import Enum

from .blocks import BlockKind, Converted, TextBuilder


class InputFormat(str, Enum):
    text = "text"
    html = "html"
    markdown = "markdown"
    pdf = "pdf"
    docx = "docx"
    rst = "rst"


FORMATS = tuple(f.value for f in InputFormat)

EXTENSIONS = {
    ".txt": "text", ".text": "text",
    ".html": "html", ".htm": "html", ".xhtml": "html", ".shtml": "html",
    ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown",
    ".pdf": "pdf",
    ".docx": "docx",
    ".rst": "rst", ".rest": "rst",
}
CONTENT_TYPES = {
    "text/html": "html", "application/xhtml+xml": "html",
    "text/markdown": "markdown", "text/x-markdown": "markdown",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/x-rst": "rst", "text/prs.fallenstein.rst": "rst",
    "text/plain": "text",
}
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<!--)", re.I)
_HTML_TAGS = re.compile(rb"<(html|head|body|p|div|article)[\s>]", re.I)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def charset(content_type: str | None) -> str | None:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    return match.group(1) if match else None


def detect(name: str, data: bytes, content_type: str | None = None) -> str:
    """The format of an input: its extension, else its Content-Type, else its first bytes."""
    path = name.split("?")[0].split("#")[0]
    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    mtype = media_type(content_type)
    if mtype in CONTENT_TYPES:
        return CONTENT_TYPES[mtype]
    head = data[:4096]
    if head.startswith(b"%PDF-"):
        return "pdf"
    # a Word document: a zip archive that holds word/document.xml (named in its local file
    # headers and its central directory, so a plain search finds it)
    if head.startswith(b"PK\x03\x04") and b"word/document.xml" in data:
        return "docx"
    if _HTML_START.match(head) or (b"\x00" not in head and _HTML_TAGS.search(head)
                                   and head.lstrip().startswith(b"<")):
        return "html"
    # Markdown is recognised only without an extension (stdin, "README"): in a .py, .sh or
    # .yaml file, "# " starts a comment.
    if not ext and looks_like_markdown(data[:65536]):
        return "markdown"
    return "text"


_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.M)
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.M)
_LINK = re.compile(r"(?<!!)\[[^\]\n]+\]\((?:https?://|/|\.{0,2}/|#|mailto:)?[^)\s]+\)")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.M)
_INLINE_CODE = re.compile(r"(?<!`)`[^`\n]+`(?!`)")
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def looks_like_markdown(head: bytes) -> bool:
    """Whether text with no extension is clearly Markdown: an ATX heading ("# Title") and a
    fenced code block or a [link](url), or two more of the weaker signs (list items, `code`,
    **bold**). A lone "#" line in prose, or a script's "# comments", stays text."""
    if b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="replace")
    fences = len(_FENCE_LINE.findall(text))
    outside = _FENCED.sub("", text) if fences >= 2 else text
    if not _ATX_HEADING.search(outside):
        return False
    if fences >= 2 or _LINK.search(outside):
        return True
    weak = [_LIST_ITEM.search(outside), _INLINE_CODE.search(outside), _BOLD.search(outside)]
    return sum(1 for sign in weak if sign) >= 2


_FENCED = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?^ {0,3}\1[ \t]*$", re.M | re.S)


def docx_document(data: bytes, source: str) -> Converted:
    """A Word document's text in blocks (bertcli.read.docx)."""
    from .docx import docx_document as read_docx

    return read_docx(data, source)


def rst_document(text: str, source: str) -> Converted:
    """A reStructuredText document's text in blocks (bertcli.read.rst)."""
    from .rst import rst_document as read_rst

    return read_rst(text, source)


def html_to_text(data: bytes, source: str, encoding: str | None = None) -> str:
    """The main text of a web page (bertcli.read.html)."""
    return html_document(data, source, encoding).text


def html_document(data: bytes, source: str, encoding: str | None = None) -> Converted:
    """The main text of a web page in blocks (bertcli.read.html)."""
    from .html import html_document as read_html

    return read_html(data, source, encoding)


_FRONT_MATTER = re.compile(r"\A---\n.*?\n(---|\.\.\.)\n", re.S)


# Markdown larger than this is parsed in pieces of about MARKDOWN_PIECE characters, cut at block
# boundaries: markdown-it's tokens take ~80x the text's size, so a 50 MB table would need ~4 GB.
MARKDOWN_WHOLE = 1 << 20
MARKDOWN_PIECE = 1 << 18
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_RAW_OPEN = re.compile(r"^ {0,3}<(script|pre|style|textarea)\b", re.I)
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_BLOCK_START = re.compile(r"^( {0,3}([-*+]|\d{1,9}[.)])[ \t]| {0,3}#{1,6}[ \t]| {0,3}>)")


def markdown_to_text(markdown: str) -> str:
    """Prose of a Markdown document (see `markdown_document`)."""
    return markdown_document(markdown).text


def markdown_document(markdown: str) -> Converted:
    """A Markdown document's text and blocks: no markup or raw HTML; one block per heading,
    paragraph, list item, table row or code block. Large documents are parsed in pieces
    (memory a few times the text's size, whatever its length)."""
    from markdown_it import MarkdownIt

    markdown = _FRONT_MATTER.sub("", markdown, count=1)
    parser = MarkdownIt("commonmark").enable("table")
    env: dict = {}  # link reference definitions carry over from piece to piece
    builder = TextBuilder()
    if len(markdown) <= MARKDOWN_WHOLE:
        _markdown_blocks(parser, markdown, env, builder, skip_first_row=False)
    else:
        _references(markdown, env)
        for piece, repeated_header in _markdown_pieces(markdown):
            _markdown_blocks(parser, piece, env, builder, skip_first_row=repeated_header)
    return builder.result()


_REFERENCE = re.compile(r"^ {0,3}\[([^\]\n]{1,999})\]:[ \t]*<?([^\s>]+)>?", re.M)


def _references(markdown: str, env: dict) -> None:
    """Link reference definitions of the whole document, for a document parsed in pieces
    (a link's text is kept either way; this keeps "[text][ref]" from showing its brackets)."""
    from markdown_it.common.utils import normalizeReference

    references = env.setdefault("references", {})
    for match in _REFERENCE.finditer(markdown):
        label = normalizeReference(match.group(1))
        if label and label not in references:
            references[label] = {"title": "", "href": match.group(2)}


def _markdown_blocks(parser, markdown: str, env: dict, builder: TextBuilder,
                     skip_first_row: bool) -> None:
    row: list[str] | None = None
    heading = 0  # the level of the heading being read
    items = 0  # depth of list items around
    for token in parser.parse(markdown, env):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            if skip_first_row:  # a table's header, repeated to continue it in this piece
                skip_first_row = False
            elif row is not None and any(cell.strip() for cell in row):
                builder.add(" | ".join(cell for cell in row if cell.strip()), BlockKind.table.value)
            row = None
        elif token.type == "heading_open":
            heading = int(token.tag[1:])
        elif token.type == "heading_close":
            heading = 0
        elif token.type in ("list_item_open", "list_item_close"):
            items += 1 if token.type == "list_item_open" else -1
        elif token.type in ("fence", "code_block"):
            builder.add(token.content, BlockKind.code.value)
        elif token.type == "inline":
            text = _inline_text(token.children or [])
            if row is not None:
                row.append(text)
            elif heading:
                builder.add(text, BlockKind.heading.value, heading)
            else:
                builder.add(text, BlockKind.list_item.value if items else BlockKind.paragraph.value)
        # html_block and hr carry no prose: skipped


def _closes(closer: str, line: str) -> bool:
    if closer.startswith("<") or closer == "-->":  # raw HTML: its end tag, or "-->"
        return closer in line.lower()
    fence = line.strip()  # a fence closes with at least as many of the same character
    return fence.startswith(closer) and not fence.strip(closer[0])


def _markdown_pieces(markdown: str):
    """(piece, starts with a repeated table header) for a large document: cut at blank lines
    outside code fences and raw HTML, or inside a long table (its header and delimiter row
    repeated so the next piece is a table too), or before a list item or heading."""
    import io

    piece: list = []
    size = 0
    repeated = False
    closer = None  # what ends the fence or raw HTML block we are in
    table = None  # (header line, delimiter line) of the table we are in
    previous = ""
    for line in io.StringIO(markdown):
        if closer is not None:
            if _closes(closer, line):
                closer = None
        elif not line.strip():
            table = None
            if size >= MARKDOWN_PIECE:
                piece.append(line)
                yield "".join(piece), repeated
                piece, size, repeated, previous = [], 0, False, ""
                continue
        else:
            fence = _FENCE_OPEN.match(line)
            raw = _RAW_OPEN.match(line)
            if fence:
                closer = fence.group(1)
            elif raw and f"</{raw.group(1).lower()}" not in line.lower():
                closer = f"</{raw.group(1).lower()}"
            elif line.lstrip().startswith("<!--") and "-->" not in line:
                closer = "-->"
            elif table is None and "|" in previous and _TABLE_DELIMITER.match(line) and "-" in line:
                table = (previous, line)
            elif size >= MARKDOWN_PIECE and (table is not None or _BLOCK_START.match(line)):
                yield "".join(piece), repeated
                piece, size, repeated = [], 0, False
                if table is not None:
                    piece, size, repeated = list(table), len(table[0]) + len(table[1]), True
        piece.append(line)
        size += len(line)
        previous = line
    if piece:
        yield "".join(piece), repeated


def _inline_text(children) -> str:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        # images, raw inline HTML and the open/close markers of links and emphasis: dropped
    return re.sub(r"[ \t]+", " ", "".join(parts))
