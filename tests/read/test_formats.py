"""HTML, Markdown, PDF and URL inputs: detection, extraction, offsets and every error path."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from bertcli.errors import InputError
from bertcli.read.document import read_document
from bertcli.read.formats import detect, markdown_document, markdown_to_text
from bertcli.sentences import split_sentences

from ..conftest import make_pdf

HTML = (Path(__file__).resolve().parents[1] / "data" / "article.html").read_bytes()
ARTICLE_SENTENCES = [
    "The Loire rose three metres overnight",
    "Hundreds of residents of Orléans",
    "The river, the longest in France",
    "Forecasters expect the water to fall",
]
CHROME = ["cookies", "About us", "SECRET_SCRIPT_TEXT", "Most read", "Celebrity chef",
          "All rights reserved", "color:red"]


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize("name,data,ctype,expected", [
    ("page.HTML", b"plain words", None, "html"),           # extension first
    ("notes.md", b"# Title", None, "markdown"),
    ("report.pdf", b"anything", None, "pdf"),
    ("notes.txt", b"<html><body>x</body></html>", None, "text"),  # .txt means text
    ("https://x.org/story", b"<p>x", "text/html; charset=utf-8", "html"),  # then Content-Type
    ("https://x.org/doc", b"%PDF-1.4", "application/pdf", "pdf"),
    ("https://x.org/raw/README.md", b"# x", "text/plain", "markdown"),
    ("-", b"%PDF-1.7\n...", None, "pdf"),                   # then the content itself
    ("-", b"  <!DOCTYPE html><html>", None, "html"),
    ("-", b"<div><p>hello</p></div>", None, "html"),
    ("-", b"Just some text. <b> is a tag.", None, "text"),
])
def test_detect(name, data, ctype, expected):
    assert detect(name, data, ctype) == expected


# --- HTML -----------------------------------------------------------------------------------


def test_html_keeps_the_article_and_drops_page_chrome(tmp_path):
    path = tmp_path / "saved.html"
    path.write_bytes(HTML)
    doc = read_document(str(path))
    assert doc.format == "html"
    for sentence in ARTICLE_SENTENCES:
        assert sentence in doc.text
    for chrome in CHROME:
        assert chrome not in doc.text
    # the headline is its own unit, not glued to the first sentence
    assert split_sentences(doc.text)[0].text == "The Loire floods again"


def test_html_without_text_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.html"
    path.write_text("<html><head><script>x()</script><style>p{}</style></head><body> </body></html>")
    with pytest.raises(InputError, match="no extractable text"):
        read_document(str(path))


# --- Markdown -------------------------------------------------------------------------------


MARKDOWN = (
    "---\ntitle: Notes\n---\n# Results\n\nThe *board* approved the [budget](http://x.y/b) "
    "on `Monday`.\nIt meets again in May.\n\n```python\nprint('code')\n```\n\n"
    "- first item\n- second item\n\n| city | people |\n|---|---|\n| Orléans | 116,000 |\n\n"
    "<div>raw html</div>\n\n## Budget details\n\nIt grew.\n"
)


def test_markdown_to_text_drops_markup_keeps_code_as_its_own_block():
    text = markdown_to_text(MARKDOWN)
    assert text.split("\n\n") == [
        "Results",
        "The board approved the budget on Monday. It meets again in May.",
        "print('code')", "first item", "second item", "city | people", "Orléans | 116,000",
        "Budget details", "It grew.",
    ]
    assert [s.text for s in split_sentences(text)][:3] == [
        "Results", "The board approved the budget on Monday.", "It meets again in May."]


def test_markdown_blocks_have_kinds_offsets_and_sections():
    converted = markdown_document(MARKDOWN)
    kinds = [(b.kind, converted.text[b.start:b.end]) for b in converted.blocks]
    assert kinds == [
        ("heading", "Results"),
        ("paragraph", "The board approved the budget on Monday. It meets again in May."),
        ("code", "print('code')"), ("list_item", "first item"), ("list_item", "second item"),
        ("table", "city | people"), ("table", "Orléans | 116,000"),
        ("heading", "Budget details"), ("paragraph", "It grew."),
    ]
    assert converted.blocks[1].section == ("Results",)
    # a level-2 heading nests under the level-1 heading before it
    assert converted.blocks[-1].section == ("Results", "Budget details")
    assert [b.level for b in converted.blocks if b.kind == "heading"] == [1, 2]


# --- PDF ------------------------------------------------------------------------------------


def test_pdf_text_per_page(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf([["The board met on Monday.", "It approved the budget."],
                               ["The second page closes the report."]]))
    doc = read_document(str(path))
    assert doc.format == "pdf"
    assert doc.text.split("\n\n") == ["The board met on Monday.\nIt approved the budget.",
                                      "The second page closes the report."]


def test_scanned_pdf_says_so(run_cli, tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(make_pdf([[], []]))
    proc = run_cli("summarize", path)
    assert proc.returncode == 3
    assert "no text layer" in proc.err and "OCR" in proc.err
    assert len(proc.err.strip().splitlines()) == 1 and proc.out == ""


def test_damaged_pdf_is_an_input_error(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    with pytest.raises(InputError, match="PDF"):
        read_document(str(path))


# --- the CLI with converted inputs ----------------------------------------------------------


def test_cli_text_prints_what_offsets_refer_to(run_cli, tmp_path, tiny_encoder_dir):
    path = tmp_path / "page.html"
    path.write_bytes(HTML)
    shown = run_cli("text", path, "--format", "json")
    assert shown.returncode == 0, shown.err
    record = json.loads(shown.out)
    assert record["format"] == "html" and record["source"] == str(path)
    proc = run_cli("summarize", path, "-n", "2", "--model", tiny_encoder_dir, "--format", "json")
    assert proc.returncode == 0, proc.err
    summary = json.loads(proc.out)
    assert summary["format"] == "html" and len(summary["sentences"]) == 2
    for s in summary["sentences"]:
        assert record["text"][s["start"]:s["end"]] == s["text"]


def test_cli_stdin_with_input_format(run_cli):
    proc = run_cli("text", "-", "--input-format", "markdown", input="# Head\n\nSome **bold** text.\n")
    assert proc.returncode == 0, proc.err
    assert proc.out == "Head\n\nSome bold text.\n"
    proc = run_cli("text", "-", "--input-format", "rtf", input="x")
    assert proc.returncode == 2 and "rtf" in proc.err


def test_cli_mixed_inputs_one_bad(run_cli, tmp_path):
    good = tmp_path / "notes.md"
    good.write_text("# Notes\n\nThe river rose. The town was flooded.\n", encoding="utf-8")
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_pdf([[]]))
    proc = run_cli("text", good, scan, "--format", "jsonl")
    assert proc.returncode == 3
    rows = [json.loads(line) for line in proc.out.splitlines()]
    assert [r["format"] for r in rows] == ["markdown"]
    assert "scan.pdf: this PDF has no text layer" in proc.err


def test_ask_reports_format(run_cli, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf([["The Loire is the longest river in France.",
                                "It flows through Orleans and Tours."]]))
    proc = run_cli("ask", "Which is the longest river in France?", path, "--retrieval-only",
                   "--format", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert result["format"] == "pdf" and "Loire" in result["answers"][0]["text"]


# --- URLs -----------------------------------------------------------------------------------


def test_url_html_page(run_cli, http_server):
    http_server.routes["/story"] = (200, {"Content-Type": "text/html; charset=utf-8"}, HTML)
    proc = run_cli("text", http_server.url + "/story", "--format", "json")
    assert proc.returncode == 0, proc.err
    record = json.loads(proc.out)
    assert record["format"] == "html" and record["source"] == http_server.url + "/story"
    assert ARTICLE_SENTENCES[0] in record["text"] and "cookies" not in record["text"]


def test_url_follows_a_few_redirects_but_not_a_loop(http_server):
    http_server.routes["/a"] = (302, {"Location": "/b"}, b"")
    http_server.routes["/b"] = (301, {"Location": "/doc.md"}, b"")
    http_server.routes["/doc.md"] = (200, {"Content-Type": "text/plain"}, b"# Hi\n\nThere *you* are.")
    doc = read_document(http_server.url + "/a")
    assert doc.format == "markdown" and doc.text == "Hi\n\nThere you are."
    http_server.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(InputError, match="more than 5 redirects"):
        read_document(http_server.url + "/loop")


@pytest.mark.parametrize("status,reason", [(404, "Not Found"), (500, "Internal Server Error")])
def test_url_http_errors(run_cli, http_server, status, reason):
    http_server.routes["/x"] = (status, {"Content-Type": "text/html"}, b"<p>error page</p>")
    proc = run_cli("summarize", http_server.url + "/x")
    assert proc.returncode == 3
    assert proc.err.strip() == f"bertcli: error: {http_server.url}/x: HTTP {status} {reason}"


def test_url_non_text_content(http_server):
    http_server.routes["/logo"] = (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(InputError, match="unsupported content type image/png"):
        read_document(http_server.url + "/logo")


def test_url_pdf_by_content_type(http_server):
    http_server.routes["/download?id=7"] = (
        200, {"Content-Type": "application/pdf"}, make_pdf([["Minutes of the May meeting."]]))
    doc = read_document(http_server.url + "/download?id=7")
    assert doc.format == "pdf" and doc.text == "Minutes of the May meeting."


def test_url_size_limit(http_server):
    http_server.routes["/big"] = (200, {"Content-Type": "text/plain"}, b"word " * 5000)
    with pytest.raises(InputError, match="larger than the 1,000-byte limit"):
        read_document(http_server.url + "/big", max_bytes=1000)

    def no_length(handler):  # streamed without Content-Length: the limit still holds
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        for _ in range(100):
            handler.wfile.write(b"x" * 1000)

    http_server.routes["/stream"] = no_length
    with pytest.raises(InputError, match="larger than the 10,000-byte limit"):
        read_document(http_server.url + "/stream", max_bytes=10_000)


def test_url_without_extractable_text(http_server):
    http_server.routes["/blank"] = (200, {"Content-Type": "text/html"}, b"<html><body></body></html>")
    with pytest.raises(InputError, match="no extractable text"):
        read_document(http_server.url + "/blank")


def test_url_refused():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InputError, match="connection refused by 127.0.0.1"):
        read_document(f"http://127.0.0.1:{port}/page")


def test_url_timeout(run_cli, http_server):
    def slow(handler):
        time.sleep(3)
        handler.send_response(200)
        handler.end_headers()

    http_server.routes["/slow"] = slow
    began = time.monotonic()
    proc = run_cli("text", http_server.url + "/slow", env={"BERTCLI_HTTP_TIMEOUT": "0.5"})
    assert proc.returncode == 3 and "timeout" in proc.err
    assert time.monotonic() - began < 3


def test_url_dns_failure(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # in-process: nothing is looked up
    with pytest.raises(InputError, match="cannot resolve host news.example.org"):
        read_document("https://news.example.org/story")
