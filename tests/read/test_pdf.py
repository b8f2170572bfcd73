"""PDF reading (bertcli.read.pdf): cleaning, page offsets, and the issue's bars on a real paper."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bertcli.read.document import read_document
from bertcli.read.pdf import _SOFT, Line, clean

from ..conftest import make_pdf

PAPER = Path(__file__).resolve().parents[1] / "data" / "viggo-inlg2019.pdf"


def _lines(*texts: str, page: int = 0, size: float = 10.0, width: float = 200.0) -> list[Line]:
    return [Line(page, text, size, 0.2 + 0.01 * i, width) for i, text in enumerate(texts)]


def test_line_end_hyphens_join_unless_the_document_hyphenates_the_word():
    text = clean([_lines(
        "We introduce a new language representa" + _SOFT + "tion model called BERT here.",
        "It uses task" + _SOFT + "specific parameters and one more task-specific head now.",
        "A representation of text is learned by the model from raw data.",
        "The task" + _SOFT + "oriented systems differ from open task systems and oriented ones.",
    )]).text
    assert "representation model" in text and "representa" + "tion" in text
    assert "task-specific parameters" in text
    assert "task-oriented systems" in text  # both halves are words of the document
    assert _SOFT not in text


def test_ligatures_become_letters():
    text = clean([_lines("The \ufb01rst \ufb02ow of \ufb01ne-tuning was e\ufb03cient in the end.")]).text
    assert text == "The first flow of fine-tuning was efficient in the end."


def test_front_matter_and_references_are_removed_with_their_reason_footnotes_kept_apart():
    body = "Body text of the paper goes on in full lines like this one does here."
    pages = [
        [Line(0, "A Title of the Paper", 14.0, 0.05, 150), Line(0, "Jane Doe", 12.0, 0.08, 60),
         Line(0, "jane@example.org", 12.0, 0.1, 80), Line(0, "Abstract", 12.0, 0.15, 50)]
        + _lines(body, body, "1 A line that starts with a number is still body text here.", size=10.0)
        + [Line(0, "2A footnote in small type at the foot.", 8.0, 0.9, 150)],
        _lines(body, body, "References", "Doe, J. 2019. A paper. In Proceedings of X.",
               "Roe, R. 2020. Another paper. Journal of Y.", page=1),
    ]
    doc = clean(pages)
    text = doc.text
    assert "Title" not in text and "Jane" not in text and "@" not in text
    assert "Doe, J." not in text and "Roe, R." not in text
    assert text.count(body) == 4 and len(doc.pages) == 2 and text[doc.pages[1]:].startswith(body)
    reasons = {r.text: (r.reason, r.page) for r in doc.removed}
    assert reasons["A Title of the Paper"] == ("front-matter", 1)
    assert reasons["jane@example.org"] == ("front-matter", 1)
    assert reasons["Doe, J. 2019. A paper. In Proceedings of X."] == ("references", 2)
    kinds = {text[b.start:b.end]: b.kind for b in doc.blocks}
    assert kinds["Abstract"] == "heading" and kinds["References"] == "heading"
    # the footnote stays, marker set apart, as a block of its own at the page's end
    assert kinds["2 A footnote in small type at the foot."] == "footnote"
    assert "1 A line that starts with a number is still body text here." in text
    # every removed line's `at` offset lies in the text, at a block boundary or its end
    assert all(r.at == 0 or r.at == len(text) or text[r.at - 2:r.at] == "\n\n" for r in doc.removed)


def test_figure_text_goes_captions_stay_as_their_own_blocks():
    body = "Body text of the paper goes on in full lines like this one does here."
    lines = _lines(body, body, body, body, body, "BERT BERT", "E[CLS] E1", "Tok 1 Tok 2", "12.3 45.6 78.9 10.1 11.2",
                   "Figure 1: The whole model, with every part that it has.", body)
    for line in lines[5:-1]:
        line.width = 120.0  # labels, and the caption's last line, end before the column does
    doc = clean([lines])
    assert "E[CLS]" not in doc.text and "45.6" not in doc.text
    assert doc.text.count(body) == 6
    captions = [doc.text[b.start:b.end] for b in doc.blocks if b.kind == "caption"]
    assert captions == ["Figure 1: The whole model, with every part that it has."]
    assert {r.text: r.reason for r in doc.removed}["E[CLS] E1"] == "figure"


def test_a_column_wide_line_of_numbers_inside_a_paragraph_is_kept():
    # the BERT paper's "BERTBASE (L=12, H=768, A=12, Total Parameters=110M) and ..." line
    prose = "We primarily report results on two model sizes that we compare here:"
    numbers = "BASE (L=12, H=768, A=12, Total Parameters=110M) and LARGE (L=24, H=1024,"
    lines = _lines(prose, numbers, "A=16, Total Parameters=340M) as the two of them.")
    lines[-1].width = 100.0
    text = clean([lines]).text
    assert numbers in text and "340M" in text


def test_numbered_bold_lines_are_headings_that_give_sections():
    body = "Body text of the paper goes on in full lines like this one does here."
    lines = _lines("1 Introduction", body, "2 Model", body, "2.1 Attention", body)
    for line in lines[::2]:
        line.weight, line.width = 700, 80.0
    doc = clean([lines])
    headings = [(doc.text[b.start:b.end], b.level) for b in doc.blocks if b.kind == "heading"]
    assert headings == [("1 Introduction", 1), ("2 Model", 1), ("2.1 Attention", 2)]
    assert [b.section for b in doc.blocks][-1] == ("2 Model", "2.1 Attention")


def test_running_headers_footers_and_page_numbers_go(tmp_path):
    words = ["rivers", "bridges", "harbours"]
    pages = [["Journal of Tests, Vol. 3"]
             + [f"The {words[n - 1]} of the town were described once more, line {k}." for k in range(46)]
             + [str(n)] for n in range(1, 4)]  # make_pdf's 48th line sits at the page's foot
    path = tmp_path / "journal.pdf"
    path.write_bytes(make_pdf(pages))
    doc = read_document(str(path))
    assert "Journal of Tests" not in doc.text
    assert not re.search(r"^\d+$", doc.text, re.M)
    assert len(doc.pages) == 3
    for n, start in enumerate(doc.pages, 1):
        assert doc.text[start:].startswith(f"The {words[n - 1]} of the town")
        assert doc.page_at(start) == n and doc.page_at(start + 5) == n


def test_page_offsets_index_into_text(tmp_path):
    path = tmp_path / "two.pdf"
    path.write_bytes(make_pdf([["The board met on Monday."], ["The second page closes the report."]]))
    doc = read_document(str(path))
    assert doc.pages == (0, len("The board met on Monday.\n\n"))
    assert doc.page_at(doc.text.index("second")) == 2 and doc.page_at(0) == 1


def test_a_page_without_text_among_text_pages_gets_a_notice(run_cli, tmp_path):
    path = tmp_path / "mixed.pdf"
    path.write_bytes(make_pdf([["The board met on Monday and approved the budget."], [],
                               ["The third page closes the report with a note."]]))
    proc = run_cli("text", path)
    assert proc.returncode == 0
    assert "approved the budget" in proc.out and "closes the report" in proc.out
    assert "no text layer on page(s) 2 (scanned?)" in proc.err and "ocrmypdf" in proc.err
    assert len(proc.err.strip().splitlines()) == 1


def test_rotated_pages_read_like_upright_ones(tmp_path):
    lines = [[f"Line {k} of the turned page says the river rose again today." for k in range(12)]]
    upright, turned = tmp_path / "upright.pdf", tmp_path / "turned.pdf"
    upright.write_bytes(make_pdf(lines))
    turned.write_bytes(make_pdf(lines, rotate=90))
    assert read_document(str(turned)).text == read_document(str(upright)).text
    assert "Line 11 of the turned page" in read_document(str(turned)).text


def test_text_formats_have_no_pages():
    from bertcli.read.document import Document

    assert Document("x", "Some text.").page_at(3) is None


# --- the bars, on a real two-column paper -----------------------------------------


def _paper_summary(run_cli, n: int = 10) -> list[dict]:
    proc = run_cli("summarize", PAPER, "-n", str(n), "--format", "json", "--offline", "--quiet")
    assert proc.returncode == 0, proc.err
    return json.loads(proc.out)["sentences"]


def test_real_paper_summary_is_clean(run_cli):
    sentences = _paper_summary(run_cli)
    text = run_cli("text", PAPER).out
    for s in sentences:
        # JSON text has its whitespace collapsed; the offsets index the text as it is
        assert " ".join(text[s["start"]:s["end"]].split()) == s["text"]
        assert "@" not in s["text"]
        assert not re.search(r"\w-\n\w", s["text"]) and _SOFT not in s["text"]
        assert not re.search(r"^(Figure|Table) \d", s["text"])
        assert not re.search(r"\(\d{4}\)\.|\b(19|20)\d\d\. [A-Z]", s["text"])  # a reference entry
        assert isinstance(s["page"], int) and 1 <= s["page"] <= 9


def test_real_paper_text_has_no_references_or_ligatures(run_cli):
    text = run_cli("text", PAPER).out
    assert "Amazon’s mechanical turk" not in text and "jjuraska" not in text  # a reference, an e-mail
    assert text.count("References") == 1  # the heading alone
    assert not re.search("[\ufb00-\ufb06]", text)
    assert "Juraska, Kevin" not in text  # the author block


@pytest.mark.parametrize("question, answer, page", [
    ("How many MR-utterance pairs were crowdsourced?", "6,900", 2),
    ("How many different video game attributes do the slots come from?", "14", 2),
])
def test_real_paper_answers_cite_their_page(run_cli, question, answer, page):
    proc = run_cli("ask", question, PAPER, "--format", "json", "--offline", "--quiet", "--always-answer")
    assert proc.returncode == 0, proc.err
    found = json.loads(proc.out)["answers"][0]
    assert answer in found["text"] and found["page"] == page
    plain = run_cli("ask", question, PAPER, "--offline", "--quiet", "--always-answer").out
    assert plain.strip().endswith(f"[p. {page}]")


def test_summary_text_output_cites_pages(run_cli):
    proc = run_cli("summarize", PAPER, "-n", "2", "--offline", "--quiet")
    assert proc.returncode == 0
    assert all(re.search(r" \[p\. \d\]$", line) for line in proc.out.splitlines())


def test_a_broken_text_layer_is_named_but_a_contents_page_is_not(monkeypatch):
    from bertcli import notices
    from bertcli.read import pdf

    said: list[str] = []
    monkeypatch.setattr(notices, "notice", said.append)
    body = "Body text of the report goes on in full lines like this one does here."
    broken = [Line(1, "(cid:12)(cid:34)(cid:56)(cid:78) ¤¤ ¶¶ §§ ©© (cid:90)(cid:11)", 10.0, 0.2 + k / 100)
              for k in range(8)]
    contents = [Line(2, f"{k}. Chapter number {k} ................................ {10 * k}", 10.0,
                     0.2 + k / 100) for k in range(12)]
    pdf._tell_of_poor_pages([_lines(body, body), broken, contents], "report.pdf")
    assert said == ["report.pdf: the text layer of page(s) 2 looks broken (few letters); read as it is"]


def test_a_subscript_is_set_apart_but_small_capitals_stay_joined(tmp_path):
    """BERT with a lowered, smaller LARGE reads "BERT LARGE" (the question "BERT LARGE" finds
    it); CC-NEWS in small capitals (smaller, on the baseline) stays "CC-NEWS"."""
    stream = ("BT /F1 12 Tf 72 720 Td (We trained the model BERT) Tj /F1 8 Tf -3 Ts (LARGE) Tj "
              "/F1 12 Tf 0 Ts ( on the corpus CC-N) Tj /F1 9 Tf (EWS) Tj /F1 12 Tf "
              "( for a long time.) Tj ET")
    path = tmp_path / "caps.pdf"
    path.write_bytes(make_pdf([stream]))
    text = read_document(str(path)).text
    assert "BERT LARGE" in text and "CC-NEWS" in text
