"""A server fetches only public addresses (bertcli.read.fetch_guard), redirects and DNS
answers included; the CLI fetches what its user typed, but follows redirects only to http(s)."""

from __future__ import annotations

import socket

import pytest

from bertcli.errors import InputError
from bertcli.read import fetch_guard
from bertcli.read.fetch import fetch

DOC = b"The river rose in the night and the town was flooded.\n"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.5", "169.254.169.254", "0.0.0.0",
    "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1",
    "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::a00:1",
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",
])
def test_private_loopback_and_link_local_addresses_are_refused(address):
    assert fetch_guard.blocked_reason(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert fetch_guard.blocked_reason(address) is None


def served(http_server, body: bytes = DOC) -> str:
    http_server.routes["/doc.txt"] = (200, {"Content-Type": "text/plain"}, body)
    return http_server.url + "/doc.txt"


def test_server_fetch_refuses_loopback_while_the_cli_fetch_allows_it(http_server):
    url = served(http_server)
    assert fetch(url, 10_000).data == DOC
    with pytest.raises(InputError, match=r"refused: 127\.0\.0\.1 is a loopback address"):
        fetch(url, 10_000, public_only=True)
    port = http_server.server_address[1]
    with pytest.raises(InputError, match="is a loopback address"):
        fetch(f"http://[::1]:{port}/doc.txt", 10_000, public_only=True)
    with pytest.raises(InputError, match="resolves to .* loopback"):
        fetch(f"http://localhost:{port}/doc.txt", 10_000, public_only=True)


@pytest.fixture()
def first_hop_allowed(monkeypatch):
    """127.0.0.1 (the test server) counts as public; every other address is checked as usual."""
    real = fetch_guard.blocked_reason
    monkeypatch.setattr(fetch_guard, "blocked_reason", lambda a: None if a == "127.0.0.1" else real(a))


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
                                    "http://[::1]:9/x", "http://[fd00::1]/"])
def test_a_redirect_to_a_private_address_is_refused(http_server, first_hop_allowed, target):
    http_server.routes["/go"] = (302, {"Location": target}, b"")
    with pytest.raises(InputError, match=r"refused: .*(redirected to .*)? \(this server fetches only public"):
        fetch(http_server.url + "/go", 10_000, public_only=True)


def test_the_checked_address_is_the_one_connected_to(http_server, monkeypatch, first_hop_allowed):
    """DNS rebinding: the name is resolved once per connection; a second answer (here a private
    one) is never asked for, and the Host header keeps the name."""
    port = http_server.server_address[1]
    hosts: list[str] = []

    def handler(request):
        hosts.append(request.headers["Host"])
        request.send_response(200)
        request.send_header("Content-Type", "text/plain")
        request.send_header("Content-Length", str(len(DOC)))
        request.end_headers()
        request.wfile.write(DOC)

    http_server.routes["/doc.txt"] = handler
    answers = iter(["127.0.0.1", "10.9.9.9"])
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolve(host, *args, **kwargs):
        if host != "docs.example.test":
            return real(host, *args, **kwargs)
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    fetched = fetch(f"http://docs.example.test:{port}/doc.txt", 10_000, public_only=True)
    assert fetched.data == DOC
    assert asked == ["docs.example.test"]
    assert hosts == [f"docs.example.test:{port}"]


def test_server_fetch_keeps_the_size_limit_and_the_timeout(http_server, first_hop_allowed):
    url = served(http_server, DOC * 100)
    with pytest.raises(InputError, match="larger than the 1,000-byte limit"):
        fetch(url, 1_000, public_only=True)
    import threading

    release = threading.Event()

    def stall(request):
        release.wait(30)  # never answers while the client waits

    http_server.routes["/slow"] = stall
    try:
        with pytest.raises(InputError, match=r"no answer within 0\.2 s|took longer than 0\.6 s"):
            fetch(http_server.url + "/slow", 10_000, timeout=0.2, public_only=True)
    finally:
        release.set()


@pytest.mark.parametrize("public_only", [False, True])
def test_redirects_go_only_to_http_urls(http_server, first_hop_allowed, public_only):
    http_server.routes["/file"] = (302, {"Location": "file:///etc/passwd"}, b"")
    http_server.routes["/ftp"] = (301, {"Location": "ftp://example.org/doc.txt"}, b"")
    for path in ("/file", "/ftp"):
        with pytest.raises(InputError, match="redirected to .*, not an http\\(s\\) URL"):
            fetch(http_server.url + path, 10_000, public_only=public_only)
    with pytest.raises(InputError, match="not an http\\(s\\) URL"):
        fetch("file:///etc/passwd", 10_000)


def test_the_cli_follows_a_redirect_to_loopback(http_server):
    url = served(http_server)
    http_server.routes["/go"] = (302, {"Location": url}, b"")
    assert fetch(http_server.url + "/go", 10_000).url == url
