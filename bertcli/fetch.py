"""Fetch a document from an http(s) URL with a timeout, a size limit and a redirect limit.

Every failure becomes one InputError line that says what went wrong (DNS, refused, timeout,
HTTP status, too large, unsupported content), never a traceback.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from . import __version__
from .errors import InputError
from .formats import CONTENT_TYPES, media_type

MAX_REDIRECTS = 5
DEFAULT_TIMEOUT_S = 20.0
CHUNK = 64 * 1024


def is_url(source: str) -> bool:
    return source[:8].lower().startswith(("http://", "https://"))


def timeout_default() -> float:
    value = os.environ.get("BERTCLI_HTTP_TIMEOUT", "")
    try:
        return float(value) if float(value) > 0 else DEFAULT_TIMEOUT_S
    except ValueError:
        return DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: Optional[str]


def readable(content_type: Optional[str]) -> bool:
    mtype = media_type(content_type)
    return not mtype or mtype in CONTENT_TYPES or mtype.startswith("text/") or mtype.endswith(
        ("+xml", "/xml", "/json"))


def fetch(url: str, max_bytes: int, timeout: Optional[float] = None, any_type: bool = False) -> Fetched:
    """GET `url`. `any_type` accepts any Content-Type (the user forced --input-format)."""
    import requests

    timeout = timeout or timeout_default()
    host = urlsplit(url).hostname or ""
    if not host:
        raise InputError(f"{url}: not a valid URL")
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    headers = {
        "User-Agent": f"bertcli/{__version__} (+https://pypi.org/project/bertcli/)",
        "Accept": "text/html,application/xhtml+xml,text/markdown,text/plain;q=0.9,"
                  "application/pdf;q=0.9,*/*;q=0.5",
    }
    began = time.monotonic()
    try:
        with session.get(url, headers=headers, stream=True, timeout=(timeout, timeout)) as response:
            if response.status_code >= 400:
                reason = f" {response.reason}" if response.reason else ""
                raise InputError(f"{url}: HTTP {response.status_code}{reason}")
            content_type = response.headers.get("Content-Type")
            if not any_type and not readable(content_type):
                raise InputError(
                    f"{url}: unsupported content type {media_type(content_type)} "
                    "(bertcli reads text, HTML, Markdown and PDF; --input-format forces one)"
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(url, max_bytes)
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise _too_large(url, max_bytes)
                if time.monotonic() - began > 3 * timeout:  # a server that drips bytes forever
                    raise InputError(f"{url}: download took longer than {3 * timeout:.0f} s")
            return Fetched(response.url, bytes(body), content_type)
    except InputError:
        raise
    except requests.exceptions.TooManyRedirects:
        raise InputError(f"{url}: more than {MAX_REDIRECTS} redirects") from None
    except requests.exceptions.Timeout:
        raise InputError(f"{url}: no answer within {timeout:g} s (timeout)") from None
    except requests.exceptions.ConnectionError as err:
        raise InputError(f"{url}: {_connection_problem(err, host)}") from None
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema, UnicodeError):
        raise InputError(f"{url}: not a valid URL") from None
    except requests.exceptions.RequestException as err:
        raise InputError(f"{url}: download failed ({type(err).__name__})") from None


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
    return f"cannot connect to {host} ({type(err).__name__})"
