"""Write docs/openapi.json, the OpenAPI document `bertcli serve` publishes at /openapi.json.

    python docs/gen_openapi.py          # rewrite docs/openapi.json

The document comes from the app itself (bertcli.server.create_app; no model is loaded to
describe the routes), and tests/test_docs.py fails when docs/openapi.json differs from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

OUT = Path(__file__).resolve().parent / "openapi.json"


def render() -> str:
    from bertcli.server import create_app
    from bertcli.server_limits import DEFAULT_MAX_CONCURRENT, DEFAULT_REQUEST_TIMEOUT_S

    # the routes' descriptions need none of the service's models, only its limits
    service = SimpleNamespace(max_concurrent=DEFAULT_MAX_CONCURRENT, max_bytes=10 * 1024 * 1024,
                              request_timeout=DEFAULT_REQUEST_TIMEOUT_S)
    return json.dumps(create_app(service).openapi(), indent=2, ensure_ascii=False) + "\n"  # type: ignore[arg-type]


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
