"""Turn HTML, Markdown and PDF into plain text that bertcli reads.

Offsets bertcli reports for such inputs refer to the text produced here (`bertcli text FILE`
prints it). Blocks (paragraphs, headings, list items, pages) are separated by a blank line,
which the sentence splitter treats as a hard boundary. The converters are imported only when
an input needs them.
"""

from __future__ import annotations

import io
import logging
import os
import re
from typing import Optional

from .errors import InputError

FORMATS = ("text", "html", "markdown", "pdf")

EXTENSIONS = {
    ".txt": "text", ".text": "text",
    ".html": "html", ".htm": "html", ".xhtml": "html", ".shtml": "html",
    ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown",
    ".pdf": "pdf",
}
CONTENT_TYPES = {
    "text/html": "html", "application/xhtml+xml": "html",
    "text/markdown": "markdown", "text/x-markdown": "markdown",
    "application/pdf": "pdf",
    "text/plain": "text",
}
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<!--)", re.I)
_HTML_TAGS = re.compile(rb"<(html|head|body|p|div|article)[\s>]", re.I)


def media_type(content_type: Optional[str]) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def charset(content_type: Optional[str]) -> Optional[str]:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    return match.group(1) if match else None


def detect(name: str, data: bytes, content_type: Optional[str] = None) -> str:
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
    if _HTML_START.match(head) or (b"\x00" not in head and _HTML_TAGS.search(head)
                                   and head.lstrip().startswith(b"<")):
        return "html"
    return "text"


def html_to_text(data: bytes, source: str, encoding: Optional[str] = None) -> str:
    """The main text of a web page (trafilatura): no navigation, banners, scripts or footers."""
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    logging.getLogger("htmldate").setLevel(logging.CRITICAL)
    page: "bytes | str" = data
    if encoding:
        try:
            page = data.decode(encoding, errors="replace")
        except LookupError:
            raise InputError(f"{source}: unknown encoding {encoding!r}") from None
    text = trafilatura.extract(page, output_format="txt", include_comments=False,
                               include_tables=True, include_images=False, deduplicate=False,
                               favor_precision=True)
    if not text or not text.strip():
        raise InputError(f"{source}: no extractable text in this HTML page")
    blocks = [line.strip() for line in text.splitlines() if line.strip()]
    return "\n\n".join(blocks)


_FRONT_MATTER = re.compile(r"\A---\n.*?\n(---|\.\.\.)\n", re.S)


def markdown_to_text(markdown: str) -> str:
    """Prose of a Markdown document: no markup, code blocks or raw HTML; one block per
    heading, paragraph, list item or table row."""
    from markdown_it import MarkdownIt

    markdown = _FRONT_MATTER.sub("", markdown, count=1)
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    blocks, row = [], None
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            if row is not None and any(cell.strip() for cell in row):
                blocks.append(" | ".join(cell for cell in row if cell.strip()))
            row = None
        elif token.type == "inline":
            text = _inline_text(token.children or [])
            if row is not None:
                row.append(text)
            elif text.strip():
                blocks.append(text.strip())
        # fence, code_block, html_block and hr carry no prose: skipped
    return "\n\n".join(blocks)


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


def pdf_to_text(data: bytes, source: str) -> str:
    """Text per page (pypdf), pages separated by a blank line."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:
                raise InputError(f"{source}: this PDF is encrypted") from None
        pages = [(page.extract_text() or "") for page in reader.pages]
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        raise InputError(f"{source}: not a readable PDF ({str(err)[:120] or type(err).__name__})") from None
    except Exception as err:  # pypdf raises many kinds on damaged files
        raise InputError(f"{source}: not a readable PDF ({type(err).__name__})") from None
    pages = [p.replace("\x00", "").strip() for p in pages]
    if not any(pages):
        raise InputError(
            f"{source}: this PDF has no text layer ({len(pages)} page(s), probably scanned); "
            "run OCR first (e.g. ocrmypdf) and try again"
        )
    return "\n\n".join(p for p in pages if p)
