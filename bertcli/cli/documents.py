"""`summarize`, `ask` and `text`: the commands that read documents."""

from __future__ import annotations

import itertools
import os
import sys

import typer

from ..errors import (
    EXIT_INPUT,
    InputError,
    UsageError,
)
from ..languages import check_lang
from ..progress import ProgressDisplay
from ..progress import wanted as progress_wanted
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
    MODEL_HELP,
    OFFLINE_OPT,
    PASSAGES_OPT,
    PRECISION_OPT,
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
    Strategy,
)


@app.command()
def summarize(
    inputs: list[str] = typer.Argument(
        ..., help="Files (text, HTML, Markdown, PDF, .docx, .rst) or http(s) URLs to summarize; - reads stdin."
    ),
    num_sentences: int | None = typer.Option(
        None, "--num-sentences", "-n", help="Sentences to pick (default 3)."
    ),
    ratio: float | None = typer.Option(
        None, "--ratio", help="Pick this fraction of the sentences instead, in (0, 1]."
    ),
    by_section: bool = typer.Option(
        False, "--by-section", help="A summary per top-level section or chapter (its headings "
        "from the PDF, HTML or Markdown, or CHAPTER lines in plain text): -n/--ratio per section."
    ),
    strategy: Strategy = typer.Option(
        Strategy.learned, "--strategy", "-s",
        help="learned (a trained scorer: content, position, centrality), central (centrality + "
             "position + diversity), cluster (the tutorial's k-means), lead.",
    ),
    model: str | None = typer.Option(
        None, "--model", "-m",
        help=MODEL_HELP + " (default: the bundled all-MiniLM-L6-v2 for learned, else distilbert-base-uncased)",
    ),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    precision: Precision = PRECISION_OPT,
    lang: str = LANG_OPT,
    offline: bool = OFFLINE_OPT,
    input_format: InputFormat | None = INPUT_FORMAT_OPT,
    encoding: str | None = ENCODING_OPT,
    max_bytes: int | None = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Extractive summary: the sentences that best represent each document."""

    def body() -> int:
        from ..render import Renderer
        from ..summarize.summarizer import Summarizer, sentence_count

        # Check option values before any model loads.
        sentence_count(10, num_sentences, ratio)
        check_lang(lang)
        renderer = Renderer(fmt.value, sys.stdout, several=len(inputs) > 1)
        summarizer: Summarizer | None = None
        failed: list[str] = []
        with ProgressDisplay(progress_wanted(fmt.value)) as progress:
            for doc in documents(inputs, encoding, max_bytes, failed, input_format, progress):
                if summarizer is None:
                    summarizer = Summarizer(model=model, device=device.value, offline=offline,
                                            precision=precision.value, strategy=strategy.value,
                                            lang=lang)
                result = summarizer(doc, num_sentences=num_sentences, ratio=ratio,
                                    strategy=strategy.value, progress=progress,
                                    by_section=by_section)
                for message in result.notes:
                    note(message)
                renderer.summary(result)
        renderer.close()
        return EXIT_INPUT if failed else 0

    run_guarded(body, verbose)


@app.command()
def ask(
    args: list[str] | None = typer.Argument(
        None, metavar="[QUESTION] DOCUMENT...", show_default=False,
        help="The question, then one or more documents: files (text, HTML, Markdown, PDF, .docx, .rst), "
        "http(s) URLs, or - for stdin. With --questions, only documents; with --index, only questions.",
    ),
    questions_file: str | None = typer.Option(
        None, "--questions", "-q", help="File with one question per line (- reads stdin)."
    ),
    top_k: int = TOP_K_OPT,
    max_answer_len: int = MAX_ANSWER_LEN_OPT,
    full: bool = FULL_OPT,
    passages: int = PASSAGES_OPT,
    retrieval_only: bool = RETRIEVAL_ONLY_OPT,
    across: bool = typer.Option(
        False, "--across", help="Treat all documents as one collection: the best answers "
        "among them all, each naming its source."
    ),
    model: str | None = READER_OPT,
    index: str | None = typer.Option(
        None, "--index", help="Ask a corpus index (`bertcli batch index`): every argument is a question."
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
    """Extractive question answering: the span of each document that answers the question."""

    args = args or []

    def body() -> int:
        if index is not None:
            from .batch_commands import ask_index_command

            refused = [name for name, given in (("--across", across),
                ("--full", full), ("--precision", precision.value != "auto"),
                ("--lang", lang != "auto"), ("--input-format", input_format is not None),
                ("--encoding", encoding is not None)) if given]
            if refused:
                raise UsageError(f"--index does not take {', '.join(refused)} (every argument "
                                 "is a question, asked of the whole corpus)")
            asked = [q for _, q in read_questions(questions_file, None, max_bytes)] \
                if questions_file is not None else []
            return ask_index_command(index, asked + args, top_k, max_answer_len, passages, retrieval_only,
                                     model, device.value, offline, fmt.value,
                                     not always_answer, min_score)
        if questions_file is None:
            if len(args) < 2:
                raise UsageError("give a question and at least one document (or --questions FILE)")
            questions, sources = [(0, args[0])], args[1:]
            _question_order_hint(args)
        else:
            if not args:
                raise UsageError("give at least one document to ask (--questions gives the questions)")
            sources = args
            questions = read_questions(questions_file, encoding, max_bytes)
        if sum(1 for s in sources if s == "-") + (questions_file == "-") > 1:
            raise UsageError("stdin (-) can be read only once")
        if not questions[0][1].strip() and len(questions) == 1:
            raise InputError("empty question")
        from ..ask.asker import FILL_PROCESS, Asker, check_options
        from ..render import Renderer

        check_options(top_k, max_answer_len, passages, min_score)
        check_lang(lang)

        # --across gives one result per question, whatever the number of documents
        several = len(questions) > 1 or (len(sources) > 1 and not across)
        renderer = Renderer(fmt.value, sys.stdout, several=several,
                            sources=len(sources) > 1 and not across)
        failed: list[str] = []
        with ProgressDisplay(progress_wanted(fmt.value)) as progress:
            docs = documents(sources, encoding, max_bytes, failed, input_format, progress)
            first = next(docs, None)  # no model loads unless a document could be read
            asker = None if first is None else Asker(
                model=model, device=device.value, offline=offline, retrieval_only=retrieval_only,
                precision=precision.value, lang=lang, fill_behind=FILL_PROCESS)
            asked = [] if asker is None else _checked_questions(asker, questions, questions_file,
                                                                 failed)
            if asker is not None and asked:
                for result in asker.ask_documents(
                        itertools.chain([first] if first else [], docs), asked, top_k=top_k,
                        max_answer_len=max_answer_len, full=full, passages=passages,
                        abstain=not always_answer, min_score=min_score, across=across,
                        progress=progress):
                    progress("questions", 1, len(asked) * (1 if across else len(sources)))
                    if not result.answers and fmt.value != "text":  # text says it on stdout
                        note(f"no answer to {result.question!r} in "
                             f"{len(sources) - len(failed)} document(s)" if across
                             else f"{result.source}: no answer to {result.question!r}")
                    renderer.answers(result)
        renderer.close()
        return EXIT_INPUT if failed else 0

    run_guarded(body, verbose)


def _question_order_hint(args: list[str]) -> None:
    """`ask article.txt "Who?"`: say that the question comes first."""
    first, rest = args[0], args[1:]
    if len(rest) == 1 and os.path.isfile(first) and not os.path.exists(rest[0]) \
            and "://" not in rest[0] and rest[0] != "-":
        raise InputError(f"{rest[0]}: no such file (the question comes first: "
                         f"bertcli ask \"QUESTION\" {first})")


def _checked_questions(asker, questions, questions_file: str | None,
                       failed: list[str]) -> list[str]:
    """The questions the reader can take; each one it refuses is reported with its line
    number (the others are still answered, and the exit code is 3)."""
    asked = []
    for line, question in questions:
        try:
            asked.append(asker.check_question(question))
        except InputError as err:
            if questions_file is None:
                raise
            error(f"{questions_file}, line {line}: {err.message}")
            failed.append(f"{questions_file}:{line}")
    return asked


def read_questions(source: str, encoding: str | None,
                   max_bytes: int | None) -> list[tuple[int, str]]:
    """One question per line, with its line number; blank lines are skipped."""
    from ..read.document import read_document

    try:
        doc = read_document(source, encoding=encoding, max_bytes=max_bytes, input_format="text")
    except InputError as err:
        raise InputError(err.message.replace("empty document", "empty questions file")) from None
    return [(number, line.strip()) for number, line in enumerate(doc.text.splitlines(), 1)
            if line.strip()]


@app.command("text")
def text_command(
    inputs: list[str] = typer.Argument(..., help="Files, http(s) URLs, or - for stdin."),
    fmt: Format = FORMAT_OPT,
    input_format: InputFormat | None = INPUT_FORMAT_OPT,
    encoding: str | None = ENCODING_OPT,
    max_bytes: int | None = MAX_BYTES_OPT,
    offline: bool = typer.Option(False, "--offline", help="Never use the network: URL inputs are refused."),
    show_removed: bool = typer.Option(
        False, "--show-removed", help="Also show each line reading left out (running heads, "
        "footnotes, references, figure text...), marked [removed: REASON], where it was. "
        "Offsets do not index this output."),
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Print the text bertcli reads from each input (HTML, Markdown, PDF, .docx and .rst converted).

    The offsets that summarize and ask report index into exactly this text. No model loads.
    With --format json: the text, its blocks (kind, offsets, section) and the removed lines.
    """

    def body() -> int:
        from ..render import Renderer

        failed: list[str] = []
        renderer = Renderer(fmt.value, several=len(inputs) > 1)
        with ProgressDisplay(progress_wanted(fmt.value)) as progress:
            for doc in documents(inputs, encoding, max_bytes, failed, input_format, progress):
                renderer.document(doc, show_removed)
        renderer.close()
        return EXIT_INPUT if failed else 0

    run_guarded(body, verbose)
