"""`bertcli serve`: an HTTP API (FastAPI) over the same `Summarizer` and `Asker` as the CLI.

The models are loaded once per process and every model call runs on one worker thread, one
at a time: torch and ONNX Runtime already use all cores for one call, so running two at once
would only share them, and one thread keeps one malloc arena (RSS stays flat under load).
Validation, reading the text and fetching URLs happen on the request's own thread.
Responses are byte for byte what `summarize -f json` / `ask -f json` print for one document
read from stdin (its source is "-").

Every failure is one line of JSON, `{"error": "..."}`, with a 4xx status for bad requests,
429/503 over the limits (bertcli.server_limits) and 500 for bugs; the server keeps serving.
GET /openapi.json describes every body (bertcli.server_schema).

This module needs the `serve` extra (FastAPI, uvicorn); nothing else in bertcli imports it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from . import __version__, notices
from .errors import BertcliError, InputError, ModelError, UsageError
from .server_limits import (
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_REQUEST_TIMEOUT_S,
    RETRY_AFTER_S,
    Deadline,
    Gate,
    check_limits,
    is_loopback,
    listening_socket,
)
from .server_requests import (
    RequestError,
    check_fields,
    json_type,
    positive_int_field,
    probability_field,
    questions_field,
    read_json_body,
    request_document,
    string_field,
)
from .server_schema import ASK_FIELDS, SUMMARIZE_FIELDS, add_request_schemas, operation

if TYPE_CHECKING:
    from .ask.asker import Asker
    from .read.document import Document
    from .summarize.summarizer import Summarizer

__all__ = ["Service", "create_app", "is_loopback", "listening_socket", "serve"]
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # request bodies, and documents fetched with --allow-urls
T = TypeVar("T")
TEXT_SOURCE = "-"  # what the CLI calls a document read from stdin


@dataclass
class Service:
    """The models behind the API, each loaded once (at `load()` or at first use), and the one
    thread that runs their calls (`run_model`)."""

    model: str | None = None  # the summary encoder (summarize --model)
    reader: str | None = None  # the QA reader (ask --model)
    device: str = "auto"
    offline: bool = False
    precision: str = "auto"  # the summary encoder's (summarize --precision)
    reader_precision: str = "auto"  # the reader's (ask --precision)
    max_bytes: int = DEFAULT_MAX_BYTES
    allow_urls: bool = False
    max_concurrent: int = DEFAULT_MAX_CONCURRENT  # model requests at once (429 beyond)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S  # seconds per request (503 beyond)
    notice: Callable[[str], None] = notices.notice
    _asker: Asker | None = field(default=None, init=False, repr=False)
    _summarizers: dict[str, Summarizer] = field(default_factory=dict, init=False, repr=False)
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="bertcli-model"),
        init=False, repr=False)

    def run_model(self, work: Callable[[], T], deadline: Deadline | None = None) -> T:
        """Run `work` on the model thread, after the calls queued before it; wait for it, until
        `deadline` at most (then a 503)."""
        future = self._worker.submit(work)
        return future.result() if deadline is None else deadline.wait(future)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def load(self) -> None:
        """Load the reader and the default summary encoder now (before serving)."""
        self.run_model(lambda: (self.asker(), self.summarizer("learned")))

    def asker(self) -> Asker:
        if self._asker is None:
            from .ask.asker import FILL_THREAD, Asker

            self._asker = Asker(model=self.reader, device=self.device, offline=self.offline,
                                notice=self.notice, precision=self.reader_precision,
                                fill_behind=FILL_THREAD)
        return self._asker

    def summarizer(self, strategy: str) -> Summarizer:
        """`summarize`'s default encoder depends on the strategy (the bundled one for learned,
        distilbert-base-uncased for the others) unless --model names one: at most two."""
        from .summarize.summarizer import Summarizer

        key = "learned" if self.model is None and strategy == "learned" else "other"
        if key not in self._summarizers:
            self._summarizers[key] = Summarizer(model=self.model, device=self.device,
                                                offline=self.offline, precision=self.precision,
                                                strategy=strategy, notice=self.notice)
        return self._summarizers[key]

    # --- requests -> the CLI's JSON ---------------------------------------------------------

    def document(self, body: dict[str, Any], deadline: Deadline | None = None) -> Document:
        """The request's document: its "text" (read as stdin) or its "url" (--allow-urls)."""
        left = deadline.remaining() if deadline is not None else self.request_timeout
        return request_document(body, TEXT_SOURCE, self.max_bytes, self.allow_urls, self.offline, left)

    def summarize(self, body: dict[str, Any], deadline: Deadline | None = None) -> str:
        from .render import summary_to_dict, to_json
        from .summarize.summarizer import STRATEGIES

        check_fields(body, SUMMARIZE_FIELDS)
        strategy = string_field(body, "strategy") if "strategy" in body else "learned"
        if strategy not in STRATEGIES:
            raise RequestError(422, f'"strategy" {strategy!r}: choose one of {", ".join(STRATEGIES)}')
        num_sentences = positive_int_field(body, "num_sentences")
        doc = self.document(body, deadline)
        result = self.run_model(lambda: self.summarizer(strategy)(doc, num_sentences=num_sentences,
                                                                  strategy=strategy), deadline)
        for message in result.notes:
            self.notice(message)
        return to_json(summary_to_dict(result)) + "\n"

    def ask(self, body: dict[str, Any], deadline: Deadline | None = None) -> str:
        from .render import answers_to_dict, to_json

        check_fields(body, ASK_FIELDS)
        questions = questions_field(body)
        top_k = positive_int_field(body, "top_k") or 1
        min_score = probability_field(body, "min_score")
        always = body.get("always_answer", False)
        if not isinstance(always, bool):
            raise RequestError(422, f'"always_answer" must be true or false, got {json_type(always)}')
        doc = self.document(body, deadline)
        single = "question" in body

        def answer() -> list[dict[str, Any]]:
            asker = self.asker()
            checked = []
            for i, question in enumerate(questions):
                where = '"question"' if single else f'"questions"[{i}]'
                try:
                    checked.append(asker.check_question(question))
                except InputError as err:
                    raise RequestError(422, f"{where}: {err.message}") from None
            return [answers_to_dict(r) for r in asker.ask_documents(
                [doc], checked, top_k=top_k, abstain=not always, min_score=min_score)]

        results = self.run_model(answer, deadline)
        # one question: one object, as `ask -f json`; "questions": a list, as `ask -q` with several
        return to_json(results[0] if single else results) + "\n"

    def health(self) -> dict[str, Any]:
        asker = self._asker
        return {"status": "ok", "version": __version__,
                "reader": asker.model_name if asker is not None else None}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def create_app(service: Service, token: str | None = None) -> FastAPI:
    """The API: GET /health, POST /summarize, POST /ask. With `token`, every request needs
    `Authorization: Bearer <token>`."""
    app = FastAPI(title="bertcli", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="Summaries and answers over a document, as `bertcli summarize`/`ask -f json`.")
    gate = app.state.gate = Gate(service.max_concurrent)
    # digests of equal length: the comparison's time says nothing of the token, not even its length
    expected = hashlib.sha256(token.encode()).digest() if token is not None else b""

    def error(status: int, message: str) -> JSONResponse:
        response = JSONResponse({"error": _one_line(message)}, status_code=status)
        if status in (429, 503):
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    def authorized(request: Request) -> bool:
        if token is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        # the header's own bytes (starlette decodes them as Latin-1): a UTF-8 token matches
        digest = hashlib.sha256(value.strip().encode("latin-1")).digest()
        return hmac.compare_digest(digest, expected) and scheme.lower() == "bearer"

    async def guarded(request: Request, work: Callable[[], Any]) -> Response:
        """Run `work` (which may block) on a worker thread: one-line errors, never a traceback."""
        try:
            result = await run_in_threadpool(work)
        except RequestError as err:
            return error(err.status, err.message)
        except (InputError, UsageError) as err:
            return error(422, err.message)
        except ModelError as err:
            return error(503, err.message)
        except BertcliError as err:
            return error(500, err.message)
        except Exception as err:  # a bug: one line here and in the log, and keep serving
            notices.notice(f"unexpected {type(err).__name__} on {request.url.path}: {_one_line(err)}")
            return error(500, f"unexpected {type(err).__name__}: {err}")
        if isinstance(result, str):
            return Response(result, media_type="application/json")
        return JSONResponse(result)

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if not authorized(request):
            response = error(401, "missing or wrong token (send Authorization: Bearer <token>)")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.get("/health", **operation("health", token is not None))
    async def health() -> Response:
        # answered on the event loop, outside --max-concurrent: a busy model never delays it
        return JSONResponse(service.health())

    async def with_body(request: Request, handle: Callable[[dict[str, Any], Deadline], str]) -> Response:
        if not gate.enter():
            refusal = gate.refusal()
            return error(refusal.status, refusal.message)
        try:  # the slot is held from the first byte of the body to the response
            deadline = Deadline(service.request_timeout)
            try:
                body = await asyncio.wait_for(read_json_body(request, service.max_bytes), deadline.remaining())
            except RequestError as err:
                return error(err.status, err.message)
            except ClientDisconnect:  # gone mid-body: nobody to answer, nothing to log
                return Response(status_code=400)
            except asyncio.TimeoutError:  # a client that sends its body too slowly
                late = deadline.expired("the request body did not arrive")
                return error(late.status, late.message)
            return await guarded(request, lambda: handle(body, deadline))
        finally:
            gate.leave()

    @app.post("/summarize", **operation("summarize", token is not None))
    async def summarize(request: Request) -> Response:
        return await with_body(request, service.summarize)

    @app.post("/ask", **operation("ask", token is not None))
    async def ask(request: Request) -> Response:
        return await with_body(request, service.ask)

    made = app.openapi
    app.openapi = lambda: app.openapi_schema or add_request_schemas(made(), token is not None)  # type: ignore[method-assign]
    return app


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(service: Service, host: str, port: int, token: str | None, quiet: bool = False) -> None:
    """Bind `host:port`, load the models and serve until SIGINT (KeyboardInterrupt after a clean
    shutdown, so the CLI exits 130) or SIGTERM (a clean shutdown, then return: exit 0)."""
    import signal

    import uvicorn

    if token is not None and not token.strip():
        raise UsageError("--token must not be empty")
    if token is None and not is_loopback(host):
        raise UsageError(f"--host {host} serves beyond this machine: set --token (or BERTCLI_TOKEN)")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {port}")
    if service.max_bytes < 1:
        raise UsageError(f"--max-bytes must be at least 1, got {service.max_bytes}")
    check_limits(service.max_concurrent, service.request_timeout)
    # Bind first, so that a port in use is one line before minutes of model loading.
    sock = listening_socket(host, port)
    # SIGTERM is a requested stop: exit 0, while the models load as while serving (uvicorn
    # raises the signal that stopped it again once it has shut down; SIGINT then becomes
    # KeyboardInterrupt, exit 130).
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        service.load()
    except BaseException:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
        service.close()
        raise
    bound_port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if sock.family == socket.AF_INET6 else host
    notices.notice(f"serving on http://{shown}:{bound_port} (Ctrl-C to stop)")
    config = uvicorn.Config(create_app(service, token), log_level="warning" if quiet else "info",
                            access_log=not quiet,
                            # a backstop for connections (idle keep-alive ones count too) above
                            # --max-concurrent, which the app answers itself with one-line JSON
                            limit_concurrency=2 * service.max_concurrent + 32,
                            timeout_graceful_shutdown=10, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
        service.close()
