"""PDF fidelity: is anything of the document lost, or left in, by bertcli's PDF reader?

    python benchmarks/fetch_pdfs.py            # once: the PDFs into benchmarks/.cache/pdfs/
    python benchmarks/pdf_fidelity.py [--ask] [--out benchmarks/results/pdf_fidelity.json]

The corpus is `benchmarks/pdf_fidelity.json` (sources and licences: pdf_fidelity_sources.md).
bertcli's text (`read_document(path).text`) is compared with PDFium's raw text layer
(pypdfium2, per page, split into lines on CR/LF; PDFium's U+FFFE, a line-end hyphen it joined,
also ends a line). "norm" below means NFKC, lower case, letters and digits only (no spaces or
hyphens). Per PDF:

* prose recall: prose lines are the raw lines before the first references heading with >= 5
  tokens, >= 60% of them holding a lower-case letter, not starting a caption. A line is kept
  when its norm is a substring of the norm of bertcli's text. "+named" also counts a missed
  line that bertcli reports in `doc.removed` (when the reader has that attribute) with a reason
  in ALLOWED. The first 20 missing lines per PDF go to the JSON.
* captions: raw lines starting "Figure 1:", "Fig. 2.", "Table 3:"...; kept when the norm of the
  first 60 characters is found in bertcli's text.
* junk left: lines of bertcli's text, outside its footnote blocks (footnotes are kept as blocks
  of their own), that are a bare page number (not the "2019)." or "2018."
  of a wrapped citation), equal a running head/footer
  of the raw layer (whitespace squeezed, digits as #; a raw line in the top or bottom 10% of
  its page that repeats on >= 40% and >= 2 pages), or hold a footnote line (a raw line below
  0.85 x the page's modal font size, in the bottom 30% of the page, starting with a digit or
  symbol marker and a word, and the small lines under it; one of >= 3 words and 20 letters or
  digits is found inside a line of bertcli's text).
* summary junk (papers): of 8 sentences from `summarize` (default strategy, offline, bundled
  encoder), those that start with a heading (numbered "2.1 Title" of <= 8 words, or <= 6
  words in a font larger than the page's body) or a running head (its words, then none or a
  capitalised word), or whose norm equals or starts with the norm of a footnote line.
* ask (--ask): each manifest question through `Asker.ask` (offline, abstain=False); right when
  the SQuAD-normalised answer holds a gold answer as whole words, or F1 >= 0.5.
* seconds: `read_document` time (after one warm-up read). For the largest PDF over 200 pages,
  also a fresh subprocess reading its first 0 (import only), 25, 50 and 100% of pages (page
  subsets written with PdfDocument.new + import_pages): import and read seconds and the
  child's peak RSS (VmHWM), to show how time and memory grow with the page count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MANIFEST = ROOT / "benchmarks" / "pdf_fidelity.json"
CACHE = ROOT / "benchmarks" / ".cache" / "pdfs"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "pdf_fidelity.json"
# The named rules, and "table": table cells are dropped with their caption kept (the
# choice bertcli made, README "Inputs"), so a table row in the prose-line count may go.
ALLOWED = {"running-head", "page-number", "footnote", "front-matter", "references", "table"}

REFERENCES = re.compile(r"^\s*(\d+\.?\s*)?(references|bibliography)\s*$", re.I)
CAPTION = re.compile(r"^\s*(Figure|Fig\.|Table)\s+\d+\s*[:.]")
PAGE_NUMBER = re.compile(r"^\W*\d{1,4}\W*$")
FOOTNOTE_START = re.compile(r"^\s*(\d{1,2}|[*∗†‡§¶⋆♯#])\s*[A-Za-z]{2}")
CITED_YEAR = re.compile(r"^\W*(19|20)\d\d\W*[.,)]")  # "2019)." of a wrapped citation
NUMBERED_HEADING = re.compile(r"^\d+(\.\d+)*\.?\s+[A-Z]")


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKC", text).lower())


def head_key(text: str) -> str:
    return re.sub(r"\d", "#", " ".join(text.split()))


def raw_lines(path: Path) -> list[list[dict]]:
    """Per page, its lines: text, median font size, vertical place (0 top .. 1 bottom)."""
    return [page_lines(page) for page in pdfium.PdfDocument(str(path))]


def page_lines(page) -> list[dict]:
    height = page.get_height() or 1.0
    textpage = page.get_textpage()
    lines: list[dict] = []
    chars: list[str] = []
    sizes: list[float] = []
    tops: list[float] = []
    bottoms: list[float] = []

    def close() -> None:
        if "".join(chars).strip():
            lines.append({"text": "".join(chars).strip(),
                          "size": statistics.median(sizes) if sizes else 0.0,
                          "top": 1 - max(tops, default=height) / height,
                          "bottom": 1 - min(bottoms, default=0.0) / height})
        chars.clear(), sizes.clear(), tops.clear(), bottoms.clear()

    for i in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(textpage, i)
        if code in (0x0D, 0x0A, 0xFFFE, 0x02):  # CR, LF, joined hyphen: a line ends
            close()
            continue
        char = chr(code) if code < 0x110000 else ""
        chars.append(char)
        if char and not char.isspace():
            sizes.append(pdfium_c.FPDFText_GetFontSize(textpage, i))
            left, bottom, right, top = textpage.get_charbox(i)
            tops.append(top), bottoms.append(bottom)
    close()
    return lines


def classify(pages: list[list[dict]]) -> dict:
    """The raw lines the measures need: prose, captions, running heads, footnotes, headings."""
    out = {"prose": [], "captions": [], "heads": set(), "head_lines": [], "footnotes": [],
           "headings": []}
    on_pages: dict[str, set[int]] = {}
    for number, lines in enumerate(pages):
        for line in lines:
            if line["top"] < 0.1 or line["bottom"] > 0.9:
                on_pages.setdefault(head_key(line["text"]), set()).add(number)
    out["heads"] = {k for k, p in on_pages.items() if len(p) >= 2 and len(p) >= 0.4 * len(pages)}
    in_references = False
    for lines in pages:
        sizes = Counter(round(line["size"] * 2) / 2 for line in lines for _ in line["text"])
        body = sizes.most_common(1)[0][0] if sizes else 0.0
        in_footnote = False
        for line in lines:
            text, words = line["text"], line["text"].split()
            if head_key(text) in out["heads"]:
                out["head_lines"].append(text)
            small = line["size"] < 0.85 * body and line["bottom"] > 0.7
            in_footnote = small and (in_footnote or bool(FOOTNOTE_START.match(text)))
            if in_footnote:
                out["footnotes"].append(text)
            if (NUMBERED_HEADING.match(text) and len(words) <= 8) or (
                    len(words) <= 6 and line["size"] > 1.1 * body and re.search("[A-Za-z]", text)):
                out["headings"].append(text)
            if REFERENCES.match(text):
                in_references = True
            if CAPTION.match(text):
                out["captions"].append(text)
            elif (not in_references and len(words) >= 5
                  and sum(bool(re.search("[a-z]", w)) for w in words) >= 0.6 * len(words)):
                out["prose"].append(text)
    return out


def distinctive(line: str) -> bool:
    """Long enough to be matched inside other text (not a URL tail like "transformer-xl")."""
    return len(line.split()) >= 3 and len(norm(line)) >= 20


def outside_footnotes(doc) -> str:
    """The text less its footnote blocks: bertcli keeps footnotes as blocks of their own, so
    a footnote is junk only where it ran into other text."""
    structure = getattr(doc, "structure", None)
    if structure is None:
        return doc.text
    return "\n".join(doc.text[b.start:b.end] for b in structure.blocks if b.kind != "footnote")


def junk_left(text: str, raw: dict) -> dict[str, list[str]]:
    found = {"page-number": [], "running-head": [], "footnote": []}
    notes = {norm(f) for f in raw["footnotes"] if distinctive(f)}
    for line in text.split("\n"):
        if not line.strip():
            continue
        if PAGE_NUMBER.match(line) and not CITED_YEAR.match(line):
            found["page-number"].append(line)
        elif head_key(line) in raw["heads"]:
            found["running-head"].append(line)
        elif any(n in norm(line) for n in notes):
            found["footnote"].append(line)
    return found


def summary_junk(doc, raw: dict) -> tuple[list[str], list[str]]:
    from bertcli import summarize

    def starts_with_heading(sentence: str) -> bool:
        # a heading or running head glued to a sentence: its words, then a capitalised word
        # (or none); "Latent Dirichlet allocation (LDA) is ..." is a sentence, not the running
        # head "LATENT DIRICHLET ALLOCATION" glued to one
        words = sentence.split()
        for heading in [*raw["headings"], *raw["head_lines"]]:
            size = len(heading.split())
            if ([norm(w) for w in words[:size]] == [norm(w) for w in heading.split()]
                    and (len(words) == size or words[size][:1].isupper())):
                return True
        return False

    marks = {norm(t) for t in raw["footnotes"] if distinctive(t)}
    sentences = [s.text for s in summarize(doc, num_sentences=8, offline=True).sentences]
    junk = [s for s in sentences
            if starts_with_heading(s) or any(norm(s).startswith(m) for m in marks)]
    return sentences, junk


def ask_all(asker, doc, questions: list[dict]) -> list[dict]:
    from bertcli.eval.squad import f1_score, normalize_answer

    results = asker.ask(doc, [q["question"] for q in questions], abstain=False)
    out = []
    for q, result in zip(questions, results):
        answer = result.answers[0].text if result.answers else ""
        said = f" {normalize_answer(answer)} "
        right = any(f" {normalize_answer(g)} " in said or f1_score(answer, g) >= 0.5
                    for g in q["answers"])
        out.append({"question": q["question"], "gold": q["answers"], "answer": answer,
                    "correct": right})
    return out


CHILD = """import json, resource, sys, time
began = time.perf_counter()
from bertcli.read.document import read_document
imported = time.perf_counter()
if sys.argv[1] != '-':
    read_document(sys.argv[1])
# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
peak = int(status['VmHWM'].split()[0]) if 'VmHWM' in status else \
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"import_seconds": imported - began, "seconds": time.perf_counter() - imported,
                  "peak_rss_mb": peak / 1024}))
"""


def scaling(path: Path) -> list[dict]:
    """Read the first 0/25/50/100% of a PDF's pages, each in a fresh process."""
    source = pdfium.PdfDocument(str(path))
    total, rows = len(source), []
    with tempfile.TemporaryDirectory() as tmp:
        for share in (0, 25, 50, 100):
            pages = total * share // 100
            target = "-"
            if pages:
                part = pdfium.PdfDocument.new()
                part.import_pages(source, list(range(pages)))
                target = str(Path(tmp) / f"part{share}.pdf")
                part.save(target)
            done = subprocess.run([sys.executable, "-c", CHILD, target], capture_output=True,
                                  text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            rows.append({"share": share, "pages": pages, **json.loads(done.stdout)})
    return rows


def pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}" if whole else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ask", action="store_true", help="also ask the manifest's questions")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="*", help="only these manifest files")
    args = parser.parse_args()
    from bertcli.read.document import read_document

    entries = [e for e in json.loads(MANIFEST.read_text(encoding="utf-8"))
               if not args.only or e["file"] in args.only]
    missing = [e["file"] for e in entries if not (CACHE / e["file"]).exists()]
    if missing:
        sys.exit(f"missing PDFs ({', '.join(missing)}): run python benchmarks/fetch_pdfs.py")
    asker = None
    if args.ask:
        from bertcli.ask.asker import Asker
        asker = Asker(offline=True, notice=lambda message: None)
    read_document(str(CACHE / entries[0]["file"]))  # warm-up: imports, PDFium
    rows = []
    for entry in entries:
        path = CACHE / entry["file"]
        began = time.perf_counter()
        doc = read_document(str(path))
        seconds = time.perf_counter() - began
        raw = classify(raw_lines(path))
        text = norm(doc.text)
        removed = getattr(doc, "removed", None)
        named = "\x00".join(norm(r.text) for r in removed or () if r.reason in ALLOWED)
        lost = [line for line in raw["prose"] if norm(line) not in text]
        unexplained = [line for line in lost if norm(line) not in named]
        row = {"file": entry["file"], "kind": entry["kind"], "layout": entry["layout"],
               "pages": entry["pages"], "seconds": round(seconds, 3),
               "prose_lines": len(raw["prose"]), "prose_kept": len(raw["prose"]) - len(lost),
               "prose_kept_named": None if removed is None
               else len(raw["prose"]) - len(unexplained),
               "missing_lines": lost[:20], "missing_unexplained": unexplained[:20],
               "captions": len(raw["captions"]),
               "captions_kept": sum(norm(c[:60]) in text for c in raw["captions"]),
               "captions_missing": [c for c in raw["captions"] if norm(c[:60]) not in text][:20],
               "junk": junk_left(outside_footnotes(doc), raw),
               "removed_reasons": dict(Counter(r.reason for r in removed or ()))}
        if entry["kind"] == "paper":
            row["summary"], row["summary_junk"] = summary_junk(doc, raw)
        if asker is not None:
            row["ask"] = ask_all(asker, doc, entry["questions"])
        rows.append(row)
        print(f"  {entry['file']}: {seconds:.2f} s", file=sys.stderr)
    big = [e for e in entries if e["pages"] > 200]
    scale = None
    if big:
        largest = max(big, key=lambda e: e["pages"])
        scale = {"file": largest["file"], "runs": scaling(CACHE / largest["file"])}
    print_table(rows, scale, args.ask)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = subprocess.run(["git", "status", "--porcelain", "bertcli"], cwd=ROOT,
                           capture_output=True, text=True).stdout
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    args.out.write_text(json.dumps({"bertcli_commit": commit, "bertcli_modified": bool(state),
                                    "pypdfium2": str(pdfium.PYPDFIUM_INFO),
                                    "pdfium": str(pdfium.PDFIUM_INFO),
                                    "pdfs": rows, "scaling": scale}, indent=1,
                                   ensure_ascii=False), encoding="utf-8")
    print(f"\nwritten to {args.out}")


def print_table(rows: list[dict], scale: dict | None, asked: bool) -> None:
    head = ["PDF", "kind", "pages", "prose lines", "kept %", "kept+named %", "missing",
            "captions kept", "junk pn/rh/fn", "summary junk", "read s"] + (["ask"] if asked else [])
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))

    def line(name, kind, pages, items) -> None:
        prose = sum(r["prose_lines"] for r in items)
        kept = sum(r["prose_kept"] for r in items)
        named = [r["prose_kept_named"] for r in items]
        cap = sum(r["captions"] for r in items)
        papers = [r for r in items if "summary_junk" in r]
        cells = [name, kind, str(pages), str(prose), pct(kept, prose),
                 "-" if None in named else pct(sum(named), prose), str(prose - kept),
                 f"{sum(r['captions_kept'] for r in items)}/{cap}",
                 "/".join(str(sum(len(r["junk"][k]) for r in items))
                          for k in ("page-number", "running-head", "footnote")),
                 f"{sum(len(r['summary_junk']) for r in papers)}/"
                 f"{sum(len(r['summary']) for r in papers)}" if papers else "-",
                 f"{sum(r['seconds'] for r in items):.2f}"]
        if asked:
            cells.append(f"{sum(a['correct'] for r in items for a in r['ask'])}/"
                         f"{sum(len(r['ask']) for r in items)}")
        print("| " + " | ".join(cells) + " |")

    for r in rows:
        line(r["file"], r["kind"], r["pages"], [r])
    line("**total**", "", sum(r["pages"] for r in rows), rows)
    if scale:
        print(f"\nScaling, {scale['file']} (fresh process each; 0% = import only):\n")
        print("| share | pages | import s | read s | peak RSS MB |\n|---|---|---|---|---|")
        for run in scale["runs"]:
            print(f"| {run['share']}% | {run['pages']} | {run['import_seconds']:.2f} | "
                  f"{run['seconds']:.2f} | {run['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
