"""Hostile input (issue #20): each family a tester found that did not hold up, kept as a
regression suite. Servers bind 127.0.0.1 only, are started and stopped by the test, and every
network test is bounded by short timeouts."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time

import pytest

from bertcli.errors import InputError
from bertcli.read.fetch import fetch, timeout_default


@contextlib.contextmanager
def raw_server(handle, lifetime: float = 8.0):
    """A TCP server on 127.0.0.1 that hands each connection to `handle(conn)`; every
    connection is closed after `lifetime` seconds at most, and the server when the test ends."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()
    conns = []

    def serve_one(conn):
        conn.settimeout(lifetime)
        try:
            conn.recv(65536)  # the request
            handle(conn, stop)
        except OSError:
            pass
        finally:
            conn.close()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()


def _drip(conn, stop, limit=6.0):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
    began = time.monotonic()
    while not stop.is_set() and time.monotonic() - began < limit:
        conn.sendall(b"a")
        time.sleep(0.1)


# --- 1. slow drip ---------------------------------------------------------------------

def test_slow_drip_download_is_capped_at_three_timeouts():
    with raw_server(_drip) as url:
        began = time.monotonic()
        with pytest.raises(InputError) as caught:
            fetch(url + "/drip.txt", 10_000_000, timeout=0.4)
        elapsed = time.monotonic() - began
    assert caught.value.message == f"{url}/drip.txt: download took longer than 1.2 s (3 x $BERTCLI_HTTP_TIMEOUT)"
    assert elapsed < 3.0


def _drip_headers(conn, stop, limit=6.0):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    began = time.monotonic()
    while not stop.is_set() and time.monotonic() - began < limit:
        conn.sendall(b"X-A: b\r\n")
        time.sleep(0.1)


def test_slow_drip_headers_are_capped_too():
    with raw_server(_drip_headers) as url:
        began = time.monotonic()
        with pytest.raises(InputError, match="download took longer than 1.2 s"):
            fetch(url + "/", 10_000_000, timeout=0.4)
        assert time.monotonic() - began < 3.0


# --- 7. malformed URLs ------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://[::1/", "http://[::1", "http://a..b/",
                                 "http://" + "a" * 300 + ".com/", "http://host:99999/",
                                 "http://exa mple.com/"])
def test_malformed_url_is_one_line_input_error(url):
    with pytest.raises(InputError) as caught:
        fetch(url, 1000, timeout=0.5)
    assert caught.value.message.startswith(url + ": ")
    assert "not a valid URL" in caught.value.message or "cannot" in caught.value.message


def _redirect_to_bad(conn, stop):
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n")


def test_redirect_to_malformed_url():
    with raw_server(_redirect_to_bad) as url:
        with pytest.raises(InputError) as caught:
            fetch(url + "/r", 1000, timeout=1)
    assert caught.value.message.startswith(f"{url}/r: not a valid URL")


def test_malformed_url_fails_only_that_input(run_cli, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("The river rose in the night and the town was flooded.\n", encoding="utf-8")
    proc = run_cli("text", "http://[::1/", str(good), timeout=60)
    assert proc.returncode == 3
    assert proc.err == "bertcli: error: http://[::1/: not a valid URL\n"
    assert "The river rose" in proc.out


# --- 10. BERTCLI_HTTP_TIMEOUT=inf -------------------------------------------------------

@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e400", "-3"])
def test_http_timeout_env_is_finite(monkeypatch, value):
    monkeypatch.setenv("BERTCLI_HTTP_TIMEOUT", value)
    assert 0 < timeout_default() <= 86400


def test_http_timeout_env_that_is_not_a_number_is_an_error(monkeypatch):
    from bertcli.errors import UsageError

    monkeypatch.setenv("BERTCLI_HTTP_TIMEOUT", "abc")
    with pytest.raises(UsageError, match=r"\$BERTCLI_HTTP_TIMEOUT='abc' is not a number of seconds"):
        timeout_default()


def test_http_timeout_inf_fetches(monkeypatch, http_server):
    monkeypatch.setenv("BERTCLI_HTTP_TIMEOUT", "inf")
    http_server.routes["/a.txt"] = (200, {"Content-Type": "text/plain"}, b"hello there")
    assert fetch(http_server.url + "/a.txt", 1000).data == b"hello there"


# --- 14. network messages ---------------------------------------------------------------

def _stalled_body(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nabc")
    stop.wait(4)


def test_stalled_body_is_a_timeout():
    with raw_server(_stalled_body) as url:
        with pytest.raises(InputError) as caught:
            fetch(url + "/s", 10_000, timeout=0.4)
    assert caught.value.message == f"{url}/s: no answer within 0.4 s (timeout)"


def _short_body(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nabcde")


def test_short_body_is_an_incomplete_download():
    with raw_server(_short_body) as url:
        with pytest.raises(InputError) as caught:
            fetch(url + "/s", 10_000, timeout=1)
    assert caught.value.message == (f"{url}/s: the server closed the connection after 5 of 1,000 "
                                    "bytes (incomplete download)")


def _long_header(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\nhi")


def _many_headers(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(150))
                 + b"Content-Length: 2\r\n\r\nhi")


@pytest.mark.parametrize("handler, why", [(_long_header, "a header line is too long"),
                                          (_many_headers, "more than 100 headers")])
def test_malformed_headers_are_named(handler, why):
    with raw_server(handler) as url:
        with pytest.raises(InputError) as caught:
            fetch(url + "/h", 10_000, timeout=1)
    assert caught.value.message == f"{url}/h: malformed HTTP response from 127.0.0.1 ({why})"


def test_bad_charset_names_the_url(http_server):
    from bertcli.read.document import read_document

    http_server.routes["/c.txt"] = (200, {"Content-Type": "text/plain; charset=no-such-codec"},
                                    b"The river rose in the night.")
    doc = read_document(http_server.url + "/c.txt")  # an unknown declared charset is ignored
    assert doc.text == "The river rose in the night."
    http_server.routes["/c.html"] = (200, {"Content-Type": "text/html; charset=no-such-codec"},
                                     b"<html><body><p>The river rose in the night.</p></body></html>")
    assert read_document(http_server.url + "/c.html").text == "The river rose in the night."


# --- 8. malformed SQuAD files -------------------------------------------------------------

def _squad(paragraph) -> dict:
    return {"version": "1.1", "data": [{"title": "T", "paragraphs": [paragraph]}]}


GOOD_QA = {"id": "q1", "question": "Who?", "answers": [{"text": "Rollo", "answer_start": 0}]}


@pytest.mark.parametrize("paragraph, where", [
    ({"qas": [GOOD_QA]}, 'article 1, paragraph 1: no "context"'),
    ({"context": "Rollo led.", "qas": [{"question": "Who?", "answers": []}]},
     'article 1, paragraph 1, question 1: no "id"'),
    ({"context": 7, "qas": [GOOD_QA]}, 'article 1, paragraph 1: "context" is int, not a string'),
    ({"context": "Rollo led.", "qas": [dict(GOOD_QA, answers=[{"text": "Rollo", "answer_start": "x"}])]},
     'article 1, paragraph 1, question 1, answer 1: "answer_start" is str, not an integer'),
    ({"context": "Rollo led.", "qas": [dict(GOOD_QA, answers=[{"text": "Rollo", "answer_start": 99}])]},
     "article 1, paragraph 1, question 1, answer 1: answer_start 99 is outside its paragraph (0-10)"),
    ({"context": "Rollo led.", "qas": [dict(GOOD_QA, answers="Rollo")]},
     'article 1, paragraph 1, question 1: "answers" is str, not a list'),
    ({"context": "   ", "qas": [GOOD_QA]}, "article 1, paragraph 1: empty context"),
    ("not a paragraph", "article 1, paragraph 1: not a JSON object"),
])
def test_malformed_squad_records_are_named(tmp_path, run_cli, paragraph, where):
    import json

    from bertcli.eval import squad

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_squad(paragraph)), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        squad.load_articles(path)
    assert caught.value.message == f"{path}: not a SQuAD JSON file ({where})"


def test_eval_ask_malformed_squad_is_exit_3(tmp_path, run_cli):
    import json

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_squad({"qas": [GOOD_QA]})), encoding="utf-8")
    proc = run_cli("eval", "ask", path, "--offline", timeout=120)
    assert proc.returncode == 3, proc.err
    assert proc.err == f'bertcli: error: {path}: not a SQuAD JSON file (article 1, paragraph 1: no "context")\n'


# --- 9. closed or full stdout/stderr, and pipes closed early -------------------------------

def test_closed_stdout_is_one_line(tmp_path, new_user_env):
    import subprocess

    from tests.conftest import bertcli_exe

    doc = tmp_path / "a.txt"
    doc.write_text("The river rose in the night and the town was flooded.\n", encoding="utf-8")
    proc = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *bertcli_exe(), "text", str(doc)],
                          capture_output=False, stderr=subprocess.PIPE, timeout=60, env=new_user_env)
    err = proc.stderr.decode()
    assert proc.returncode == 74
    assert err == ("bertcli: error: stdout is closed; nothing can be written "
                   "(redirect it to a file or /dev/null)\n")


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_full_stdout_is_one_line(tmp_path, new_user_env):
    import subprocess

    from tests.conftest import bertcli_exe

    doc = tmp_path / "a.txt"
    doc.write_text("The river rose in the night and the town was flooded.\n", encoding="utf-8")
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(bertcli_exe() + ["text", str(doc)], stdout=full, stderr=subprocess.PIPE,
                              timeout=60, env=new_user_env)
    assert proc.returncode == 74
    assert proc.stderr.decode() == "bertcli: error: cannot write the output to stdout (No space left on device)\n"


def test_closed_stderr_keeps_notices_out_of_stdout(tmp_path, new_user_env):
    import subprocess

    from tests.conftest import bertcli_exe

    doc = tmp_path / "a.txt"
    doc.write_text("The river rose in the night and the town was flooded.\n", encoding="utf-8")
    proc = subprocess.run(["sh", "-c", 'exec "$@" 2>&-', "sh", *bertcli_exe(), "text", str(doc),
                           str(tmp_path / "missing.txt")], capture_output=True, timeout=60, env=new_user_env)
    assert proc.returncode == 3
    assert proc.stdout.decode() == "==> " + str(doc) + " <==\nThe river rose in the night and the town was flooded.\n"
    proc = subprocess.run(["sh", "-c", 'exec "$@" 2>&-', "sh", *bertcli_exe(), "text", str(doc)],
                          capture_output=True, timeout=60, env=new_user_env)
    assert proc.returncode == 0


@pytest.mark.parametrize("args", [["--help"], ["summarize", "--help"], ["--version"], []])
def test_reader_gone_early_is_141(new_user_env, args):
    import subprocess

    from tests.conftest import bertcli_exe

    proc = subprocess.Popen(bertcli_exe() + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=new_user_env)
    proc.stdout.close()  # `| head -0`: the reader is gone before anything is written
    assert proc.wait(timeout=60) == 141


# --- 15. UTF-16 / UTF-32 with a BOM ---------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_bom_names_the_encoding(tmp_path, encoding):
    import codecs

    from bertcli.read.document import read_document

    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    path = tmp_path / "bom.txt"
    path.write_bytes(bom + "Café au lait.\r\nSecond line.".encode(encoding))
    assert read_document(str(path)).text == "Café au lait.\nSecond line."


def test_utf16_without_bom_hints_the_encoding(tmp_path):
    from bertcli.read.document import read_document

    path = tmp_path / "le.txt"
    path.write_bytes("Hello there.".encode("utf-16-le"))
    with pytest.raises(InputError, match=r"pass --encoding utf-16"):
        read_document(str(path))


# --- 18. option parse errors: one line, exit 2 ----------------------------------------------

@pytest.mark.parametrize("args, message", [
    # bertcli's own wording (bertcli/cli/usage_errors.py), as its library errors say it
    (["summarize", "-n", "abc", "x.txt"], "-n/--num-sentences wants a whole number ("),
    (["summarize", "--ratio", "half", "x.txt"], "--ratio wants a number ("),
    (["summarize", "--device", "tpu", "x.txt"], "--device tpu: choose one of auto, cpu, cuda, mps ("),
    (["text", "-f", "xml", "x.txt"], "-f/--format xml: choose one of text, json, jsonl, markdown ("),
    (["text", "--nope", "x.txt"], "unknown option --nope"),
    (["text"], "missing INPUTS ("),
    (["nosuch"], "no such command 'nosuch' ("),
])
def test_option_errors_are_one_line(run_cli, args, message):
    proc = run_cli(*args, timeout=60)
    assert proc.returncode == 2
    lines = proc.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bertcli: error: " + message), proc.err
    assert lines[0].endswith("--help')") and proc.out == ""


# --- 19. --limit and --max-bytes ranges ------------------------------------------------------

@pytest.mark.parametrize("limit", ["0", "-3"])
def test_eval_summarize_limit_must_be_positive(run_cli, limit, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"article": "A b c d e f.", "highlights": "A b."}\n', encoding="utf-8")
    proc = run_cli("eval", "summarize", data, "--limit", limit, "-s", "lead", "--offline", timeout=60)
    assert proc.returncode == 2
    assert proc.err == f"bertcli: error: --limit must be at least 1, got {limit}\n"


@pytest.mark.parametrize("command", ["text", "summarize"])
def test_negative_max_bytes_is_a_usage_error(run_cli, command, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("The river rose in the night and the town was flooded.\n", encoding="utf-8")
    proc = run_cli(command, doc, "--max-bytes", "-1", timeout=60)
    assert proc.returncode == 2
    assert proc.err == "bertcli: error: --max-bytes must be at least 1, got -1\n"


# --- 20. ask --retrieval-only with an unusable explicit model --------------------------------

def test_retrieval_only_checks_an_explicit_model(run_cli, tmp_path):
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    doc = tmp_path / "a.txt"
    doc.write_text("The river rose in the night and the town was flooded.\n", encoding="utf-8")
    proc = run_cli("ask", "--retrieval-only", "-m", empty, "What rose?", doc, timeout=120)
    assert proc.returncode == 4
    assert proc.err.startswith(f"bertcli: error: {empty}: ") and len(proc.err.splitlines()) == 1
    proc = run_cli("ask", "--retrieval-only", "-m", tmp_path / "nope", "What rose?", doc, timeout=120)
    assert (proc.returncode, proc.err) == (4, f"bertcli: error: {tmp_path / 'nope'}: no such model directory\n")


# --- 21. --offline never downloads -----------------------------------------------------------

def test_offline_refuses_urls(run_cli, http_server, tmp_path):
    hits = []

    def page(handler):
        hits.append(handler.path)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        handler.wfile.write(b"The river rose in the night and the town was flooded.")

    http_server.routes["/a.txt"] = page
    doc = tmp_path / "a.txt"
    doc.write_text("The river rose in the night and the town was flooded.\n", encoding="utf-8")
    url = http_server.url + "/a.txt"
    proc = run_cli("summarize", "--offline", "-s", "lead", url, doc, timeout=120)
    assert proc.returncode == 3 and hits == []
    message = f"{url}: not downloaded: --offline (or HF_HUB_OFFLINE=1) never uses the network"
    assert f"bertcli: error: {message}\n" in proc.err
    assert "flooded" in proc.out
    # `text` takes --offline too (a user told to pass it everywhere must not get a usage error)
    proc = run_cli("text", "--offline", url, doc, timeout=60)
    assert proc.returncode == 3 and hits == [] and "flooded" in proc.out


# --- 22. stdin twice -------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["summarize", "text"])
def test_stdin_twice_is_refused(run_cli, command):
    proc = run_cli(command, "-", "-", input="The river rose in the night and the town was flooded.\n",
                   timeout=60)
    assert (proc.returncode, proc.err, proc.out) == (2, "bertcli: error: stdin (-) can be read only once\n", "")


# --- 24. eval ask --predictions: checked first, written with the umask -----------------------

def test_predictions_to_a_directory_is_refused_first(run_cli, tmp_path):
    data = tmp_path / "d.json"
    data.write_text('{"data": []}', encoding="utf-8")
    proc = run_cli("eval", "ask", data, "--predictions", tmp_path, "--offline", timeout=60)
    assert (proc.returncode, proc.err) == (3, f"bertcli: error: {tmp_path}: cannot write (is a directory)\n")


def test_predictions_path_checked_before_work(run_cli, tmp_path):
    import os

    target = tmp_path / "locked"
    target.mkdir()
    target.chmod(0o500)
    try:
        if os.access(target, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        proc = run_cli("eval", "ask", tmp_path / "missing.json", "--predictions", target / "p.json",
                       "--offline", timeout=60)
    finally:
        target.chmod(0o700)
    assert proc.returncode == 3
    assert proc.err == f"bertcli: error: {target / 'p.json'}: cannot write (Permission denied)\n"


def test_predictions_file_mode_follows_umask(tmp_path):
    import os

    from bertcli.files import write_atomically

    old = os.umask(0o022)
    try:
        write_atomically(str(tmp_path / "p.json"), "{}\n")
    finally:
        os.umask(old)
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o644


# --- 11/12. encrypted and empty PDFs ----------------------------------------------------------

def _encrypted_pdf(user_password: str, algorithm: str) -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    from tests.conftest import make_pdf

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["The river rose in the night."]]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("algorithm", ["AES-128", "AES-256", "RC4-128"])
def test_pdf_with_empty_user_password_opens(tmp_path, algorithm):
    from bertcli.read.document import read_document

    path = tmp_path / "open.pdf"
    path.write_bytes(_encrypted_pdf("", algorithm))
    assert read_document(str(path)).text == "The river rose in the night."


@pytest.mark.parametrize("algorithm", ["AES-128", "RC4-128"])
def test_pdf_with_a_password_says_so(tmp_path, algorithm):
    from bertcli.read.document import read_document

    path = tmp_path / "locked.pdf"
    path.write_bytes(_encrypted_pdf("secret", algorithm))
    with pytest.raises(InputError) as caught:
        read_document(str(path))
    assert caught.value.message == (f"{path}: this PDF is protected by a password; remove it first "
                                    "(e.g. qpdf --decrypt --password=PASSWORD in.pdf out.pdf)")


def test_pdf_without_pages(tmp_path):
    from bertcli.read.document import read_document
    from tests.conftest import make_pdf

    path = tmp_path / "none.pdf"
    path.write_bytes(make_pdf([]))
    with pytest.raises(InputError) as caught:
        read_document(str(path))
    assert caught.value.message == f"{path}: this PDF has no pages"


# --- 13. deeply nested HTML --------------------------------------------------------------------

@pytest.mark.parametrize("depth", [300, 3000])
def test_deeply_nested_html_keeps_its_text(tmp_path, depth):
    from bertcli.read.document import read_document

    path = tmp_path / "deep.html"
    path.write_text("<html><body><nav>Home | About</nav>" + "<div class='w'>" * depth
                    + "<p>The river rose in the night and the town was flooded by the water.</p>"
                    + "</div>" * depth + "</body></html>", encoding="utf-8")
    assert read_document(str(path)).text == "The river rose in the night and the town was flooded by the water."


# --- 6. Markdown memory ------------------------------------------------------------------------

RICH_MARKDOWN = """---
title: front matter
---
# Heading one

A paragraph with a [reference link][ref] and *emphasis*,
continued on a second line.

```python
code block

with a blank line inside
```

| a | b |
| --- | --- |
| 1 | one two |
| 2 | three |
| 3 | four |

- item one
- item two
  continued

<!-- a comment

spanning a blank line -->

> quoted text
> more

1. first
2. second

[ref]: http://example.org
"""


def test_markdown_in_pieces_reads_the_same(monkeypatch):
    from bertcli.read import formats

    whole = formats.markdown_to_text(RICH_MARKDOWN * 3)
    monkeypatch.setattr(formats, "MARKDOWN_WHOLE", 0, raising=False)
    monkeypatch.setattr(formats, "MARKDOWN_PIECE", 30, raising=False)
    assert formats.markdown_to_text(RICH_MARKDOWN * 3) == whole
    # code is kept as its own block (issue #35), the same whether read whole or in pieces
    assert "code block" in whole and "reference link" in whole and "[ref]" not in whole


def test_markdown_table_memory_is_bounded(monkeypatch):
    import tracemalloc

    from bertcli.read import formats

    table = "| id | word | text |\n| --- | --- | --- |\n" + "".join(
        f"| {i} | w{i % 7} | The river rose {i} times |\n" for i in range(6000))
    monkeypatch.setattr(formats, "MARKDOWN_WHOLE", 20_000, raising=False)
    monkeypatch.setattr(formats, "MARKDOWN_PIECE", 10_000, raising=False)
    formats.markdown_to_text(table[:2000])  # imports and parser set-up, not measured here
    tracemalloc.start()
    try:
        text = formats.markdown_to_text(table)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert text.count("\n\n") == 6000 and text.startswith("id | word | text\n\n0 | w0 |")
    assert peak < 25 * len(table), f"peak {peak:,} bytes for {len(table):,} characters"


# --- fuzz: inputs and options for `text` and `summarize`, never a traceback --------------------

FUZZ_EXAMPLES = int(__import__("os").environ.get("BERTCLI_FUZZ_EXAMPLES", "300"))


def _fuzz_inputs():
    from hypothesis import strategies as st

    from tests.conftest import make_pdf

    words = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
    prose = st.lists(st.sampled_from([
        "The river rose in the night and the town was flooded.", "By . Jane Doe .", "Click here!",
        "# Heading", "| a | b |\n| --- | --- |\n| 1 | 2 |", "<p>A paragraph of HTML text here.</p>",
        "<div>" * 300, "```\ncode\n", "\n\n", "\r\n", "\ufeff", "\x00", "…", "(CNN) -- ", "Mr. Smith went.",
    ]), max_size=12).map("".join)
    return st.one_of(
        st.binary(max_size=600),
        words.map(lambda t: t.encode("utf-8")),
        prose.map(lambda t: t.encode("utf-8")),
        prose.map(lambda t: t.encode("utf-16")),
        prose.map(lambda t: t.encode("latin-1", errors="replace")),
        st.lists(st.lists(words.map(lambda t: t.encode("latin-1", "replace").decode("latin-1")),
                          max_size=3), max_size=3).map(make_pdf),
        st.binary(max_size=200).map(lambda b: b"%PDF-1.4\n" + b),
    )


def _fuzz_options():
    from hypothesis import strategies as st

    def option(name, values):
        return st.tuples(st.just(name), values).map(list)

    numbers = st.one_of(st.integers(-3, 8).map(str), st.sampled_from(["abc", "", "1e3", "0x3"]))
    fractions = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str),
                          st.sampled_from(["0", "1", "0.5", "x"]))
    return st.lists(st.one_of(
        option("-n", numbers), option("--ratio", fractions),
        option("--max-bytes", st.sampled_from(["-1", "0", "1", "10", "100000", "x"])),
        option("--encoding", st.sampled_from(["utf-8", "latin-1", "utf-16", "utf-32", "ascii", "no-such"])),
        option("-i", st.sampled_from(["text", "html", "markdown", "pdf", "xml"])),
        option("-f", st.sampled_from(["text", "json", "jsonl", "markdown", "xml"])),
    ), max_size=4).map(lambda pairs: [x for pair in pairs for x in pair])


@pytest.mark.slow
def test_fuzz_text_and_summarize_never_trace(tmp_path, monkeypatch):
    import io

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from bertcli import cli

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BERTCLI_NO_ONNX", "1")
    seen = {"examples": 0, "codes": {}}

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=_fuzz_inputs(), ext=st.sampled_from([".txt", ".md", ".html", ".pdf", ""]),
           command=st.sampled_from(["text", "summarize"]), options=_fuzz_options(),
           stdin=st.booleans())
    def check(data, ext, command, options, stdin):
        path = tmp_path / f"input{ext}"
        path.write_bytes(data)
        args = [command, "-" if stdin else str(path), *options]
        if command == "summarize":
            args += ["-s", "lead", "--offline"]
        out, err = io.StringIO(), io.StringIO()
        saved = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(data))
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.run(args)
        finally:
            sys.stdin = saved
        message = err.getvalue()
        assert "Traceback" not in message and "error: unexpected" not in message, (args, message)
        assert code in (0, 2, 3), (args, code, message)
        errors = [line for line in message.splitlines() if line.startswith("bertcli: error: ")]
        assert (code == 0) == (not errors), (args, code, message)
        seen["examples"] += 1
        seen["codes"][code] = seen["codes"].get(code, 0) + 1

    check()
    print(f"fuzz: {seen['examples']} examples, exit codes {seen['codes']}")
    assert seen["examples"] >= FUZZ_EXAMPLES // 2


# --- 17. the ONNX cache: damaged copies, full disks, interrupted runs ---------------------------

@pytest.fixture()
def onnx_env(tmp_path, monkeypatch, tiny_encoder_dir):
    from bertcli.models import ResolvedModel

    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTCLI_NO_ONNX", raising=False)
    return ResolvedModel(str(tiny_encoder_dir), tiny_encoder_dir, "directory")


@pytest.mark.parametrize("damage", ["truncated int8", "meta", "tokenizer"])
def test_damaged_onnx_copy_is_prepared_again_once(onnx_env, damage):
    from bertcli.backends import onnx_backend as fast

    notices = []
    assert fast.load_fast_encoder(onnx_env, "int8", notices.append) is not None
    folder = fast.prepared_dir(onnx_env)
    if damage == "truncated int8":
        path = folder / fast.onnx_file("int8")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        (folder / ("meta.json" if damage == "meta" else "tokenizer.json")).write_text("{", encoding="utf-8")
    notices.clear()
    encoder = fast.load_fast_encoder(onnx_env, "int8", notices.append)
    assert encoder is not None and encoder.session is not None
    assert len(notices) == 2 and "is damaged" in notices[0] and "preparing it again" in notices[0]
    notices.clear()
    assert fast.load_fast_encoder(onnx_env, "int8", notices.append).session is not None
    assert notices == []  # repaired for good


def test_full_disk_is_not_exported_on_every_run(onnx_env, monkeypatch):
    import errno

    from bertcli.backends import onnx_backend as fast
    from bertcli.backends import torch_export as hf

    calls = []

    def full(*args, **kwargs):
        calls.append(1)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hf, "export_encoder_onnx", full)
    notices = []
    assert fast.load_fast_encoder(onnx_env, "int8", notices.append) is None
    assert fast.load_fast_encoder(onnx_env, "int8", notices.append) is None
    assert len(calls) == 1 and "No space left on device" in notices[-1]


def test_stale_prepare_folders_are_removed(onnx_env, tmp_path):
    import os

    from bertcli.backends import onnx_backend as fast

    parent = tmp_path / "cache" / "onnx"
    stale, fresh = parent / ".prepare-stale", parent / ".prepare-fresh"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "encoder.fp32.onnx").write_bytes(b"x" * 1000)
    old = time.time() - 2 * fast.STALE_WORK_S if hasattr(fast, "STALE_WORK_S") else time.time() - 7200
    os.utime(stale, (old, old))
    assert fast.load_fast_encoder(onnx_env, "fp32", lambda m: None) is not None
    assert not stale.exists() and fresh.exists()  # a fresh one may be another run's, in flight
