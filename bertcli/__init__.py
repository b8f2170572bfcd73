"""bertcli: run pretrained BERT-family models on documents.

The public API is importable without loading torch; models load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "summarize", "Summarizer", "ask", "Asker", "Document", "read_document"]

if TYPE_CHECKING:  # pragma: no cover
    from .ask.asker import Asker, ask
    from .read.document import Document, read_document
    from .summarize.summarizer import Summarizer, summarize

_LAZY = {
    "summarize": "summarize.summarizer",
    "Summarizer": "summarize.summarizer",
    "ask": "ask.asker",
    "Asker": "ask.asker",
    "Document": "read.document",
    "read_document": "read.document",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'bertcli' has no attribute {name!r}")
