"""Document structure (issue #35): blocks with kinds and sections, removed lines and why,
summaries by section, answers that name their section and stay inside one block."""

from __future__ import annotations

import json

from bertcli.ask.choose import within_block
from bertcli.ask.spans import Span
from bertcli.read.blocks import derive_blocks
from bertcli.read.document import Document
from bertcli.read.formats import html_document

from .test_pdf import PAPER

BOOK = (
    "CHAPTER I\n\nThe mill stood by the river. It had ground corn for a hundred years before "
    "the family came.\n\nThe miller's daughter kept the accounts and knew every farmer by name.\n\n"
    "CHAPTER II\n\nA flood came in the spring and carried the wheel away in a single night.\n\n"
    "The village rebuilt it in stone, and it turns to this day beside the new bridge.\n"
)


def test_plain_text_chapters_are_headings_that_open_sections():
    blocks = derive_blocks(BOOK)
    headings = [BOOK[b.start:b.end] for b in blocks if b.kind == "heading"]
    assert headings == ["CHAPTER I", "CHAPTER II"]
    flood = BOOK.index("A flood")
    doc = Document("book.txt", BOOK)
    assert doc.section_at(flood) == "CHAPTER II" and doc.section_at(0) == "CHAPTER I"
    assert all(BOOK[b.start:b.end].strip() == BOOK[b.start:b.end] for b in blocks)


def test_html_blocks_keep_headings_lists_and_tables():
    page = (b"<html><body><article><h1>Harbour report</h1><p>The harbour opened in May after "
            b"two years of building work on the new quay.</p><h2>Ships</h2><ul><li>Three ferries "
            b"a day</li><li>One freighter a week</li></ul><table><tr><td>Berths</td><td>12</td>"
            b"</tr></table><p>More ships are expected next year, the port authority said.</p>"
            b"</article></body></html>")
    converted = html_document(page, "page.html")
    kinds = {converted.text[b.start:b.end]: (b.kind, b.section) for b in converted.blocks}
    assert kinds["Harbour report"] == ("heading", ("Harbour report",))
    assert kinds["Three ferries a day"] == ("list_item", ("Harbour report", "Ships"))
    assert kinds["Berths | 12"][0] == "table"


def test_an_answer_never_crosses_a_block_boundary():
    span = Span(100, 111, "4000.\n\n5.4", 0.9)
    cut = within_block(span)
    assert (cut.text, cut.start, cut.end) == ("4000.", 100, 105)
    assert within_block(Span(3, 8, "a\nb c", 0.5)).text == "a\nb c"  # one line break: same block
    comma = within_block(Span(10, 15, "1066,", 0.5))
    assert (comma.text, comma.end) == ("1066", 14)
    assert within_block(Span(0, 5, "U.S.", 0.5)).text == "U.S."  # a full stop may be the word's


def test_text_json_gives_blocks_and_removed_lines(run_cli):
    proc = run_cli("text", PAPER, "-f", "json")
    assert proc.returncode == 0, proc.err
    doc = json.loads(proc.out)
    text = doc["text"]
    kinds = {b["kind"] for b in doc["blocks"]}
    assert {"heading", "paragraph", "caption"} <= kinds
    for block in doc["blocks"]:
        assert text[block["start"]:block["end"]].strip() == text[block["start"]:block["end"]] != ""
        assert isinstance(block["page"], int)
    captions = [text[b["start"]:b["end"]] for b in doc["blocks"] if b["kind"] == "caption"]
    assert any(c.startswith("Table 1:") for c in captions)
    reasons = {r["reason"] for r in doc["removed"]}
    assert {"front-matter", "references"} <= reasons
    assert all(0 <= r["at"] <= len(text) for r in doc["removed"])
    first_heading = next(i for i, b in enumerate(doc["blocks"]) if b["kind"] == "heading")
    assert all(b["section"] for b in doc["blocks"][first_heading:])


def test_text_show_removed_marks_each_line_with_its_reason(run_cli):
    plain = run_cli("text", PAPER).out
    shown = run_cli("text", PAPER, "--show-removed").out
    marked = [line for line in shown.splitlines() if line.startswith("[removed: ")]
    assert any(line.startswith("[removed: references] ") for line in marked)
    assert any(line.startswith("[removed: front-matter] ") for line in marked)
    # without the marked lines, the same text
    rest = "\n".join(line for line in shown.splitlines() if not line.startswith("[removed: "))
    assert " ".join(rest.split()) == " ".join(plain.split())


def test_summarize_by_section_gives_each_section_its_sentences(run_cli, tmp_path):
    path = tmp_path / "book.txt"
    path.write_text(BOOK, encoding="utf-8")
    proc = run_cli("summarize", path, "--by-section", "-n", "1", "-f", "json", "--offline", "--quiet")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert [s["title"] for s in result["sections"]] == ["CHAPTER I", "CHAPTER II"]
    for part in result["sections"]:
        assert len(part["sentences"]) == 1
        sentence = part["sentences"][0]
        assert part["start"] <= sentence["start"] < part["end"]
        assert sentence["section"] == part["title"]
        assert BOOK[sentence["start"]:sentence["end"]] == sentence["text"]
    plain = run_cli("summarize", path, "--by-section", "-n", "1", "--offline", "--quiet").out
    assert plain.splitlines()[0] == "## CHAPTER I" and "## CHAPTER II" in plain.splitlines()


def test_paper_summary_has_no_headings_captions_or_footnotes(run_cli):
    doc = json.loads(run_cli("text", PAPER, "-f", "json").out)
    not_prose = [(b["start"], b["end"]) for b in doc["blocks"] if b["kind"] not in ("paragraph", "list_item")]
    proc = run_cli("summarize", PAPER, "-n", "8", "-f", "json", "--offline", "--quiet")
    for s in json.loads(proc.out)["sentences"]:
        assert not any(a <= s["start"] < b for a, b in not_prose), s["text"]


def test_answers_name_their_section_and_have_one_line_text(run_cli):
    proc = run_cli("ask", "How many MR-utterance pairs were crowdsourced?", PAPER, "-f", "json",
                   "--offline", "--quiet", "--always-answer", "--top-k", "3")
    assert proc.returncode == 0, proc.err
    text = run_cli("text", PAPER).out
    for answer in json.loads(proc.out)["answers"]:
        assert "\n" not in answer["text"] and "\n" not in answer["context"]
        assert " ".join(text[answer["start"]:answer["end"]].split()) == answer["text"]
        assert "\n\n" not in text[answer["start"]:answer["end"]]
        assert answer["section"]


def test_wiki_headings_lose_their_edit_links_and_references_are_not_summarized(run_cli, tmp_path):
    page = ("<html><body><article><h1>Harbour</h1>"
            + "".join(f"<p>The harbour opened in May {k} after two years of building on the new quay, "
                      f"the port authority said in its yearly report number {k}.</p>" for k in range(4))
            + "<h2>History[edit]</h2><p>Fishing boats used the old harbour for three centuries "
              "before the ferries came to the town.</p>"
            + "<h2>References[edit]</h2>"
            + "".join(f"<p>Smith, J. ({2000 + k}). The harbour of the town, a history in many parts. "
                      f"Port Press, volume {k}.</p>" for k in range(6))
            + "</article></body></html>")
    path = tmp_path / "wiki.html"
    path.write_text(page, encoding="utf-8")
    doc = json.loads(run_cli("text", path, "-f", "json").out)
    headings = [doc["text"][b["start"]:b["end"]] for b in doc["blocks"] if b["kind"] == "heading"]
    assert headings == ["Harbour", "History", "References"]
    proc = run_cli("summarize", path, "-n", "8", "-f", "json", "--offline", "--quiet")
    picked = [s["text"] for s in json.loads(proc.out)["sentences"]]
    assert picked and not any("Port Press" in s for s in picked)
    by_section = json.loads(run_cli("summarize", path, "--by-section", "-n", "1", "-f", "json",
                                    "--offline", "--quiet").out)
    assert [s["title"] for s in by_section["sections"]] == ["Harbour", "History"]


def test_by_section_skips_a_lone_title_before_the_first_chapter(run_cli, tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("THE LIGHTHOUSE KEEPER'S YEAR\n\n" + BOOK, encoding="utf-8")
    proc = run_cli("summarize", path, "--by-section", "-n", "1", "-f", "json", "--offline", "--quiet")
    assert [s["title"] for s in json.loads(proc.out)["sections"]] == ["CHAPTER I", "CHAPTER II"]
