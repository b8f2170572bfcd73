"""`chat` and `serve`: commands that keep the models loaded for many questions."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import typer

from ..errors import EXIT_INPUT, InputError, UsageError
from ..languages import check_lang
from .core import app, documents, error, note, run_guarded
from .options import (
    ALWAYS_ANSWER_OPT,
    DEVICE_OPT,
    ENCODING_OPT,
    FORMAT_OPT,
    INPUT_FORMAT_OPT,
    LANG_OPT,
    MAX_BYTES_OPT,
    MIN_SCORE_OPT,
    MODEL_HELP,
    OFFLINE_OPT,
    PRECISION_OPT,
    QUIET_OPT,
    READER_PRECISION_OPT,
    VERBOSE_OPT,
    Device,
    Format,
    InputFormat,
    Precision,
)

END_WORDS = ("exit", "quit")
# A line from a pipe longer than this is not read whole: it is refused as a question (the
# reader takes a few hundred tokens at most), and memory stays bounded.
MAX_LINE_BYTES = 64 * 1024
PROMPT = "question> "


def question_lines(encoding: str | None) -> Iterator[tuple[int, str | None]]:
    """(line number, question) from stdin until EOF or exit/quit: with a prompt on a terminal,
    else one per line. The question is None for a line that cannot be read (reported here)."""
    interactive = sys.stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:  # pragma: no cover - not on every platform
            pass
    number = 0
    while True:
        number += 1
        if interactive:
            try:
                if sys.stdout.isatty():
                    line = input(PROMPT)
                else:  # the answers go to a file or pipe: keep the prompt out of them
                    print(PROMPT, end="", file=sys.stderr, flush=True)
                    line = sys.stdin.readline()
                    if not line:
                        raise EOFError
            except EOFError:  # Ctrl-D
                if sys.stdout.isatty():
                    print(file=sys.stderr)
                return
        else:
            raw = sys.stdin.buffer.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                    raw = sys.stdin.buffer.readline(MAX_LINE_BYTES)
                error(f"line {number}: question too long (more than {MAX_LINE_BYTES:,} bytes)")
                yield number, None
                continue
            try:
                line = raw.decode(encoding or "utf-8")
            except (UnicodeDecodeError, LookupError) as err:
                reason = f"unknown encoding {encoding!r}" if isinstance(err, LookupError) \
                    else f"not valid {encoding or 'utf-8'}"
                error(f"line {number}: {reason}")
                yield number, None
                continue
        question = line.strip()
        if question.lower() in END_WORDS:
            return
        if question:
            yield number, question


@app.command()
def chat(
    inputs: list[str] = typer.Argument(
        ..., metavar="DOCUMENT...",
        help="Files (text, HTML, Markdown, PDF) or http(s) URLs to ask about; questions come on stdin.",
    ),
    top_k: int = typer.Option(1, "--top-k", "-k", help="Answers per question."),
    max_answer_len: int = typer.Option(15, "--max-answer-len", help="Longest answer, in tokens."),
    full: bool = typer.Option(False, "--full", help="Read the whole document even when it is long."),
    passages: int = typer.Option(10, "--passages", help="Passages the reader reads in a long document."),
    retrieval_only: bool = typer.Option(
        False, "--retrieval-only", help="No reader: return the best-matching sentences."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help=MODEL_HELP + " (default: distilbert-base-cased-distilled-squad)"
    ),
    min_score: float | None = MIN_SCORE_OPT,
    always_answer: bool = ALWAYS_ANSWER_OPT,
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    precision: Precision = READER_PRECISION_OPT,
    lang: str = LANG_OPT,
    offline: bool = OFFLINE_OPT,
    input_format: InputFormat | None = INPUT_FORMAT_OPT,
    encoding: str | None = ENCODING_OPT,
    max_bytes: int | None = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Ask many questions about documents with the models loaded once: a prompt on a
    terminal, one question per line from a pipe; exit, quit or Ctrl-D ends it."""

    def body() -> int:
        from ..ask.asker import Asker, check_options
        from ..render import Renderer

        if "-" in inputs:
            raise UsageError("chat reads its questions on stdin: give the documents as files or URLs")
        check_options(top_k, max_answer_len, passages, min_score)
        check_lang(lang)
        failed: list[str] = []
        docs = list(documents(inputs, encoding, max_bytes, failed, input_format))
        if not docs:
            return EXIT_INPUT
        asker = Asker(model=model, device=device.value, offline=offline, retrieval_only=retrieval_only,
                      precision=precision.value, lang=lang)
        interactive = sys.stdin.isatty()
        if interactive:
            names = ", ".join(d.source for d in docs)
            note(f"chat with {asker.model_name} about {names}; exit, quit or Ctrl-D to end")
        refused = 0
        for number, question in question_lines(encoding):
            if question is None:
                refused += 1
                continue
            try:
                checked = asker.check_question(question)
            except InputError as err:
                error(err.message if interactive else f"line {number}: {err.message}")
                refused += 1
                continue
            # one Renderer per question, so that each answer is written as soon as it is found
            renderer = Renderer(fmt.value, sys.stdout, several=len(docs) > 1, sources=len(docs) > 1)
            for result in asker.ask_documents(docs, [checked], top_k=top_k,
                                              max_answer_len=max_answer_len, full=full,
                                              passages=passages, abstain=not always_answer,
                                              min_score=min_score):
                if not result.answers:
                    note(f"{result.source}: no answer to {result.question!r}")
                renderer.answers(result)
            renderer.close()
        # From a pipe, as `ask --questions`: a refused question or an unread document is exit 3.
        return EXIT_INPUT if failed or (refused and not interactive) else 0

    run_guarded(body, verbose)


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
        False, "--allow-urls", help='Accept {"url": ...} in requests and fetch the document.'
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
                          max_bytes=max_bytes, allow_urls=allow_urls)
        run_server(service, host, port, token, quiet=quiet or logger.level > 20)
        return 0

    run_guarded(body, verbose)
