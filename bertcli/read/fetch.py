"""Fetch a document from an http(s) URL with a timeout, a size limit and a redirect limit.

Every failure becomes one InputError line that says what went wrong (DNS, refused, timeout,
HTTP status, too large, unsupported content), never a traceback.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from .. import __version__
from ..errors import InputError
from .formats import CONTENT_TYPES, media_type

MAX_REDIRECTS = 5
DEFAULT_TIMEOUT_S = 20.0
CHUNK = 64 * 1024
MAX_TIMEOUT_S = 86400.0  # larger values (or inf) overflow the socket layer


def is_url(source: str) -> bool:
    return source[:8].lower().startswith(("http://", "https://"))


def timeout_default() -> float:
    """$BERTCLI_HTTP_TIMEOUT in seconds: a positive, finite number (capped at a day), else 20."""
    from .. import settings

    return settings.http_timeout(DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S)


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: str | None


def readable(content_type: str | None) -> bool:
    mtype = media_type(content_type)
    return not mtype or mtype in CONTENT_TYPES or mtype.startswith("text/") or mtype.endswith(
        ("+xml", "/xml", "/json"))


def fetch(url: str, max_bytes: int, timeout: float | None = None, any_type: bool = False,
          public_only: bool = False) -> Fetched:
    """GET `url`. `any_type` accepts any Content-Type (the user forced --input-format).
    `public_only` (a server fetching for its clients) connects only to public addresses,
    redirects included (bertcli.read.fetch_guard); the CLI fetches what its user typed.

    The whole download (connect, headers, body) is bounded by 3 x `timeout`: it runs on a
    worker thread, and when the deadline passes the connection is shut down and the input
    fails, however slowly the server drips bytes. Redirects are followed only to http(s)."""
    timeout = min(timeout or timeout_default(), MAX_TIMEOUT_S)
    if not is_url(url):
        raise InputError(f"{url}: not an http(s) URL")
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # "http://[::1/": an unbalanced IPv6 bracket, a bad port, ...
        raise InputError(f"{url}: not a valid URL") from None
    if not host:
        raise InputError(f"{url}: not a valid URL")
    deadline = 3 * timeout
    state: dict = {}

    def work() -> None:
        try:
            state["result"] = _download(url, host, max_bytes, timeout, any_type, public_only, state)
        except BaseException as err:  # re-raised in the caller's thread
            state["error"] = err

    worker = threading.Thread(target=work, name="bertcli-fetch", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        state["expired"] = True
        response = state.get("response")
        if response is not None:
            try:
                response.raw.shutdown()  # unblocks the worker's read; it then ends
            except Exception:
                pass
        raise InputError(f"{url}: download took longer than {deadline:g} s "
                         "(3 x $BERTCLI_HTTP_TIMEOUT)")
    if "error" in state:
        raise state["error"]
    return state["result"]


def _get(session, url: str, headers: dict, timeout: float, state: dict):
    """GET `url`, following at most MAX_REDIRECTS redirects, each only to http(s), each hop a
    new request (so a public-only session checks every address it connects to)."""
    from urllib.parse import urljoin

    import requests

    for _ in range(MAX_REDIRECTS + 1):
        state["target"] = url
        response = session.get(url, headers=headers, stream=True, timeout=(timeout, timeout),
                               allow_redirects=False)
        state["response"] = response
        if not response.is_redirect:
            return response
        location = response.headers["location"]
        response.close()
        try:
            target = urljoin(response.url, location)
        except ValueError:  # "http://[::1": an unbalanced IPv6 bracket, ...
            raise InputError(f"{state['url']}: not a valid URL (redirected to {location[:200]})") from None
        if not is_url(target):
            raise InputError(f"{state['url']}: redirected to {target[:200]}, not an http(s) URL")
        url = target
    raise requests.exceptions.TooManyRedirects()


def _download(url: str, host: str, max_bytes: int, timeout: float, any_type: bool,
              public_only: bool, state: dict) -> Fetched:
    import requests

    from .fetch_guard import BlockedAddress, public_session

    session = public_session() if public_only else requests.Session()
    state["url"] = url
    headers = {
        "User-Agent": f"bertcli/{__version__} (+https://pypi.org/project/bertcli/)",
        "Accept": "text/html,application/xhtml+xml,text/markdown,text/plain;q=0.9,"
                  "application/pdf;q=0.9,*/*;q=0.5",
    }
    try:
        with _get(session, url, headers, timeout, state) as response:
            if response.status_code >= 400:
                reason = f" {response.reason}" if response.reason else ""
                raise InputError(f"{url}: HTTP {response.status_code}{reason}")
            content_type = response.headers.get("Content-Type")
            if not any_type and not readable(content_type):
                raise InputError(
                    f"{url}: unsupported content type {media_type(content_type)} "
                    "(bertcli reads text, HTML, Markdown, PDF, .docx and .rst; --input-format forces one)"
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(url, max_bytes)
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise _too_large(url, max_bytes)
            return Fetched(response.url, bytes(body), content_type)
    except InputError:
        raise
    except BlockedAddress as err:
        raise InputError(f"{url}: refused: {err}{_redirect_note(state)} "
                         "(this server fetches only public addresses)") from None
    except requests.exceptions.TooManyRedirects:
        raise InputError(f"{url}: more than {MAX_REDIRECTS} redirects") from None
    except requests.exceptions.Timeout:
        raise InputError(f"{url}: no answer within {timeout:g} s (timeout)") from None
    except requests.exceptions.ChunkedEncodingError as err:
        raise InputError(f"{url}: {_incomplete(err)}") from None
    except requests.exceptions.ConnectionError as err:
        if "ReadTimeout" in repr(err) or "timed out" in repr(err):  # a body that stalls
            raise InputError(f"{url}: no answer within {timeout:g} s (timeout)") from None
        raise InputError(f"{url}: {_connection_problem(err, host)}") from None
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema, UnicodeError, ValueError):
        # requests and urllib3 raise plain ValueError (LocationParseError) for some
        # malformed URLs, also ones reached through a redirect.
        raise InputError(f"{url}: not a valid URL{_redirect_note(state)}") from None
    except requests.exceptions.RequestException as err:
        raise InputError(f"{url}: download failed ({type(err).__name__})") from None
    finally:
        session.close()  # its pooled connections: a server fetches many URLs


def _redirect_note(state: dict) -> str:
    target = state.get("target")
    return "" if target in (None, state.get("url")) else f" (redirected to {target})"


def _incomplete(err: Exception) -> str:
    match = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)", repr(err))
    if match:
        got, missing = int(match.group(1)), int(match.group(2))
        return (f"the server closed the connection after {got:,} of {got + missing:,} bytes "
                "(incomplete download)")
    return "the server closed the connection before the whole body arrived (incomplete download)"


def _too_large(url: str, max_bytes: int) -> InputError:
    return InputError(f"{url}: larger than the {max_bytes:,}-byte limit (raise it with --max-bytes)")


def _connection_problem(err: Exception, host: str) -> str:
    text = repr(err)
    if any(s in text for s in ("NameResolutionError", "gaierror", "Name or service not known",
                               "nodename nor servname", "Temporary failure in name resolution")):
        return f"cannot resolve host {host} (DNS failure, or no network)"
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return f"connection refused by {host}"
    if "SSLError" in text or "CERTIFICATE" in text:
        return f"TLS/SSL error talking to {host}"
    if "LineTooLong" in text or "line too long" in text.lower():
        return f"malformed HTTP response from {host} (a header line is too long)"
    if "more than 100 headers" in text:
        return f"malformed HTTP response from {host} (more than 100 headers)"
    if "BadStatusLine" in text or "HeaderParsingError" in text:
        return f"malformed HTTP response from {host}"
    if "RemoteDisconnected" in text:
        return f"{host} closed the connection without a response"
    return f"cannot connect to {host} ({type(err).__name__})"
