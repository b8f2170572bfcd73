"""Read documents from paths, URLs or stdin into `Document` objects.

Everything downstream works on `Document.text`, and every offset bertcli reports is a
character offset into that text. HTML, Markdown, PDF, .docx and .rst inputs are converted first
(bertcli.formats); their offsets refer to the converted text.
"""

from __future__ import annotations

import bisect
import codecs
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO

from ..errors import InputError, UsageError
from ..progress import ProgressCallback
from .blocks import Block, BlockIndex, Converted, Removed, derive_blocks

STDIN = "-"
# Documents larger than this are refused before anything is decoded (override with
# --max-bytes or BERTCLI_MAX_BYTES); 50 MB of text is already hundreds of hours of reading.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    """A decoded document. `source` is the path or URL as given, or "-" for stdin;
    `format` is what it was read as: text, html, markdown, pdf, docx or rst. `pages` (PDF only) holds the
    offset in `text` where each page begins. `blocks` are the converter's (bertcli.read.blocks);
    `removed`, the lines it left out and why."""

    source: str
    text: str
    format: str = "text"
    pages: tuple[int, ...] = ()
    blocks: tuple[Block, ...] = ()
    removed: tuple[Removed, ...] = ()

    @cached_property
    def structure(self) -> BlockIndex:
        """The document's blocks: the converter's, or for plain text those that blank lines
        separate (bertcli.read.blocks.derive_blocks)."""
        return BlockIndex(self.blocks or derive_blocks(self.text))

    def section_at(self, offset: int) -> str | None:
        """The title of the innermost section that holds `offset`, if the document has any."""
        return self.structure.section(offset)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page that holds `offset`, for a PDF; None for other formats."""
        return page_at(self.pages, offset)


def page_at(pages: Sequence[int], offset: int) -> int | None:
    """The 1-based page of `offset`, given each page's start offset (None without pages)."""
    if not pages:
        return None
    return max(1, bisect.bisect_right(pages, offset))


def max_bytes_default() -> int:
    from .. import settings

    return settings.max_bytes(DEFAULT_MAX_BYTES)


def _looks_binary(data: bytes) -> bool:
    # NUL bytes do not occur in text in any of the encodings users pass here (UTF-16 and
    # UTF-32 are recognised by their BOM first, or named with --encoding).
    return b"\x00" in data[:8192]


def _wide_text(data: bytes) -> bool:
    """Whether NULs fall on every other byte, as in UTF-16 text without a byte order mark
    (a program or an image has them anywhere)."""
    head = data[:4096]
    half = max(1, len(head) // 2)
    even, odd = sorted((head[0::2].count(0), head[1::2].count(0)))
    return odd >= 0.6 * half and even <= 0.1 * half


# Byte order marks that name their encoding; UTF-32 first (its LE mark starts like UTF-16's).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def bom_encoding(data: bytes) -> str | None:
    """The encoding a byte order mark at the start of `data` names, if any."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def known_encoding(encoding: str | None) -> str | None:
    """`encoding` if Python knows it, else None (for charsets that servers declare)."""
    if not encoding:
        return None
    try:
        codecs.lookup(encoding)
    except LookupError:
        return None
    return encoding


def check_max_bytes(max_bytes: int | None) -> None:
    if max_bytes is not None and max_bytes < 1:
        raise UsageError(f"--max-bytes must be at least 1, got {max_bytes}")


def _read_bytes(stream: BinaryIO, source: str, max_bytes: int) -> bytes:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(
            f"{source}: larger than the {max_bytes:,}-byte limit (raise it with --max-bytes)"
        )
    return data


# Guesses worth naming: charset-normalizer tells these apart well; among the Latin code pages
# its pick is a coin toss (French latin-1 came out as cp1250 or cp1006), so latin-1 is named.
_NAMED_GUESSES = frozenset(
    "gb18030 gb2312 gbk big5 big5hkscs cp932 shift_jis euc_jp iso2022_jp euc_kr cp949 "
    "johab cp1251 koi8_r koi8_u cp866 mac_cyrillic iso8859_5 cp1253 iso8859_7 cp1255 "
    "iso8859_8 cp1256 iso8859_6 cp874 tis_620".split())


def _likely_encoding(data: bytes) -> str:
    """The --encoding to suggest for bytes that are not UTF-8: charset-normalizer's guess for
    CJK, Cyrillic, Greek, Hebrew, Arabic and Thai encodings, else latin-1 (which decodes any
    bytes). A suggestion for the error message only, never applied."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
    except Exception:  # a suggestion must not turn the error into a crash
        return "latin-1"
    return best.encoding if best is not None and best.encoding in _NAMED_GUESSES else "latin-1"


def decode(data: bytes, source: str, encoding: str | None = None) -> Document:
    """Decode raw bytes into a Document, with the checks every input gets."""
    if encoding is None:
        encoding = bom_encoding(data)
        if encoding is None and _looks_binary(data):
            hint = " (UTF-16 without a BOM? pass --encoding utf-16)" if _wide_text(data) else ""
            raise InputError(f"{source}: looks like a binary file, not text{hint}")
    enc = encoding or "utf-8"
    try:
        text = data.decode(enc)
    except LookupError:
        raise InputError(f"{source}: unknown encoding {enc!r}") from None
    except UnicodeDecodeError as err:
        raise InputError(
            f"{source}: not valid {enc} (byte {err.start}); "
            f"pass --encoding, e.g. --encoding {_likely_encoding(data)}"
        ) from None
    if text.startswith("\ufeff"):  # a UTF-8 BOM is not part of the text
        text = text[1:]
    # Offsets refer to the text as Python reads it from a file in text mode.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError(f"{source}: empty document")
    return Document(source=source, text=text)


def read_document(
    source: str,
    encoding: str | None = None,
    max_bytes: int | None = None,
    input_format: str | None = None,
    progress: ProgressCallback | None = None,
) -> Document:
    """Read one document from a path, an http(s) URL, or stdin when `source` is "-".

    `input_format` (text, html, markdown, pdf, docx, rst) overrides detection from the extension,
    the Content-Type and the first bytes.
    """
    from .fetch import fetch, is_url
    from .formats import FORMATS, charset, detect

    if input_format is not None and input_format not in FORMATS:
        raise UsageError(f"--input-format {input_format}: choose one of {', '.join(FORMATS)}")
    check_max_bytes(max_bytes)
    limit = max_bytes if max_bytes is not None else max_bytes_default()
    content_type = None
    if is_url(source):
        fetched = fetch(source, limit, any_type=input_format is not None)
        data, content_type = fetched.data, fetched.content_type
        name = fetched.url
    else:
        data, name = _read_source(source, limit), source
    fmt = input_format or detect(name, data, content_type)
    # A charset the server declares but Python does not know is ignored (detected instead);
    # an unknown --encoding is an error.
    return convert(data, source, fmt, encoding or known_encoding(charset(content_type)), progress)


def convert(data: bytes, source: str, fmt: str, encoding: str | None = None,
            progress: ProgressCallback | None = None) -> Document:
    """Raw bytes in format `fmt` -> Document, with the checks every input gets. `progress`
    hears of each PDF page read (bertcli.progress)."""
    from . import formats

    if fmt == "pdf":
        from .pdf import pdf_document

        return _checked(source, pdf_document(data, source, progress), fmt)
    if fmt == "html":
        return _checked(source, formats.html_document(data, source, encoding), fmt)
    if fmt == "docx":  # a zip archive: never decoded as text
        return _checked(source, formats.docx_document(data, source), fmt)
    doc = decode(data, source, encoding)
    if fmt == "markdown":
        return _checked(source, formats.markdown_document(doc.text), fmt)
    if fmt == "rst":
        return _checked(source, formats.rst_document(doc.text, source), fmt)
    return doc


def _checked(source: str, converted: Converted, fmt: str) -> Document:
    if not converted.text.strip():
        raise InputError(f"{source}: no text in this {fmt} document")
    return Document(source=source, text=converted.text, format=fmt, pages=converted.pages,
                    blocks=converted.blocks, removed=converted.removed)


def _read_source(source: str, limit: int) -> bytes:
    if source == STDIN:
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("-: no input on stdin (pipe a document in, or give a file path)")
        return _read_bytes(sys.stdin.buffer, "<stdin>", limit)
    if os.path.isdir(source):
        raise InputError(f"{source}: is a directory")
    try:
        with open(source, "rb") as handle:
            return _read_bytes(handle, source, limit)
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except PermissionError:
        raise InputError(f"{source}: permission denied") from None
    except OSError as err:
        raise InputError(f"{source}: cannot read ({err.strerror or err})") from None


def as_document(text_or_doc: str | Document, source: str = "<text>") -> Document:
    """Accept either a Document or a plain string (for the Python API)."""
    if isinstance(text_or_doc, Document):
        return text_or_doc
    if not isinstance(text_or_doc, str) or not text_or_doc.strip():
        raise InputError(f"{source}: empty document")
    return Document(source=source, text=text_or_doc)
