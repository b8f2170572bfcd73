"""The API's limits (bertcli.server): requests at once, time per request, and the listening
socket. Each refusal is a status and one line (429 too many at once, 503 out of time; 413
for a body too large is read_json_body's), never a wait without end."""

from __future__ import annotations

import ipaddress
import math
import socket
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

from .errors import UsageError
from .server_requests import RequestError

DEFAULT_MAX_CONCURRENT = 64  # each holds its body (up to --max-bytes) while it waits its turn
DEFAULT_REQUEST_TIMEOUT_S = 120.0
RETRY_AFTER_S = 1
T = TypeVar("T")


@dataclass
class Gate:
    """Model requests in progress (counted on the event loop's one thread: no lock needed)."""

    limit: int
    active: int = 0

    def enter(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1

    def refusal(self) -> RequestError:
        return RequestError(429, f"too many requests at once (at most {self.limit}, --max-concurrent); "
                                 f"retry in {RETRY_AFTER_S} s")


class Deadline:
    """The time a request has left (--request-timeout), from when it arrived."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self, what: str) -> RequestError:
        return RequestError(503, f"{what} within {self.seconds:g} s (--request-timeout); "
                                 f"retry in {RETRY_AFTER_S} s")

    def wait(self, future: Future[T]) -> T:
        """The model call's result; out of time, a 503, and the call is dropped if it has not
        started (one that has runs to its end: a model call cannot be interrupted)."""
        try:
            return future.result(timeout=self.remaining())
        except FutureTimeout:
            future.cancel()
            raise self.expired("no answer (the model is busy with earlier requests)") from None


def check_limits(max_concurrent: int, request_timeout: float) -> None:
    if max_concurrent < 1:
        raise UsageError(f"--max-concurrent must be at least 1, got {max_concurrent}")
    if not (math.isfinite(request_timeout) and request_timeout > 0):
        raise UsageError(f"--request-timeout must be a positive number of seconds, got {request_timeout:g}")


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the API on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return False


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` (not listening yet), or a one-line UsageError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelt out: asyncio sets TCP_NODELAY only on connections of a socket whose
    # protocol says TCP, and without it every keep-alive response waited ~40 ms for the
    # client's delayed ACK (Nagle's algorithm).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except (OSError, OverflowError) as err:
        sock.close()
        reason = getattr(err, "strerror", None) or err
        raise UsageError(f"cannot listen on {host}:{port} ({reason})") from None
    return sock
