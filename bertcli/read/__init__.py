"""Documents from files, URLs, stdin: format detection, decoding, HTML, Markdown, PDF, fetch.

Everything downstream reads a `Document`: its text, where it came from, and (for a PDF) the page
each character is on.
"""

from __future__ import annotations

from .document import Document, as_document, read_document

__all__ = ["Document", "as_document", "read_document"]
