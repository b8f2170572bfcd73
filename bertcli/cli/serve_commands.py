"""`serve`: an HTTP API on the models, loaded once."""

from __future__ import annotations

import typer

from ..errors import UsageError
from .core import app, run_guarded
from .options import (
    DEVICE_OPT,
    OFFLINE_OPT,
    PRECISION_OPT,
    QUIET_OPT,
    VERBOSE_OPT,
    Device,
    Precision,
)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (beyond loopback needs --token)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on (0: any free port)."),
    token: str | None = typer.Option(
        None, "--token", envvar="BERTCLI_TOKEN", show_envvar=False,
        help="Require 'Authorization: Bearer TOKEN' on every request (also: $BERTCLI_TOKEN); "
             "needed for a non-loopback --host.",
    ),
    max_bytes: int = typer.Option(
        10 * 1024 * 1024, "--max-bytes", show_default=False,
        help="Refuse request bodies (and documents fetched with --allow-urls) larger than this (default 10 MB).",
    ),
    allow_urls: bool = typer.Option(
        False, "--allow-urls",
        help='Accept {"url": ...} in requests and fetch the document (public addresses only).',
    ),
    max_concurrent: int = typer.Option(
        64, "--max-concurrent",
        help="Requests to /summarize and /ask handled at once; more get 429 (they wait their turn for the model).",
    ),
    request_timeout: float = typer.Option(
        120.0, "--request-timeout",
        help="Seconds a request may take, its body and its wait for the model included; beyond, 503.",
    ),
    model: str | None = typer.Option(
        None, "--model", "-m",
        help="Hub id or local directory of the encoder for /summarize (default: as summarize: "
             "the bundled all-MiniLM-L6-v2 for learned, else distilbert-base-uncased)",
    ),
    reader: str | None = typer.Option(
        None, "--reader",
        help="Hub id or local directory of the reader for /ask (default: as ask: "
             "distilbert-base-cased-distilled-squad)",
    ),
    device: Device = DEVICE_OPT,
    precision: Precision = PRECISION_OPT,
    reader_precision: Precision = typer.Option(
        Precision.auto, "--reader-precision",
        help="The reader's numerics on CPU, as ask --precision: fp32 (exact), int8 (faster); auto is fp32.",
    ),
    offline: bool = OFFLINE_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """An HTTP API on the same models: GET /health, POST /summarize, POST /ask (JSON as -f json)."""

    def body() -> int:
        try:
            import fastapi  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError as err:
            raise UsageError(f"serve needs FastAPI and uvicorn: pip install 'bertcli[serve]' ({err})") from None
        from ..models import offline_requested
        from ..notices import logger
        from ..server import Service
        from ..server import serve as run_server

        service = Service(model=model, reader=reader, device=device.value, offline=offline_requested(offline),
                          precision=precision.value, reader_precision=reader_precision.value,
                          max_bytes=max_bytes, allow_urls=allow_urls, max_concurrent=max_concurrent,
                          request_timeout=request_timeout)
        run_server(service, host, port, token, quiet=quiet or logger.level > 20)
        return 0

    run_guarded(body, verbose)
