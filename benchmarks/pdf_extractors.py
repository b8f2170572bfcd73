"""PDF text extractors side by side: speed per page, what each leaves for cleaning, and checks.

    python benchmarks/pdf_extractors.py [--only NAME,...] [--per-pdf] [PDF ...]
    # default PDFs: tests/data/viggo-inlg2019.pdf and every PDF in benchmarks/.cache/pdfs/

Extractors (each skipped with a note when its package is not installed; none is a dependency
of bertcli but pypdfium2, and pypdf comes with the test extra):
  pypdfium2     PDFium's text in content order (what bertcli reads today)
  bertcli       pypdfium2 + bertcli.read.pdf's cleaning
  pypdf         PdfReader.extract_text
  pdfminer.six  layout analysis (LAParams(): text boxes in its reading order)
  pdfplumber    page.extract_text() (pdfminer's characters, lines by position)
  pymupdf       page.get_text() (AGPL-3.0: see benchmarks/README.md, "PDF extractors")
  docling       DocumentConverter (layout + table models from the Hugging Face hub)
  marker        marker-pdf's PdfConverter (surya models from the Hugging Face hub)

Seconds are the best of 3 runs, or of 1 when a run takes over SLOW seconds. "hyphens left"
counts line-end hyphens left in the text (`x-\\n y`); "marked" counts PDFium's mark for a
hyphen it joined (U+FFFE, U+0002), which bertcli.read.pdf turns back into words.

Checks (run on a PDF only where its phrase is in it): the phrases are compared on letters and
digits only, so spacing, line breaks and hyphens do not count, only the order of the words.
  order    a sentence that goes on in the next column, or the last line of a left column and
           the first of the right one, read in order (an extractor that reads across both
           columns line by line fails it)
  sub      BERT's "BERT_BASE (L=12, H=768, ...)" with its subscripts and "to be 4H" kept in line
Table 1 of the BERT paper (GLUE results, rules above and below only) is looked for with
pdfplumber's extract_tables (default "lines" strategy, and "text") and PyMuPDF's find_tables.
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLOW = 5.0  # seconds: one run above this is not repeated


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


def pdfplumber_pages(data: bytes) -> list[str]:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


def pymupdf_pages(data: bytes) -> list[str]:
    import pymupdf

    with pymupdf.open(stream=data, filetype="pdf") as doc:
        return [page.get_text() for page in doc]


def bertcli_pages(data: bytes) -> list[str]:
    from bertcli.read.pdf import pdf_text

    text, starts = pdf_text(data, "bench")
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def docling_pages(data: bytes) -> list[str]:
    from docling.datamodel.base_models import DocumentStream
    from docling.document_converter import DocumentConverter

    result = DocumentConverter().convert(DocumentStream(name="bench.pdf", stream=io.BytesIO(data)))
    return [result.document.export_to_markdown()]


def marker_pages(data: bytes) -> list[str]:
    import tempfile

    from marker.converters.pdf import PdfConverter
    from marker.models import create_model_dict
    from marker.output import text_from_rendered

    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        tmp.write(data)
        tmp.flush()
        text, _, _ = text_from_rendered(PdfConverter(artifact_dict=create_model_dict())(tmp.name))
    return [text]


# name -> (pages function, licence, per-character font size and position)
EXTRACTORS = {
    "pypdfium2": (pypdfium2_pages, "Apache-2.0 / BSD-3 (PDFium)",
                  "yes: FPDFText_GetFontSize, get_charbox"),
    "bertcli": (bertcli_pages, "(this project)", "(pypdfium2's)"),
    "pypdf": (pypdf_pages, "BSD-3", "no boxes: text runs with matrix and font via a visitor"),
    "pdfminer.six": (pdfminer_pages, "MIT", "yes: LTChar size, bbox, fontname"),
    "pdfplumber": (pdfplumber_pages, "MIT", "yes: page.chars size, x0/top, fontname"),
    "pymupdf": (pymupdf_pages, "AGPL-3.0 or commercial", "yes: get_text('rawdict') span size, char bbox"),
    "docling": (docling_pages, "MIT (models: hub, own licences)", "no: labelled items with boxes"),
    "marker": (marker_pages, "Apache-2.0 (weights: modified OpenRAIL-M)", "no: labelled blocks"),
}

# (check, the PDF it belongs to, phrases in order; the last must begin within NEAR characters
# of the end of the one before: letters and digits only)
NEAR = 300
CHECKS = [
    ("order: p1 left column end -> right column top", "1810.04805",
     ["Tjong Kim Sang and De Meulder, 2003; Rajpurkar et al., 2016).",
      "There are two existing strategies for applying pre-trained language representations"]),
    ("order: p4 'Transformer decoder' -> 'In order to train'", "1810.04805",
     ["is referred to as a Transformer decoder since it can be used for text generation.",
      "In order to train a deep bidirectional representation, we simply mask some percentage"]),
    ("order: sentence across columns, p1", "viggo",
     ["considerably less training data (Deriu and Cieliebak, 2018; Juraska and Walker, 2018;"]),
    ("order: sentence in one column over 4 lines, p1", "1810.04805",
     ["We introduce a new language representation model called BERT, which stands for "
      "Bidirectional Encoder Representations from Transformers. Unlike recent language"]),
    ("sub: BERT_BASE (L=12, ...) and BERT_LARGE (L=24, ...)", "1810.04805",
     ["BERTBASE (L=12, H=768, A=12, Total Parameters=110M) and BERTLARGE (L=24, H=1024, A=16, "
      "Total Parameters=340M)"]),
    ("sub: 'feed-forward/filter size to be 4H'", "1810.04805",
     ["In all cases we set the feed-forward/filter size to be 4H"]),
]


def squash(text: str) -> str:
    """Letters and digits only, lower case (NFKC first: ligatures become letters)."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text)).lower()


def check(text: str, phrases: list[str]) -> bool:
    flat = squash(text)
    at = flat.find(squash(phrases[0]))
    if at < 0:
        return False
    end = at + len(squash(phrases[0]))
    for phrase in phrases[1:]:
        nxt = flat.find(squash(phrase), end)
        if nxt < 0 or nxt - end > NEAR:
            return False
        end = nxt + len(squash(phrase))
    return True


def timed(extract, data: bytes) -> tuple[float, list[str], int]:
    best, pages, runs = float("inf"), [], 0
    for _ in range(3):
        start = time.perf_counter()
        pages = extract(data)
        best, runs = min(best, time.perf_counter() - start), runs + 1
        if best > SLOW:
            break
    return best, pages, runs


def page_count(data: bytes) -> int:
    import pypdfium2 as pdfium

    return len(pdfium.PdfDocument(data))


def bert_table_1(path: Path) -> None:
    """Does extract_tables / find_tables find Table 1 (GLUE) of the BERT paper?"""
    want = ["bertlarge", "867859", "721", "927", "949", "605", "865", "893", "701", "821"]
    print("\n| BERT Table 1 (GLUE, 10 columns) | tables on the page | largest table rows x cols | "
          "BERT_LARGE row in 10 cells |\n| --- | --- | --- | --- |")
    try:
        import pdfplumber

        with pdfplumber.open(path) as pdf:
            page = next(p for p in pdf.pages if "table1glue" in squash(p.extract_text() or ""))
            for label, settings in [("pdfplumber extract_tables() (lines)", {}),
                                    ("pdfplumber extract_tables(text strategy)",
                                     {"vertical_strategy": "text", "horizontal_strategy": "text"})]:
                tables = page.extract_tables(settings)
                print(f"| {label} | {len(tables)} | " + _shape_and_row(tables, want))
    except ImportError:
        print("| pdfplumber | not installed | | |")
    try:
        import pymupdf

        with pymupdf.open(path) as doc:
            page = next(p for p in doc if "table1glue" in squash(p.get_text()))
            tables = [t.extract() for t in page.find_tables().tables]
            print(f"| pymupdf find_tables() | {len(tables)} | " + _shape_and_row(tables, want))
    except ImportError:
        print("| pymupdf | not installed | | |")


def _shape_and_row(tables: list[list[list]], want: list[str]) -> str:
    if not tables:
        return "- | no |"
    big = max(tables, key=lambda t: len(t) * max(len(r) for r in t))
    rows = [[squash(c or "") for c in row] for table in tables for row in table]
    found = any([c for c in row if c] == want for row in rows)
    return f"{len(big)} x {max(len(r) for r in big)} | {'yes' if found else 'no'} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pdfs", nargs="*")
    parser.add_argument("--only", help="comma-separated extractor names")
    parser.add_argument("--per-pdf", action="store_true", help="a row per PDF and extractor")
    args = parser.parse_args()
    paths = [Path(p) for p in args.pdfs] or [ROOT / "tests" / "data" / "viggo-inlg2019.pdf",
                                             *sorted((ROOT / "benchmarks" / ".cache" / "pdfs").glob("*.pdf"))]
    names = args.only.split(",") if args.only else list(EXTRACTORS)
    logging.disable(logging.WARNING)
    counts = {p: page_count(p.read_bytes()) for p in paths}
    matrix: dict[str, dict[str, str]] = {p.name: {} for p in paths}
    if args.per_pdf:
        print("| PDF | extractor | pages | s | runs | ms / page | chars | ligatures left | "
              "hyphens left | marked |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    totals = {name: {"pages": 0, "s": 0.0, "chars": 0, "lig": 0, "hyph": 0, "marked": 0,
                     "checks": {}, "note": ""} for name in names}
    missing: set[str] = set()
    # PDFs outside, extractors inside: on a shared machine each PDF's row sees about the same load
    for path in paths:
        data, n = path.read_bytes(), counts[path]
        for name in names:
            if name in missing:
                continue
            total = totals[name]
            try:
                best, pages, runs = timed(EXTRACTORS[name][0], data)
            except ImportError as err:
                total["note"] = f"not installed ({err.name})"
                missing.add(name)
                continue
            except Exception as err:  # noqa: BLE001 - docling/marker offline, a damaged PDF
                total["note"] = f"failed: {type(err).__name__}: {(str(err) or '-').splitlines()[0][:160]}"
                matrix[path.name][name] = "failed"
                print(f"# {name} on {path.name}: {total['note']}", file=sys.stderr, flush=True)
                continue
            text = "\n".join(pages)
            lig = len(re.findall("[\ufb00-\ufb06]", text))
            hyph = len(re.findall(r"[a-z]-\n[a-z]", text))
            marked = len(re.findall("[\ufffe\x02]", text))
            for key, value in [("pages", n), ("s", best), ("chars", len(text)), ("lig", lig),
                               ("hyph", hyph), ("marked", marked)]:
                total[key] += value
            matrix[path.name][name] = f"{1000 * best / n:.0f}"
            for label, pdf, phrases in CHECKS:
                if pdf in path.name:
                    total["checks"][label] = check(text, phrases)
            if args.per_pdf:
                print(f"| {path.name} | {name} | {n} | {best:.2f} | {runs} | {1000 * best / n:.0f} | "
                      f"{len(text):,} | {lig} | {hyph} | {marked} |", flush=True)

    done = [n for n in names if totals[n]["pages"]]
    print(f"\n{len(paths)} PDFs, {sum(counts.values())} pages.\n")
    print("| extractor | pages | s, all PDFs | ms / page | chars | ligatures left | hyphens left "
          "| marked | column order | subscripts kept | per-char size and position | licence |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        t, (_, licence, chars_info) = totals[name], EXTRACTORS[name]
        if not t["pages"]:
            print(f"| {name} | {t['note']} | | | | | | | | | {chars_info} | {licence} |")
            continue
        order = [v for k, v in t["checks"].items() if k.startswith("order")]
        sub = [v for k, v in t["checks"].items() if k.startswith("sub")]
        print(f"| {name} | {t['pages']} | {t['s']:.2f} | {1000 * t['s'] / t['pages']:.1f} | "
              f"{t['chars']:,} | {t['lig']} | {t['hyph']} | {t['marked']} | "
              f"{sum(order)}/{len(order)} | {sum(sub)}/{len(sub)} | {chars_info} | {licence} |")
    if done:
        print("\n| check | " + " | ".join(done) + " |\n| --- |" + " --- |" * len(done))
        for label, _, _ in CHECKS:
            if any(label in totals[n]["checks"] for n in done):
                print(f"| {label} | " + " | ".join(
                    {True: "yes", False: "no", None: ""}[totals[n]["checks"].get(label)]
                    for n in done) + " |")
        print("\n| PDF | pages | " + " | ".join(f"{n} ms/page" for n in done) + " |\n| --- | --- |"
              + " --- |" * len(done))
        for path in paths:
            print(f"| {path.name} | {counts[path]} | "
                  + " | ".join(matrix[path.name].get(n, "") for n in done) + " |")
    bert = [p for p in paths if "1810.04805" in p.name]
    if bert:
        bert_table_1(bert[0])


if __name__ == "__main__":
    main()
