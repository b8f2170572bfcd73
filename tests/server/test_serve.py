"""`bertcli serve`: the API gives the CLI's JSON, refuses bad requests in one line and keeps
serving, checks its token, and stops cleanly on SIGTERM / SIGINT."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
import warnings

import pytest

pytest.importorskip("fastapi")
with warnings.catch_warnings():  # starlette >= 1.x suggests httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from bertcli.errors import UsageError  # noqa: E402
from bertcli.server import Service, create_app, is_loopback, listening_socket  # noqa: E402

from ..conftest import EXAMPLE, bertcli_exe, default_sigint  # noqa: E402

TEXT = ("The Normans were the people who gave their name to Normandy, a region in France. "
        "They descended from Norse raiders led by Rollo. Rollo swore fealty to King Charles III "
        "of West Francia in 911. The duchy became a great power in the 11th century.\n")


@pytest.fixture(scope="module")
def service(tiny_qa_dir, tiny_encoder_dir):
    return Service(model=str(tiny_encoder_dir), reader=str(tiny_qa_dir), device="cpu", offline=True,
                   max_bytes=200_000)


@pytest.fixture(scope="module")
def client(service):
    with TestClient(create_app(service)) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ask_and_summarize_give_the_clis_json(client, run_cli, tiny_qa_dir, tiny_encoder_dir, tmp_path):
    """Byte for byte what `ask -f json` / `summarize -f json` print for the text on stdin."""
    question = "Who led the Norse raiders?"
    cli = run_cli("ask", question, "-", "-m", tiny_qa_dir, "--offline", "-f", "json", "-k", "2", input=TEXT)
    assert cli.returncode == 0, cli.err
    api = client.post("/ask", json={"question": question, "text": TEXT, "top_k": 2})
    assert api.status_code == 200
    assert api.headers["content-type"] == "application/json"
    assert api.text == cli.out
    assert json.loads(api.text)["source"] == "-"

    questions = tmp_path / "questions.txt"
    questions.write_text(f"{question}\nWhen did Rollo swear fealty?\n", encoding="utf-8")
    document = tmp_path / "doc.txt"
    document.write_text(TEXT, encoding="utf-8")
    cli = run_cli("ask", "-q", questions, "-", "-m", tiny_qa_dir, "--offline", "-f", "json", input=TEXT)
    assert cli.returncode == 0, cli.err
    api = client.post("/ask", json={"questions": [question, "When did Rollo swear fealty?"], "text": TEXT})
    assert api.text == cli.out
    assert len(api.json()) == 2

    cli = run_cli("summarize", "-", "-m", tiny_encoder_dir, "--offline", "-f", "json", "-n", "2",
                  "-s", "central", input=TEXT)
    assert cli.returncode == 0, cli.err
    api = client.post("/summarize", json={"text": TEXT, "num_sentences": 2, "strategy": "central"})
    assert api.status_code == 200
    assert api.text == cli.out
    assert len(api.json()["sentences"]) == 2


def test_summarize_defaults_and_offsets(client):
    article = EXAMPLE.read_text(encoding="utf-8")
    body = client.post("/summarize", json={"text": article}).json()
    assert len(body["sentences"]) == 3
    for sentence in body["sentences"]:
        assert article[sentence["start"]:sentence["end"]] == sentence["text"]
    lead = client.post("/summarize", json={"text": article, "strategy": "lead", "num_sentences": 1}).json()
    assert lead["strategy"] == "lead" and lead["sentences"][0]["index"] == 0


def test_answers_index_into_the_text(client):
    body = client.post("/ask", json={"question": "Who?", "text": TEXT, "top_k": 3}).json()
    assert body["answers"]
    for answer in body["answers"]:
        assert TEXT[answer["start"]:answer["end"]] == answer["text"]


@pytest.mark.parametrize("path, body, status, needle", [
    ("/ask", b"", 422, "empty request body"),
    ("/ask", b"{not json", 422, "not valid JSON"),
    ("/summarize", b'{"text": "abc', 422, "not valid JSON (Unterminated string starting at, line 1 column 10)"),
    ("/ask", b"\xff\xfe{}", 422, "not valid JSON"),
    ("/ask", b"[" * 100_000, 422, "not valid JSON"),
    ("/ask", b'["a list"]', 422, "must be a JSON object"),
    ("/ask", {"text": TEXT}, 422, '"question"'),
    ("/ask", {"question": "Who?"}, 422, '"text"'),
    ("/ask", {"question": 3, "text": TEXT}, 422, '"question" must be a string'),
    ("/ask", {"question": "Who?", "questions": ["Who?"], "text": TEXT}, 422, "exactly one"),
    ("/ask", {"questions": [], "text": TEXT}, 422, "non-empty list of strings"),
    ("/ask", {"questions": ["Who?", 4], "text": TEXT}, 422, "non-empty list of strings"),
    ("/ask", {"question": "Who?", "text": TEXT, "top_k": "3"}, 422, '"top_k" must be a positive integer'),
    ("/ask", {"question": "Who?", "text": TEXT, "top_k": 0}, 422, '"top_k" must be a positive integer'),
    ("/ask", {"question": "Who?", "text": TEXT, "top_k": True}, 422, '"top_k" must be a positive integer'),
    ("/ask", {"question": "Who?", "text": TEXT, "topk": 3}, 422, "unknown field 'topk'"),
    ("/ask", {"question": "   ", "text": TEXT}, 422, "empty question"),
    ("/ask", {"question": "why " * 400, "text": TEXT}, 422, '"question": question too long'),
    ("/ask", {"questions": ["Who?", "why " * 400], "text": TEXT}, 422, '"questions"[1]: question too long'),
    ("/ask", {"question": "Who?", "text": "  \n "}, 422, "empty document"),
    ("/ask", {"question": "Who?", "text": "PK\x03\x04\x00\x00binary"}, 422, "binary"),
    ("/ask", {"question": "Who?", "text": 12}, 422, '"text" must be a string'),
    ("/ask", {"question": "Who?", "text": TEXT, "url": "http://127.0.0.1:9/"}, 422, "exactly one"),
    ("/ask", {"question": "Who?", "url": "http://127.0.0.1:9/a.txt"}, 403, "--allow-urls"),
    ("/summarize", b'{"text": "\\ud800 lone surrogate"}', 422, "not valid Unicode"),
    ("/summarize", {"text": TEXT, "strategy": "best"}, 422, "'best': choose one of learned, central"),
    ("/summarize", {"text": TEXT, "num_sentences": 2.5}, 422, '"num_sentences" must be a positive integer'),
    ("/summarize", {"text": TEXT, "num_sentences": -1}, 422, '"num_sentences" must be a positive integer'),
    ("/summarize", {"text": "x" * 300_000}, 413, "200,000-byte limit"),
    ("/summarize", {"question": "Who?", "text": TEXT}, 422, "unknown field 'question'"),
])
def test_bad_requests_get_one_line_and_the_server_keeps_serving(client, path, body, status, needle):
    if isinstance(body, bytes):
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    message = response.json()["error"]
    assert needle in message
    assert "\n" not in message and "Traceback" not in message
    assert client.get("/health").status_code == 200


def test_oversized_body_without_content_length_is_refused(client):
    def chunks():
        for _ in range(30):
            yield b"x" * 10_000

    response = client.post("/ask", content=chunks())
    assert response.status_code == 413
    assert "--max-bytes" in response.json()["error"]


def test_unknown_paths_and_methods_are_one_line_json(client):
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    response = client.get("/ask")
    assert response.status_code == 405 and set(response.json()) == {"error"}


def test_urls_are_fetched_only_when_allowed(tiny_qa_dir, tiny_encoder_dir, http_server, monkeypatch):
    # the server fetches only public addresses (tests/server/test_limits.py): let it reach the
    # local test server here, through the same checked connection
    from bertcli.read import fetch_guard

    monkeypatch.setattr(fetch_guard, "blocked_reason", lambda address: None)
    http_server.routes["/doc.txt"] = (200, {"Content-Type": "text/plain"}, TEXT.encode())
    url = http_server.url + "/doc.txt"
    allowed = Service(model=str(tiny_encoder_dir), reader=str(tiny_qa_dir), device="cpu", allow_urls=True)
    with TestClient(create_app(allowed)) as client:
        body = client.post("/summarize", json={"url": url, "num_sentences": 1, "strategy": "lead"}).json()
        assert body["source"] == url
        assert body["sentences"][0]["text"].startswith("The Normans")
        response = client.post("/summarize", json={"url": "file:///etc/passwd"})
        assert response.status_code == 422 and "http(s)" in response.json()["error"]
        response = client.post("/summarize", json={"url": http_server.url + "/missing"})
        assert response.status_code == 422 and "404" in response.json()["error"]


def test_token_is_required_when_set(service):
    with TestClient(create_app(service, token="s3cret")) as client:
        assert client.get("/health").status_code == 401
        wrong = client.post("/ask", json={"question": "Who?", "text": TEXT},
                            headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "token" in wrong.json()["error"]
        assert client.get("/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_concurrent_requests_give_the_same_answers(client):
    questions = ["Who led the Norse raiders?", "When did Rollo swear fealty?", "What is Normandy?"]
    expected = {q: client.post("/ask", json={"question": q, "text": TEXT}).text for q in questions}
    got: list[tuple[str, int, str]] = []

    def worker(i: int) -> None:
        q = questions[i % len(questions)]
        response = client.post("/ask", json={"question": q, "text": TEXT})
        got.append((q, response.status_code, response.text))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(got) == 12
    assert all(status == 200 and text == expected[q] for q, status, text in got)


def test_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_serve_refuses_to_start_beyond_loopback_without_a_token(run_cli):
    proc = run_cli("serve", "--host", "0.0.0.0", "--port", free_port())
    assert proc.returncode == 2
    assert proc.err.strip() == ("bertcli: error: --host 0.0.0.0 serves beyond this machine: "
                                "set --token (or BERTCLI_TOKEN)")


@pytest.mark.parametrize("args, needle", [
    (["--token", " "], "--token must not be empty"),
    (["--port", "70000"], "--port must be in 0..65535, got 70000"),
    (["--max-bytes", "0"], "--max-bytes must be at least 1, got 0"),
])
def test_serve_refuses_bad_options_before_loading_anything(run_cli, args, needle):
    proc = run_cli("serve", *args)
    assert proc.returncode == 2
    assert proc.err.strip() == f"bertcli: error: {needle}"


def test_serve_says_when_the_port_is_taken(run_cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = run_cli("serve", "--port", taken.getsockname()[1], "--offline")
    assert proc.returncode == 2
    assert "cannot listen on 127.0.0.1:" in proc.err and proc.err.count("\n") == 1


@pytest.mark.parametrize("stop, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_real_server_answers_and_stops_cleanly(new_user_env, tiny_qa_dir, tiny_encoder_dir, stop, code):
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        bertcli_exe() + ["serve", "--port", str(port), "--offline", "--reader", str(tiny_qa_dir),
                         "--model", str(tiny_encoder_dir), "--token", "t0k"],
        env=new_user_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=default_sigint)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer t0k"}
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(base + "/health", headers=auth, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        answer = httpx.post(base + "/ask", headers=auth, timeout=60,
                            json={"question": "Who led the raiders?", "text": TEXT})
        assert answer.status_code == 200
        assert answer.json()["model"] == tiny_qa_dir.name or answer.json()["mode"] == "reader"
        assert httpx.post(base + "/ask", json={"question": "Who?", "text": TEXT}, timeout=10).status_code == 401
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err.decode()
    assert b"Traceback" not in err


def test_served_connections_send_without_delay():
    """Connections accepted on the server's socket have TCP_NODELAY (asyncio sets it only for
    sockets whose protocol is TCP): without it each keep-alive response waited ~40 ms for the
    client's delayed ACK."""
    import asyncio

    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        def accepted(reader, writer):
            raw = writer.get_extra_info("socket")
            seen.append(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_a_port_in_use_is_one_line():
    first = listening_socket("127.0.0.1", 0)
    first.listen()
    try:
        with pytest.raises(UsageError, match=r"^cannot listen on 127\.0\.0\.1:\d+ \("):
            listening_socket("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
