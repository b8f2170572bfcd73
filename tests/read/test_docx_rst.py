"""Word (.docx) and reStructuredText inputs, Markdown on stdin, and code that is never summarized
(issues #31 and #35): blocks, kinds, sections, sentences, detection and every error path."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from bertcli.errors import InputError
from bertcli.read.blocks import BlockKind
from bertcli.read.document import convert, read_document
from bertcli.read.formats import detect, looks_like_markdown
from bertcli.sentences import split_sentences

DATA = Path(__file__).resolve().parents[1] / "data"
ZEN = DATA / "zen_of_python.docx"
TABLES = DATA / "paragraphs_and_tables.docx"
BULLETS = DATA / "bulleted_lists.docx"
SECTIONS_RST = DATA / "python_docx_sections.rst"


def blocks_of(doc):
    return [(b.kind, doc.text[b.start:b.end]) for b in doc.blocks]


def assert_no_sentence_crosses_a_block(doc):
    """Every sentence lies inside one block: none runs over a heading into the next block."""
    for sentence in split_sentences(doc.text):
        block = doc.structure.at(sentence.start)
        assert block is not None and sentence.end <= block.end, sentence.text


# --- .docx ------------------------------------------------------------------------------------


def test_docx_heading_paragraphs_and_sections():
    doc = read_document(str(ZEN))
    assert doc.format == "docx"
    kinds = blocks_of(doc)
    # the table of contents (a content control of TOC paragraphs) only repeats the heading
    assert kinds[0] == ("heading", "Beautiful is better than ugly.")
    assert doc.blocks[0].level == 1
    assert [k for k, _ in kinds[1:]] == ["paragraph"] * 18
    assert kinds[-1][1] == "Namespaces are one honking great idea -- let's do more of those!"
    assert all(b.section == ("Beautiful is better than ugly.",) for b in doc.blocks)
    assert doc.section_at(doc.text.index("Readability counts.")) == "Beautiful is better than ugly."
    assert_no_sentence_crosses_a_block(doc)


def test_docx_tables_stay_in_document_order_one_block_per_row():
    doc = read_document(str(TABLES))
    assert blocks_of(doc) == [
        ("paragraph", "This document has paragraphs."),
        ("table", "This | Document"),
        ("table", "Also | Has"),
        ("table", "Tables"),  # an empty cell is left out
        ("paragraph", "There are paragraphs between tables. These are used to check the "
                      ".lineage attribute of Par instances."),
        ("paragraph", "Here is another paragraph between the first and second tables."),
        ("table", "One More Table"),  # a cell of several paragraphs, on one line
        ("table", "One"), ("table", "More"), ("table", "Table"),
    ]
    assert_no_sentence_crosses_a_block(doc)


def test_docx_numbered_paragraphs_are_list_items():
    doc = read_document(str(BULLETS))
    kinds = blocks_of(doc)
    assert kinds[0] == ("paragraph", "This is a document for testing docx2python module.")
    assert kinds[1:3] == [("list_item", "Why did the chicken cross the road?"),
                          ("list_item", "Just because")]
    assert {k for k, _ in kinds[1:]} == {"list_item"}


def make_docx(build) -> bytes:
    import docx

    document = docx.Document()
    build(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_title_levels_list_styles_and_order():
    def build(d):
        d.add_paragraph("Annual report", style="Title")
        d.add_heading("Results", level=1)
        d.add_paragraph("Sales rose in every region this year.")
        d.add_heading("By region", level=2)
        d.add_paragraph("The north grew fastest.", style="List Bullet")
        table = d.add_table(rows=2, cols=2)
        table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Growth"
        table.cell(1, 0).text, table.cell(1, 1).text = "North", "12%"
        d.add_paragraph("The south held steady after the table.")

    doc = convert(make_docx(build), "report.docx", "docx")
    assert [(b.kind, b.level, doc.text[b.start:b.end]) for b in doc.blocks] == [
        ("heading", 1, "Annual report"), ("heading", 1, "Results"),
        ("paragraph", 0, "Sales rose in every region this year."),
        ("heading", 2, "By region"), ("list_item", 0, "The north grew fastest."),
        ("table", 0, "Region | Growth"), ("table", 0, "North | 12%"),
        ("paragraph", 0, "The south held steady after the table."),
    ]
    assert doc.blocks[4].section == ("Results", "By region")


def test_docx_detected_from_content_and_content_type():
    data = ZEN.read_bytes()
    assert detect("-", data) == "docx"
    assert detect("upload", data) == "docx"
    assert detect("https://x.org/get?id=1", b"PK\x03\x04",
                  "application/vnd.openxmlformats-officedocument.wordprocessingml.document") == "docx"
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("notes.txt", "not a Word document")
    assert detect("-", plain_zip.getvalue()) != "docx"


def test_docx_cli_text_and_stdin(run_cli):
    proc = run_cli("text", ZEN)
    assert proc.returncode == 0, proc.err
    assert proc.out.startswith("Beautiful is better than ugly.\n\nExplicit is better than implicit.")
    piped = run_cli("text", "-", input=ZEN.read_bytes())
    assert piped.returncode == 0, piped.err
    assert piped.out == proc.out


def _zip_without_document() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/'
                                                'package/2006/content-types"/>')
    return out.getvalue()


@pytest.mark.parametrize("name,data", [
    ("truncated", ZEN.read_bytes()[:3000]),
    ("not-a-zip", b"Just some words, not a zip archive at all.\n"),
    ("no-document-xml", _zip_without_document()),
])
def test_corrupt_docx_is_one_line_exit_3(run_cli, tmp_path, name, data):
    path = tmp_path / f"{name}.docx"
    path.write_bytes(data)
    proc = run_cli("text", path)
    assert proc.returncode == 3
    assert proc.out == ""
    lines = proc.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.err
    assert f"{path}: not a readable .docx (" in lines[0]


def test_docx_summary_picks_no_heading(run_cli):
    proc = run_cli("summarize", ZEN, "-n", "2", "--offline", "-f", "json")
    assert proc.returncode == 0, proc.err
    import json

    picked = [s["text"] for s in json.loads(proc.out)["sentences"]]
    assert len(picked) == 2
    assert "Beautiful is better than ugly." not in picked


# --- reStructuredText -------------------------------------------------------------------------


def test_rst_sections_code_and_unknown_sphinx_markup(capsys):
    doc = read_document(str(SECTIONS_RST))
    assert doc.format == "rst"
    headings = [(b.level, doc.text[b.start:b.end]) for b in doc.blocks if b.kind == "heading"]
    assert headings == [(1, "Working with Sections"), (2, "Accessing sections"),
                        (2, "Adding a new section"), (2, "Section properties"),
                        (3, "Section start type"), (3, "Page dimensions and orientation"),
                        (3, "Page margins")]
    code = [doc.text[b.start:b.end] for b in doc.blocks if b.kind == "code"]
    assert code[0].startswith(">>> document = Document()\n>>> sections = document.sections")
    # an unknown role keeps its text, an undefined substitution its name; the unknown
    # "currentmodule" directive is left out, and the user hears of it once
    assert "The Document.add_section method allows" in doc.text
    assert "currentmodule" not in doc.text and ":meth:" not in doc.text
    margins = doc.text.index("Seven properties on Section")
    assert doc.structure.at(margins).section == ("Working with Sections", "Section properties",
                                                 "Page margins")
    assert_no_sentence_crosses_a_block(doc)
    err = capsys.readouterr().err
    assert err.count("bertcli: ") == 1
    assert "currentmodule" in err and "meth" in err


RST = """\
Guide
=====

Intro paragraph that
spans two lines.

* First item.
* Second item.

=====  ======
Name   Value
=====  ======
alpha  one
=====  ======

.. note:: Read this first.

::

    print("code")

.. toctree::

   other

.. include:: /etc/passwd
"""


def test_rst_lists_tables_admonitions_and_safe_directives(capsys):
    doc = convert(RST.encode(), "guide.rst", "rst")
    assert blocks_of(doc) == [
        ("heading", "Guide"),
        ("paragraph", "Intro paragraph that spans two lines."),
        ("list_item", "First item."), ("list_item", "Second item."),
        ("table", "Name | Value"), ("table", "alpha | one"),
        ("paragraph", "Read this first."),
        ("code", 'print("code")'),
    ]
    assert "root:" not in doc.text  # the include directive never reads a file
    err = capsys.readouterr().err
    assert "toctree" in err and "include" in err and len(err.strip().splitlines()) == 1


def test_rst_cli_unknown_directive_reads_with_a_notice(run_cli, tmp_path):
    path = tmp_path / "doc.rest"
    path.write_text("Title\n=====\n\nSome prose here.\n\n.. no-such-directive:: x\n\n   body\n",
                    encoding="utf-8")
    proc = run_cli("text", path)
    assert proc.returncode == 0, proc.err
    assert proc.out.strip() == "Title\n\nSome prose here."
    assert "no-such-directive" in proc.err and proc.err.count("\n") == 1
    assert detect("x.rst", b"") == "rst"
    assert detect("https://x.org/a", b"x", "text/x-rst") == "rst"


def test_rst_summary_picks_no_heading_or_code(run_cli):
    proc = run_cli("summarize", SECTIONS_RST, "-n", "2", "--offline", "-f", "json")
    assert proc.returncode == 0, proc.err
    import json

    result = json.loads(proc.out)
    assert len(result["sentences"]) == 2
    doc = read_document(str(SECTIONS_RST))
    for sentence in result["sentences"]:
        assert doc.structure.kind(sentence["start"]) in ("paragraph", "list_item")


# --- Markdown on stdin ------------------------------------------------------------------------

MARKDOWN = """\
# Setup

Install the tool with pip. See [the guide](https://example.org/guide) for more.

- It needs Python 3.10.
- It runs offline.

```
pip install bertcli
```
"""


@pytest.mark.parametrize("text,expected", [
    (MARKDOWN, True),
    ("# Notes\n\nSee [docs](docs/index.md).\n", True),  # a heading and a link
    ("# Title\n\n- one `x`\n- two\n", True),  # heading, list items, inline code
    ("The # key is next to the 3.\n# of people: many\n", False),  # a lone "#" line in prose
    ("# comment\nkey: value\nlist:\n  - a\n  - b\n", False),  # YAML: comments and a list
    ("#!/bin/sh\n# install\nmake install\n", False),  # a script's comments
    ("Plain prose with [brackets](but no heading).\n", False),
])
def test_markdown_sniffing_is_conservative(text, expected):
    assert looks_like_markdown(text.encode()) is expected


def test_markdown_on_stdin_is_detected(run_cli):
    proc = run_cli("text", "-", input=MARKDOWN)
    assert proc.returncode == 0, proc.err
    assert proc.out.startswith("Setup\n\nInstall the tool with pip. See the guide for more.")
    assert "```" not in proc.out and "- It" not in proc.out
    assert detect("notes.py", MARKDOWN.encode()) == "text"  # only inputs without an extension


def test_input_format_markdown_forces_it_on_stdin(run_cli):
    plain = "# Title\n\nJust *one* paragraph.\n"
    assert run_cli("text", "-", input=plain).out.startswith("# Title")  # not clearly Markdown
    forced = run_cli("text", "-", "--input-format", "markdown", input=plain)
    assert forced.returncode == 0, forced.err
    assert forced.out.startswith("Title\n\nJust one paragraph.")


# --- code is kept, never summarized -----------------------------------------------------------

MOSTLY_CODE = """\
# Usage

Call the helper once at start-up. It reads the settings and opens the database.

```python
def start():
    settings = read_settings()
    return open_database(settings.url)
```

```python
class Cache:
    def get(self, key):
        return self.items.get(key)
```

The cache keeps results for one hour.

```sh
bertcli summarize report.pdf -n 3
```
"""


def test_code_blocks_are_read_but_never_summarized(run_cli, tmp_path):
    path = tmp_path / "usage.md"
    path.write_text(MOSTLY_CODE, encoding="utf-8")
    doc = read_document(str(path))
    assert sum(1 for b in doc.blocks if b.kind == BlockKind.code.value) == 3
    proc = run_cli("summarize", path, "-n", "3", "--offline", "-f", "json")
    assert proc.returncode == 0, proc.err
    import json

    picked = json.loads(proc.out)["sentences"]
    assert picked and all(doc.structure.kind(s["start"]) == "paragraph" for s in picked)
    assert not any("def " in s["text"] or "bertcli summarize" in s["text"] for s in picked)


def test_code_only_document_summarizes_its_code_with_a_notice(run_cli, tmp_path, tiny_qa_dir):
    import json

    path = tmp_path / "only.md"
    path.write_text("```python\ndef add(a, b):\n    return a + b\n```\n", encoding="utf-8")
    proc = run_cli("summarize", path, "-n", "1", "--offline")
    assert proc.returncode == 0, proc.err
    assert "def add(a, b)" in proc.out
    assert f"{path}: no prose to summarize (only code)" in proc.err
    asked = run_cli("ask", "What does add return?", path, "-m", tiny_qa_dir, "--offline",
                    "-f", "json")
    assert asked.returncode == 0, asked.err
    assert json.loads(asked.out)["source"] == str(path)


def test_html_pre_code_survives_as_one_code_block():
    page = b"""<html><body><article><h1>Install guide</h1>
<p>The tool installs with pip and needs Python three. It runs on every platform we know of.</p>
<pre><code>pip install bertcli
bertcli --help</code></pre>
<p>After the install, the command prints its help, with every option described in full.</p>
</article></body></html>"""
    doc = convert(page, "page.html", "html")
    code = [doc.text[b.start:b.end] for b in doc.blocks if b.kind == "code"]
    assert code == ["pip install bertcli\nbertcli --help"]


def test_docx_read_errors_name_the_source():
    with pytest.raises(InputError, match=r"^in\.docx: not a readable \.docx \("):
        convert(b"PK\x03\x04broken", "in.docx", "docx")


def test_bold_normal_paragraphs_are_headings(tmp_path):
    """Many real reports type their headings as bold Normal text, numbered or not."""
    import docx

    from bertcli.read.document import read_document

    document = docx.Document()
    document.add_paragraph().add_run("1. Problem Statement").bold = True
    document.add_paragraph("Banks lose money when customers default on their card bills.")
    document.add_paragraph().add_run("1.1 Data").bold = True
    document.add_paragraph("The data covers six months of repayment history.")
    document.add_paragraph().add_run("A bold sentence that ends with a full stop.").bold = True
    path = tmp_path / "report.docx"
    document.save(str(path))
    doc = read_document(str(path))
    blocks = [(doc.text[b.start:b.end], b.kind, b.level) for b in doc.blocks]
    assert blocks[0] == ("1. Problem Statement", "heading", 1)
    assert blocks[2] == ("1.1 Data", "heading", 2)
    assert blocks[4][1] == "paragraph"  # a sentence, though bold
    assert doc.section_at(doc.text.index("six months")) == "1.1 Data"
