"""`chat`: many questions about documents, the models loaded once."""

from __future__ import annotations

import os
import signal
import sys
import threading
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
    FULL_OPT,
    INPUT_FORMAT_OPT,
    LANG_OPT,
    MAX_ANSWER_LEN_OPT,
    MAX_BYTES_OPT,
    MIN_SCORE_OPT,
    OFFLINE_OPT,
    PASSAGES_OPT,
    QUIET_OPT,
    READER_OPT,
    READER_PRECISION_OPT,
    RETRIEVAL_ONLY_OPT,
    TOP_K_OPT,
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
        help="Files (text, HTML, Markdown, PDF, .docx, .rst) or http(s) URLs to ask about; questions come on stdin.",
    ),
    top_k: int = TOP_K_OPT,
    max_answer_len: int = MAX_ANSWER_LEN_OPT,
    full: bool = FULL_OPT,
    passages: int = PASSAGES_OPT,
    retrieval_only: bool = RETRIEVAL_ONLY_OPT,
    model: str | None = READER_OPT,
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
        from ..ask.asker import FILL_THREAD, Asker, check_options
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
                      precision=precision.value, lang=lang, fill_behind=FILL_THREAD)
        interactive = sys.stdin.isatty()
        if interactive:
            guard_interrupts()
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
                if not result.answers and fmt.value != "text":  # text says it on stdout
                    note(f"{result.source}: no answer to {result.question!r}")
                renderer.answers(result)
            renderer.close()
        # From a pipe, as `ask --questions`: a refused question or an unread document is exit 3.
        return EXIT_INPUT if failed or (refused and not interactive) else 0

    run_guarded(body, verbose)


def guard_interrupts() -> None:
    """Make Ctrl-C end a prompt that waits in readline, whichever thread the signal reaches.

    Why: Python's readline waits in select() and looks at signals only when select() is
    interrupted. SIGINT from a terminal or `kill` goes to the whole process, and the kernel may
    hand it to any thread that does not block it (ONNX Runtime's, the model loader's): the
    handler runs there, select() in the main thread is never interrupted, and the prompt keeps
    waiting, Ctrl-C lost. So the handler's wakeup byte is watched by a thread that, on SIGINT,
    interrupts the main thread with SIGUSR1 (a no-op) until Python has raised
    KeyboardInterrupt there. Main thread only; once per process."""
    if getattr(guard_interrupts, "done", False) or threading.current_thread() is not threading.main_thread():
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    signal.signal(signal.SIGUSR1, lambda number, frame: None)
    main = threading.main_thread().ident

    def watch() -> None:
        while True:
            if signal.SIGINT in os.read(read_end, 64):
                for _ in range(200):  # until the process ends (a daemon thread)
                    signal.pthread_kill(main, signal.SIGUSR1)  # type: ignore[arg-type]
                    threading.Event().wait(0.05)

    threading.Thread(target=watch, name="bertcli-interrupts", daemon=True).start()
    guard_interrupts.done = True  # type: ignore[attr-defined]

