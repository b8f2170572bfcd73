"""`bertcli text` output beyond the text itself: its blocks and what reading left out."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from .render import _page


def document_to_dict(doc) -> dict[str, Any]:
    """The text bertcli reads, its blocks (kind, offsets, section) and what reading left out."""
    return {
        "source": doc.source, "format": doc.format, "text": doc.text,
        "blocks": [{"kind": b.kind, "start": b.start, "end": b.end, "section": list(b.section),
                    **({"level": b.level} if b.level else {}), **_page(b.page)}
                   for b in doc.structure.blocks],
        "removed": [{"reason": r.reason, "text": r.text, "at": r.at, **_page(r.page)}
                    for r in doc.removed],
    }


def text_with_removed(doc) -> str:
    """The document's text with each line reading left out shown where it was, marked
    `[removed: REASON]` on a line of its own."""
    out, last = [], 0
    for at, group in groupby(doc.removed, key=lambda r: min(max(r.at, last), len(doc.text))):
        at = max(at, last)
        out.append(doc.text[last:at])
        if at == len(doc.text) and at:
            out.append("\n\n")
        out.append("".join(f"[removed: {r.reason}] {r.text}\n" for r in group))
        if at < len(doc.text):
            out.append("\n")
        last = at
    out.append(doc.text[last:])
    return "".join(out)
