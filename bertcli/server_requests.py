"""The HTTP API's requests: a JSON body read within its size limit, and each field checked,
every refusal an HTTP status and one line (bertcli.server)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import Request

    from .read.document import Document


class RequestError(Exception):
    """A request the API refuses: an HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def check_fields(body: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise RequestError(422, f"unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")


def check_unicode(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(422, f"{where} is not valid Unicode (a lone surrogate)") from None


def string_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise RequestError(422, f'"{name}" must be a string, got {json_type(value)}')
    check_unicode(value, f'"{name}"')
    return value


def probability_field(body: dict[str, Any], name: str) -> float | None:
    if name not in body or body[name] is None:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise RequestError(422, f'"{name}" must be a number from 0 to 1, got {json.dumps(value)[:40]}')
    return float(value)


def positive_int_field(body: dict[str, Any], name: str) -> int | None:
    if name not in body or body[name] is None:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(422, f'"{name}" must be a positive integer, got {json.dumps(value)[:40]}')
    return value


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


async def read_json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, read no further than `max_bytes` (413 beyond)."""
    declared = request.headers.get("content-length")
    too_large = RequestError(413, f"request body larger than the {max_bytes:,}-byte limit (--max-bytes)")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        raise RequestError(422, "empty request body (send a JSON object)")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        # json's own message says "starting at" and leaves the place to err.pos: name it
        reason = (f"{err.msg}, line {err.lineno} column {err.colno}"
                  if isinstance(err, json.JSONDecodeError) else type(err).__name__)
        raise RequestError(422, f"the body is not valid JSON ({reason})") from None
    if not isinstance(body, dict):
        raise RequestError(422, f"the body must be a JSON object, got {json_type(body)}")
    return body


def questions_field(body: dict[str, Any]) -> list[str]:
    """/ask's questions: "question" (a string) or "questions" (a non-empty list of strings)."""
    if ("question" in body) == ("questions" in body):
        raise RequestError(422, 'give "question" (a string) or "questions" (a list), exactly one of them')
    if "question" in body:
        return [string_field(body, "question")]
    questions = body["questions"]
    if not isinstance(questions, list) or not questions or not all(isinstance(q, str) for q in questions):
        raise RequestError(422, '"questions" must be a non-empty list of strings')
    for i, question in enumerate(questions):
        check_unicode(question, f'"questions"[{i}]')
    return questions


def request_document(body: dict[str, Any], source: str, max_bytes: int, allow_urls: bool,
                     offline: bool, seconds_left: float) -> Document:
    """The request's document: its "text", read as `bertcli summarize -` reads stdin (named
    `source`), or its "url" (only with `allow_urls`), fetched from public addresses only,
    within `seconds_left`."""
    from .read.document import convert, known_encoding
    from .read.formats import charset, detect

    has_text, has_url = "text" in body, "url" in body
    if has_text == has_url:
        raise RequestError(422, 'give the document as "text" (or "url"), exactly one of them')
    if has_url:
        url = string_field(body, "url")
        if not allow_urls:
            raise RequestError(403, "URLs are not fetched by this server (start it with --allow-urls)")
        from .read.fetch import fetch, is_url, timeout_default

        if not is_url(url):
            raise RequestError(422, '"url" must be an http(s) URL')
        if offline:
            raise RequestError(403, "URLs are not fetched: the server runs --offline")
        # the whole download takes at most 3 x its timeout: keep it inside the request's time
        fetched = fetch(url, max_bytes, timeout=min(timeout_default(), max(seconds_left / 3, 0.1)),
                        public_only=True)
        fmt = detect(fetched.url, fetched.data, fetched.content_type)
        return convert(fetched.data, url, fmt, known_encoding(charset(fetched.content_type)))
    text = string_field(body, "text")
    if "\x00" in text:
        raise RequestError(422, '"text" looks like binary data (it holds NUL characters), not text')
    data = text.encode("utf-8")
    return convert(data, source, detect(source, data))
