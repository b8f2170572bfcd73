"""Every setting bertcli takes from the environment, read here and nowhere else.

Each is read when it is needed (a test or a server may change the environment between calls),
and a value that cannot be read is a one-line error naming the variable, not a silent default.

| variable | what | default |
| --- | --- | --- |
| BERTCLI_CACHE | bertcli's cache (ONNX copies, document indexes) | $XDG_CACHE_HOME/bertcli, ~/.cache/bertcli |
| BERTCLI_CONFIG | the settings file (`bertcli models default`) | $XDG_CONFIG_HOME/bertcli/config.json |
| BERTCLI_MODELS | `bundled` or `hub`: the default models | the settings file, else hub |
| BERTCLI_MAX_BYTES | largest input read, in bytes | 50 MB (read.document) |
| BERTCLI_HTTP_TIMEOUT | seconds to wait on a web server (capped at a day) | 20 |
| BERTCLI_INDEX_CACHE_MB | size of the document index cache; 0 turns it off | 300 |
| BERTCLI_PROGRESS_DELAY | seconds before a progress bar shows | 2 |
| BERTCLI_QUIET | set (not 0/false/no/off): no notices | unset |
| BERTCLI_NO_ONNX | set: torch, not ONNX Runtime, on CPU | unset |
| BERTCLI_NO_FILL | set: `ask` leaves no process embedding a long document (ask.fill) | unset |
| BERTCLI_THREADS | N >= 1: one model run at a time, N threads (batch workers) | ONNX: 2 runs, half the cores each |
| BERTCLI_FAULT | crash tests: `POINT:N`, SIGKILL at the N-th POINT (bertcli.faults) | unset |
| HF_HUB_OFFLINE | 1/true/yes/on: never use the network | unset |
| HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME | the hub's cache (as huggingface_hub) | ~/.cache/huggingface/hub |
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .errors import UsageError


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


OFF = ("", "0", "false", "no", "off")  # a flag set to one of these (any case) is not set


def flag(name: str) -> bool:
    """A variable that switches something on by being set: to anything but empty, 0, false,
    no or off (`BERTCLI_QUIET=0` is not quiet)."""
    return _raw(name).lower() not in OFF


def number(name: str, default: float, what: str = "a number") -> float:
    """A number from `name`; unset or empty gives `default`; anything else is an error."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"${name}={raw[:40]!r} is not {what}") from None


def whole_number(name: str, default: int, what: str = "a whole number") -> int:
    raw = _raw(name)
    if not raw:
        return default
    if not raw.isdigit():
        raise UsageError(f"${name}={raw[:40]!r} is not {what}")
    return int(raw)


def _home_dir(variable: str, xdg: str, fallback: str) -> Path:
    if os.environ.get(variable):
        return Path(os.environ[variable]).expanduser()
    base = os.environ.get(xdg) or os.path.join(os.path.expanduser("~"), fallback)
    return Path(base) / "bertcli"


def cache_dir() -> Path:
    return _home_dir("BERTCLI_CACHE", "XDG_CACHE_HOME", ".cache")


def config_file() -> Path:
    if os.environ.get("BERTCLI_CONFIG"):
        return Path(os.environ["BERTCLI_CONFIG"]).expanduser()
    return _home_dir("", "XDG_CONFIG_HOME", ".config") / "config.json"


def models_choice() -> str:
    """BERTCLI_MODELS, lower-cased ("" when unset; callers check the value)."""
    return _raw("BERTCLI_MODELS").lower()


def max_bytes(default: int) -> int:
    return whole_number("BERTCLI_MAX_BYTES", default, "a whole number of bytes")


def http_timeout(default: float, cap: float) -> float:
    """Seconds, clamped to (0, cap]; a value that is not positive and finite gives `default`."""
    seconds = number("BERTCLI_HTTP_TIMEOUT", default, "a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0:
        return default
    return min(seconds, cap)


def index_cache_mb(default: float) -> float:
    return max(0.0, number("BERTCLI_INDEX_CACHE_MB", default, "a number of megabytes"))


def progress_delay(default: float) -> float:
    return max(0.0, number("BERTCLI_PROGRESS_DELAY", default, "a number of seconds"))


def quiet() -> bool:
    return flag("BERTCLI_QUIET")


def onnx_disabled() -> bool:
    return flag("BERTCLI_NO_ONNX")


def no_fill() -> bool:
    return flag("BERTCLI_NO_FILL")


def threads() -> int | None:
    """Threads per model run when set (a batch worker's share of the cores): then one run at a
    time. None (unset or 0): ONNX Runtime runs two at once (backends.onnx_models.run_layout)."""
    value = whole_number("BERTCLI_THREADS", 0, "a whole number of threads")
    return value or None


def fault() -> tuple[str, int] | None:
    """BERTCLI_FAULT=POINT:N (crash tests): (POINT, N), or None when unset."""
    raw = _raw("BERTCLI_FAULT")
    if not raw:
        return None
    point, _, count = raw.rpartition(":")
    if not point or not count.isdigit() or int(count) < 1:
        raise UsageError(f"$BERTCLI_FAULT={raw[:40]!r} is not POINT:N (N at least 1)")
    return point, int(count)


def offline() -> bool:
    return _raw("HF_HUB_OFFLINE").lower() in ("1", "true", "yes", "on")


def hub_cache_dir() -> Path:
    named = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if named:
        return Path(named).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface")
    return Path(home).expanduser() / "hub"
