"""The main text of a web page, in blocks (trafilatura's XML: headings, paragraphs, list items,
table rows, code), without navigation, banners, scripts or footers."""

from __future__ import annotations

import logging
import re

from ..errors import InputError
from .blocks import BlockKind, Converted, TextBuilder

_EDIT_LINK = re.compile(r"\s*\[\s*edit(\s*\|\s*edit source)?\s*\]\s*$", re.I)


def html_document(data: bytes, source: str, encoding: str | None = None) -> Converted:
    """The main text of a web page (trafilatura): no navigation, banners, scripts or footers."""
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    logging.getLogger("htmldate").setLevel(logging.CRITICAL)
    page: bytes | str = data
    if encoding:
        try:
            page = data.decode(encoding, errors="replace")
        except LookupError:
            raise InputError(f"{source}: unknown encoding {encoding!r}") from None
    if _too_deep(page):
        # libxml2 stops at 256 levels of nesting and drops what lies deeper, so a page of
        # hundreds of nested wrappers would lose its text: read it without the wrappers.
        page = _unwrapped(page, encoding)
    blocks = xml_blocks(_extract(page))
    if not any(text.strip() for _, _, text in blocks):
        raise InputError(f"{source}: no extractable text in this HTML page")
    builder = TextBuilder()
    for kind, level, text in blocks:
        # a line break (<br>) parts blocks, as it always has; a code block stays whole
        if kind == BlockKind.heading.value:
            text = _EDIT_LINK.sub("", text)  # MediaWiki's "Details[edit]"
        for line in [text] if kind == BlockKind.code.value else text.splitlines():
            builder.add(line, kind, level)
    return builder.result()


def _extract(page: bytes | str) -> str | None:
    import trafilatura

    # XML keeps the words of the txt output (the same on all 181 pages of
    # benchmarks/html_fidelity.py) and says which are headings, list items and table rows.
    return trafilatura.extract(page, output_format="xml", include_comments=False,
                               include_tables=True, include_images=False, deduplicate=False,
                               favor_precision=True)


# trafilatura's XML elements -> block kinds; a <p> inside an item or a quote is the item's.
_KINDS = {"head": BlockKind.heading.value, "p": BlockKind.paragraph.value,
          "item": BlockKind.list_item.value, "code": BlockKind.code.value,
          "quote": BlockKind.paragraph.value, "list": BlockKind.list_item.value}
_CONTAINERS = {"head", "p", "item", "code", "quote", "list", "table", "main", "div"}
_LEAVES = {"head", "p", "code"}  # everything inside these is inline


def xml_blocks(xml: str | None) -> list[tuple[str, int, str]]:
    """(kind, heading level, text) of each block of trafilatura's XML, in order."""
    if not xml:
        return []
    from lxml import etree

    root = etree.fromstring(xml.encode("utf-8"))
    main = root.find("main") if root.tag == "doc" else root
    out: list[tuple[str, int, str]] = []
    if main is not None:
        _walk(main, BlockKind.paragraph.value, 0, out)
    return out


def _inline(element) -> str:
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "lb" else _inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _level(element) -> int:
    rend = element.get("rend", "")
    return int(rend[1]) if len(rend) == 2 and rend[0] == "h" and rend[1].isdigit() else 1


def _walk(element, kind: str, level: int, out: list) -> None:
    if element.tag in _LEAVES:
        out.append((kind, level, _inline(element).strip()))
        return
    pending = [element.text or ""]

    def flush() -> None:
        text = "".join(pending).strip()
        if text:
            out.append((kind, level, text))
        pending.clear()

    for child in element:
        if child.tag == "row":
            flush()
            cells = [_inline(cell).strip() for cell in child]
            out.append((BlockKind.table.value, 0, " | ".join(c for c in cells if c)))
        elif child.tag in _CONTAINERS:
            flush()
            inherit = child.tag == "p" and kind == BlockKind.list_item.value
            child_kind = kind if inherit else _KINDS.get(child.tag, kind)
            _walk(child, child_kind, _level(child) if child.tag == "head" else 0, out)
        elif child.tag == "lb":
            pending.append("\n")
        elif child.tag != "graphic":
            pending.append(_inline(child))
        pending.append(child.tail or "")
    flush()


# Deeper than this, libxml2's HTML parser (without its "huge" option) drops elements.
MAX_HTML_DEPTH = 250
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^>]*?(/?)>")
# Kept when a page is too deeply nested: what trafilatura needs to find blocks and drop junk.
_KEEP_TAGS = {"html", "head", "body", "title", "meta", "p", "h1", "h2", "h3", "h4", "h5", "h6",
              "br", "script", "style", "noscript", "nav", "header", "footer", "aside", "template"}
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
              "source", "track", "wbr", "p", "li", "dt", "dd", "option"}  # may lack a close tag


def _as_text(page: bytes | str, encoding: str | None = None) -> str:
    if isinstance(page, str):
        return page
    return page.decode(encoding or "utf-8", errors="replace")


def _too_deep(page: bytes | str) -> bool:
    """Whether some element is nested deeper than libxml2 keeps (a linear scan of the tags)."""
    depth = 0
    for match in _TAG.finditer(_as_text(page)):
        closing, name, selfclosing = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID_TAGS or selfclosing:
            continue
        depth += -1 if closing else 1
        if depth > MAX_HTML_DEPTH:
            return True
    return False


def _unwrapped(page: bytes | str, encoding: str | None) -> str:
    """The page less its wrapper tags (div, span, tables, lists, ...): text and blocks stay."""
    def keep(match: re.Match[str]) -> str:
        return match.group(0) if match.group(2).lower() in _KEEP_TAGS else " "

    return _TAG.sub(keep, _as_text(page, encoding))
