"""HTML extraction fidelity: how much of each article's body bertcli's HTML reader keeps.

    python benchmarks/html_fidelity.py [--data DIR] [--limit N] [--out FILE]

Data: the public "article extraction benchmark" of Scrapinghub/Zyte (MIT licence),
https://github.com/scrapinghub/article-extraction-benchmark : 181 news and blog pages as
`html/<id>.html.gz` (fetched with Splash, JS off; gzip, UTF-8) and `ground-truth.json`
({id: {"articleBody": "...", "url": "..."}}), the article body written out by hand. Get it with

    git clone https://github.com/scrapinghub/article-extraction-benchmark
    python benchmarks/html_fidelity.py --data article-extraction-benchmark

(the default --data is benchmarks/.cache/article-extraction-benchmark, gitignored; it needs
only `html/` and `ground-truth.json`, and `output/trafilatura.json` if present for the check
below). Uncompressed `html/<id>.html` files are read too.

Measure. The benchmark has its own evaluation (its `evaluate.py`), which we follow and copy
here: tokens are `\\w+` (case kept), each text becomes a bag of 4-token shingles; per page
tp/fp/fn are counted on shingles and normalised to sum to 1; precision is the mean over pages
with tp+fp > 0, recall the mean over pages with tp+fn > 0, and F1 the harmonic mean of those two
means (the benchmark's README reports the same three numbers; it adds bootstrap std, left out).
When `output/trafilatura.json` (trafilatura 2.0.0's stored output) is in --data, its score with
this code is printed beside the README's (F1 0.958, P 0.938, R 0.978) as a check.
Beside it, a plain word measure: bag of lower-cased `\\w+` words, per page precision, recall
and F1 (an empty extraction scores 0), averaged over all pages.

Extractors: bertcli's `html_to_text` (the page's bytes, no encoding: what `bertcli` does with a
saved .html file); trafilatura's defaults as the benchmark runs them (`extract(html)` on the
UTF-8 text); trafilatura's defaults with `output_format="markdown"`, markup stripped with
bertcli's `markdown_to_text`. Then the structure question, all with bertcli's `_extract`
settings (favor_precision, tables, no comments, no images, no dedup) on the same bytes:
txt output, versus XML output flattened block by block (`xml_blocks` below: heading, paragraph,
list item, table row, code, quote), versus markdown output stripped with `markdown_to_text`.
"agree" counts the pages whose lower-cased word bag equals that of the txt output.
"seconds" is the summed extraction time over the pages (one run, one process, after one
untimed call of each extractor).
Results go to benchmarks/results/html_fidelity.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import platform
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT / "benchmarks" / ".cache" / "article-extraction-benchmark"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "html_fidelity.json"
README_TRAFILATURA_2_0_0 = {"f1": 0.958, "precision": 0.938, "recall": 0.978}

# bertcli.read.formats._extract's settings
BERTCLI_KW = dict(include_comments=False, include_tables=True, include_images=False,
                  deduplicate=False, favor_precision=True)


# ---------------------------------------------------------------- the benchmark's measure
# Copied from article-extraction-benchmark/evaluate.py (MIT), bootstrap left out.
_TOKEN_RE = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)


def _tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text or "")


def _shingles(text: str, n: int = 4) -> Counter:
    tokens = _tokenize(text)
    return Counter(tuple(tokens[i:i + n]) for i in range(0, max(1, len(tokens) - n + 1))
                   if tokens[i:i + n])


def shingle_tp_fp_fn(true: str, pred: str) -> tuple[float, float, float]:
    t, p = _shingles(true), _shingles(pred)
    tp = fp = fn = 0.0
    for key in set(t) | set(p):
        tc, pc = t.get(key, 0), p.get(key, 0)
        tp += min(tc, pc)
        fp += max(0, pc - tc)
        fn += max(0, tc - pc)
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s > 0 else (tp, fp, fn)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fp == 0:
        return 0.0
    return tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fn == 0:
        return 0.0
    return tp / (tp + fn)


def benchmark_metrics(tp_fp_fns: list[tuple[float, float, float]]) -> dict:
    precision = statistics.mean([_precision(*x) for x in tp_fp_fns if x[0] + x[1] > 0])
    recall = statistics.mean([_recall(*x) for x in tp_fp_fns if x[0] + x[2] > 0])
    return {"precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall)}


# ---------------------------------------------------------------- the plain word measure
def words(text: str) -> Counter:
    return Counter(w.lower() for w in _TOKEN_RE.findall(text or ""))


def word_prf(true: str, pred: str) -> tuple[float, float, float]:
    t, p = words(true), words(pred)
    tp = sum((t & p).values())
    precision = tp / sum(p.values()) if p else 0.0
    recall = tp / sum(t.values()) if t else (1.0 if not p else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


# ---------------------------------------------------------------- trafilatura XML -> blocks
def xml_blocks(xml: str | None) -> list[tuple[str, str, dict]]:
    """(kind, text, attributes) of each block of trafilatura's XML output, as bertcli reads it
    (bertcli.read.html.xml_blocks)."""
    from bertcli.read.html import xml_blocks as blocks

    return [(kind, text, {"level": level} if level else {}) for kind, level, text in blocks(xml)]


def xml_to_text(xml: str | None) -> str:
    return "\n\n".join(text for _, text, _ in xml_blocks(xml))


# ---------------------------------------------------------------- extractors
def _quiet() -> None:
    for name in ("trafilatura", "htmldate", "courlan", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def ex_bertcli(raw: bytes, html: str) -> str:
    from bertcli.errors import InputError
    from bertcli.read.formats import html_to_text

    try:
        return html_to_text(raw, "bench")
    except InputError:  # no extractable text: scored as an empty extraction
        return ""


def ex_trafilatura(raw: bytes, html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False) or ""  # as the benchmark runs it


def _md_text(markdown: str | None) -> str:
    from bertcli.read.formats import markdown_to_text

    return markdown_to_text(markdown) if markdown else ""


def ex_trafilatura_md(raw: bytes, html: str) -> str:
    import trafilatura

    return _md_text(trafilatura.extract(html, output_format="markdown", include_comments=False))


def ex_bertcli_kw_txt(raw: bytes, html: str) -> str:
    import trafilatura

    return trafilatura.extract(raw, output_format="txt", **BERTCLI_KW) or ""


def ex_bertcli_kw_xml(raw: bytes, html: str) -> str:
    import trafilatura

    return xml_to_text(trafilatura.extract(raw, output_format="xml", **BERTCLI_KW))


def ex_bertcli_kw_md(raw: bytes, html: str) -> str:
    import trafilatura

    return _md_text(trafilatura.extract(raw, output_format="markdown", **BERTCLI_KW))


EXTRACTORS = {
    "bertcli html_to_text": ex_bertcli,
    "trafilatura extract(html) (defaults)": ex_trafilatura,
    "trafilatura defaults, markdown -> text": ex_trafilatura_md,
    "bertcli settings, txt": ex_bertcli_kw_txt,
    "bertcli settings, xml -> blocks -> text": ex_bertcli_kw_xml,
    "bertcli settings, markdown -> text": ex_bertcli_kw_md,
}
STRUCTURE = ["bertcli settings, xml -> blocks -> text", "bertcli settings, markdown -> text"]
STRUCTURE_BASE = "bertcli settings, txt"


# ---------------------------------------------------------------- data and run
def load(data: Path, limit: int | None) -> list[tuple[str, bytes, str]]:
    truth_path = data / "ground-truth.json"
    if not truth_path.exists():
        sys.exit(f"{truth_path} not found: git clone "
                 "https://github.com/scrapinghub/article-extraction-benchmark and pass --data")
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        gz, plain = data / "html" / f"{key}.html.gz", data / "html" / f"{key}.html"
        raw = gzip.decompress(gz.read_bytes()) if gz.exists() else plain.read_bytes()
        pages.append((key, raw, truth[key].get("articleBody", "") or ""))
    return pages[:limit] if limit else pages


def reference_check(data: Path) -> dict | None:
    """The benchmark's stored trafilatura 2.0.0 output, scored with the copied measure."""
    path = data / "output" / "trafilatura.json"
    truth_path = data / "ground-truth.json"
    if not path.exists():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    stored = stored.get("output", stored) if set(stored) == {"version", "output"} else stored
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    scores = [shingle_tp_fp_fn(truth[k].get("articleBody", ""),
                               (stored.get(k) or {}).get("articleBody") or "") for k in truth]
    return {"ours": benchmark_metrics(scores), "readme": README_TRAFILATURA_2_0_0}


def sample(raw: bytes, lines: int = 10) -> dict:
    """The first `lines` lines of XML and markdown output from a heading on (bertcli settings)."""
    import trafilatura

    out = {}
    for fmt, mark in (("xml", "<head"), ("markdown", "#")):
        text = trafilatura.extract(raw, output_format=fmt, **BERTCLI_KW) or ""
        rows = text.splitlines()
        start = next((i for i, r in enumerate(rows) if r.lstrip().startswith(mark)), 0)
        out[fmt] = [r if len(r) <= 100 else r[:99] + "…" for r in rows[start:start + lines]]
    out["blocks"] = [[k, t[:60], a] for k, t, a in
                     xml_blocks(trafilatura.extract(raw, output_format="xml", **BERTCLI_KW))][:lines]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None, help="first N pages (sorted by id)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    _quiet()
    import trafilatura

    pages = load(args.data, args.limit)
    texts: dict[str, dict[str, str]] = {}
    results = {}
    for extract in EXTRACTORS.values():  # warm up: imports, trafilatura's first-call set-up
        extract(pages[0][1], pages[0][1].decode("utf-8", errors="replace"))
    for name, extract in EXTRACTORS.items():
        seconds, shingles, wprf, empty, texts[name] = 0.0, [], [], 0, {}
        for key, raw, truth in pages:
            html = raw.decode("utf-8", errors="replace")
            start = time.perf_counter()
            text = extract(raw, html)
            seconds += time.perf_counter() - start
            texts[name][key] = text
            empty += not text.strip()
            shingles.append(shingle_tp_fp_fn(truth, text))
            wprf.append(word_prf(truth, text))
        results[name] = {
            "pages": len(pages), "empty": empty, "seconds": round(seconds, 2),
            "benchmark": benchmark_metrics(shingles),
            "words": {m: statistics.mean(x[i] for x in wprf)
                      for i, m in enumerate(("precision", "recall", "f1"))},
        }
        print(f"  {name}: {seconds:.1f} s", file=sys.stderr)

    base = texts[STRUCTURE_BASE]
    for name in STRUCTURE:
        agree = sum(words(base[k]) == words(texts[name][k]) for k in base)
        vs_txt = statistics.mean(word_prf(base[k], texts[name][k])[2] for k in base)
        f1_gap = results[name]["words"]["f1"] - results[STRUCTURE_BASE]["words"]["f1"]
        results[name]["vs_txt"] = {"same_words_pages": agree, "word_f1_vs_txt": vs_txt,
                                   "word_f1_minus_txt": f1_gap,
                                   "within_0.1": abs(f1_gap) <= 0.1}

    print("| extractor | pages | empty | P (shingles) | R | F1 | P (words) | R | F1 | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        b, w = r["benchmark"], r["words"]
        print(f"| {name} | {r['pages']} | {r['empty']} | {b['precision']:.3f} | {b['recall']:.3f} "
              f"| {b['f1']:.3f} | {w['precision']:.3f} | {w['recall']:.3f} | {w['f1']:.3f} "
              f"| {r['seconds']:.1f} |")
    print()
    for name in STRUCTURE:
        v = results[name]["vs_txt"]
        print(f"- {name}: same word bag as txt on {v['same_words_pages']}/{len(pages)} pages; "
              f"word F1 against txt {v['word_f1_vs_txt']:.4f}; word F1 vs truth minus txt's "
              f"{v['word_f1_minus_txt']:+.4f} (within 0.1: {v['within_0.1']})")

    check = reference_check(args.data) if not args.limit else None
    if check:
        o, r = check["ours"], check["readme"]
        print(f"\nCheck: the benchmark's stored trafilatura 2.0.0 output scores F1 {o['f1']:.3f} "
              f"P {o['precision']:.3f} R {o['recall']:.3f} with this code "
              f"(its README: {r['f1']:.3f} / {r['precision']:.3f} / {r['recall']:.3f})")

    # a page with a heading and a list, to show how the structure comes out
    example = None
    for key, raw, _ in pages:
        xml = trafilatura.extract(raw, output_format="xml", **BERTCLI_KW) or ""
        if "<head" in xml and "<item" in xml:
            example = {"page": key, **sample(raw)}
            break
    if example:
        print(f"\nSample (page {example['page'][:12]}…), XML:")
        print("\n".join("    " + line for line in example["xml"]))
        print("markdown:")
        print("\n".join("    " + line for line in example["markdown"]))
        print("xml_blocks():")
        print("\n".join(f"    {k:<10} {a!s:<18} {t}" for k, t, a in example["blocks"]))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "dataset": "https://github.com/scrapinghub/article-extraction-benchmark (MIT)",
        "measure": "benchmark: evaluate.py's 4-token shingles; words: lower-cased \\w+ bag",
        "trafilatura": trafilatura.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "results": results, "reference_check": check,
        "sample": example}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
