"""PDF extractors side by side: seconds (best of 3) and what each leaves for cleaning.

    python benchmarks/pdf_extractors.py [PDF ...]     # default: tests/data/viggo-inlg2019.pdf

pypdf and pypdfium2 come with bertcli's test install; pdfminer.six is measured when installed
(`pip install pdfminer.six`). "hyphens" counts line-end hyphens left in the text (`x-\\n y`);
PDFium marks them instead (joined, marked U+FFFE), which bertcli.read.pdf turns back into words.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import time
from pathlib import Path


def pypdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def pypdfium2_pages(data: bytes) -> list[str]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]


def pdfminer_pages(data: bytes) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextBox

    return ["\n\n".join(box.get_text() for box in page if isinstance(box, LTTextBox))
            for page in extract_pages(io.BytesIO(data), laparams=LAParams())]


def bertcli_pages(data: bytes) -> list[str]:
    from bertcli.read.pdf import pdf_text

    text, starts = pdf_text(data, "bench")
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


EXTRACTORS = {"pypdf": pypdf_pages, "pypdfium2": pypdfium2_pages, "pdfminer.six": pdfminer_pages,
              "bertcli (pypdfium2 + cleaning)": bertcli_pages}


def main(paths: list[str]) -> None:
    logging.disable(logging.WARNING)
    print("| PDF | extractor | pages | s (best of 3) | chars | ligatures left | line-end hyphens left |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        data = Path(path).read_bytes()
        for name, extract in EXTRACTORS.items():
            try:
                best, pages = float("inf"), []
                for _ in range(3):
                    start = time.perf_counter()
                    pages = extract(data)
                    best = min(best, time.perf_counter() - start)
            except ImportError:
                print(f"| {Path(path).name} | {name} | not installed | | | | |")
                continue
            text = "\n".join(pages)
            ligatures = len(re.findall("[\ufb00-\ufb06]", text))
            hyphens = len(re.findall(r"[a-z]-\n[a-z]", text))
            print(f"| {Path(path).name} | {name} | {len(pages)} | {best:.2f} | {len(text):,} | "
                  f"{ligatures} | {hyphens} |")


if __name__ == "__main__":
    main(sys.argv[1:] or [str(Path(__file__).parent.parent / "tests" / "data" / "viggo-inlg2019.pdf")])
