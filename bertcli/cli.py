"""The bertcli command line: parse, call the API, render.

Only light modules are imported here; torch and transformers load inside commands, so that
`bertcli --help` and usage errors stay fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from enum import Enum
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional

import typer

if TYPE_CHECKING:
    from .inputs import Document

from . import __version__
from .errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    BertcliError,
    InputError,
    UsageError,
)

app = typer.Typer(
    name="bertcli",
    help="Run pretrained BERT-family models on documents: extractive summaries and answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
models_app = typer.Typer(help="List, locate and download models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Measure quality on labelled data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


class Format(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    markdown = "markdown"


class InputFormat(str, Enum):
    text = "text"
    html = "html"
    markdown = "markdown"
    pdf = "pdf"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


def error(message: str) -> None:
    print(f"bertcli: error: {message}", file=sys.stderr)


def note(message: str) -> None:
    print(f"bertcli: {message}", file=sys.stderr)


def run_guarded(body: Callable[[], int], verbose: bool) -> None:
    """Run a command body: one-line errors, documented exit codes, tracebacks only on --verbose."""
    try:
        code = body()
    except BertcliError as err:
        if verbose:
            traceback.print_exc()
        error(err.message)
        code = err.exit_code
    except KeyboardInterrupt:
        print("bertcli: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except Exception as err:  # a bug: say so in one line unless asked for details
        if verbose:
            traceback.print_exc()
        error(f"unexpected {type(err).__name__}: {err} (rerun with --verbose for details)")
        code = EXIT_FAILURE
    raise typer.Exit(code)


def documents(sources: List[str], encoding: Optional[str], max_bytes: Optional[int],
              failed: List[str], input_format: Optional["InputFormat"] = None) -> Iterator["Document"]:
    """Read each source in turn. With several, a bad one is reported, noted in `failed` and
    skipped, so the others are still processed; a single bad source is the command's error."""
    from .inputs import read_document

    for source in sources:
        try:
            yield read_document(source, encoding=encoding, max_bytes=max_bytes,
                                input_format=input_format.value if input_format else None)
        except InputError as err:
            if len(sources) == 1:
                raise
            error(err.message)
            failed.append(source)


def _version(value: bool) -> None:
    if value:
        print(f"bertcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Run pretrained BERT-family models on documents: extractive summaries and answers."""


# Options shared by the commands that load models.
MODEL_HELP = "Hub id or local directory of the model."
OFFLINE_OPT = typer.Option(False, "--offline", help="Never use the network (also: HF_HUB_OFFLINE=1).")
DEVICE_OPT = typer.Option(Device.auto, "--device", help="Where to run the model.")
FORMAT_OPT = typer.Option(
    Format.text, "--format", "-f", help="Output format; text is rich on a terminal, plain in a pipe."
)
ENCODING_OPT = typer.Option(None, "--encoding", help="Input encoding (default: UTF-8, or what an HTML page declares).")
MAX_BYTES_OPT = typer.Option(
    None, "--max-bytes",
    help="Refuse inputs (files, stdin, downloads) larger than this (default 50 MB, or $BERTCLI_MAX_BYTES).",
)
PRECISION_OPT = typer.Option(
    "auto", "--precision",  # bertcli.fast.DEFAULT_PRECISION (not imported: keeps --help light)
    help="Encoder numerics on CPU: fp32 (exact), int8 (block-wise, faster; rarely picks other "
         "sentences) or auto (int8 for learned and central, fp32 for cluster).",
)
INPUT_FORMAT_OPT = typer.Option(
    None, "--input-format", "-i",
    help="Read inputs as this format [default: from the extension, Content-Type or content].",
)
VERBOSE_OPT = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors.")


@app.command()
def summarize(
    inputs: List[str] = typer.Argument(
        ..., help="Files (text, HTML, Markdown, PDF) or http(s) URLs to summarize; - reads stdin."
    ),
    num_sentences: Optional[int] = typer.Option(
        None, "--num-sentences", "-n", help="Sentences to pick (default 3)."
    ),
    ratio: Optional[float] = typer.Option(
        None, "--ratio", help="Pick this fraction of the sentences instead, in (0, 1]."
    ),
    strategy: str = typer.Option(
        "learned", "--strategy", "-s",
        help="learned (a trained scorer: content, position, centrality), central (centrality + "
             "position + diversity), cluster (the tutorial's k-means), lead.",
    ),
    model: Optional[str] = typer.Option(
        None, "--model", "-m",
        help=MODEL_HELP + " [default: the bundled all-MiniLM-L6-v2 for learned, else distilbert-base-uncased]",
    ),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    precision: str = PRECISION_OPT,
    offline: bool = OFFLINE_OPT,
    input_format: Optional[InputFormat] = INPUT_FORMAT_OPT,
    encoding: Optional[str] = ENCODING_OPT,
    max_bytes: Optional[int] = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Extractive summary: the sentences that best represent each document."""

    def body() -> int:
        from .render import Renderer
        from .summary import Summarizer, check_strategy, sentence_count

        # Check option values before any model loads.
        sentence_count(10, num_sentences, ratio)
        check_strategy(strategy)
        from .fast import check_precision

        check_precision(precision)
        renderer = Renderer(fmt.value, sys.stdout, several=len(inputs) > 1)
        summarizer: Optional[Summarizer] = None
        failed: List[str] = []
        for doc in documents(inputs, encoding, max_bytes, failed, input_format):
            if summarizer is None:
                summarizer = Summarizer(model=model, device=device.value, offline=offline,
                                        precision=precision, strategy=strategy)
            result = summarizer(doc, num_sentences=num_sentences, ratio=ratio, strategy=strategy)
            for message in result.notes:
                note(message)
            renderer.summary(result)
        renderer.close()
        return EXIT_INPUT if failed else 0

    run_guarded(body, verbose)


@models_app.command("list")
def models_list(
    fmt: Format = FORMAT_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Default models: whether each is cached, where, and its size. Never uses the network."""

    def body() -> int:
        from .models import inventory

        rows = inventory()
        if fmt in (Format.json, Format.jsonl):
            import json

            if fmt == Format.json:
                print(json.dumps(rows, indent=2))
            else:
                for row in rows:
                    print(json.dumps(row))
            return 0
        if sys.stdout.isatty() and fmt == Format.text:
            from rich.console import Console
            from rich.table import Table

            table = Table("model", "used by", "cached", "size", "path")
            for row in rows:
                size = f"{row['size_bytes'] / 1e6:.0f} MB" if row["size_bytes"] else "-"
                table.add_row(row["model"], row["role"], "yes" if row["cached"] else "no", size, row["path"] or "-")
            Console().print(table)
            return 0
        for row in rows:
            print("\t".join([row["model"], row["role"], "cached" if row["cached"] else "not-cached",
                             str(row["size_bytes"] or 0), row["path"] or "-"]))
        return 0

    run_guarded(body, verbose)


@models_app.command("pull")
def models_pull(
    model_id: str = typer.Argument(..., help="Hub id to download into the local cache."),
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Download a model into the local Hugging Face cache for later offline use."""

    def body() -> int:
        from .errors import ModelError
        from .models import cached_snapshot, download, hub_status

        cached = cached_snapshot(model_id)
        if cached is not None:
            note(f"{model_id} is already cached at {cached}")
            print(cached)
            return 0
        status = hub_status(model_id)
        if status == "missing":
            raise ModelError(f"{model_id}: no such model on the hub (or it is private)")
        if status == "unreachable":
            raise ModelError(f"{model_id}: the model hub cannot be reached (no network?)")
        print(download(model_id))
        return 0

    run_guarded(body, verbose)


@app.command()
def ask(
    args: List[str] = typer.Argument(
        ..., metavar="[QUESTION] DOCUMENT...",
        help="The question, then one or more documents: files (text, HTML, Markdown, PDF), "
        "http(s) URLs, or - for stdin. With --questions, only documents.",
    ),
    questions_file: Optional[str] = typer.Option(
        None, "--questions", "-q", help="File with one question per line (- reads stdin)."
    ),
    top_k: int = typer.Option(1, "--top-k", "-k", help="Answers per question."),
    max_answer_len: int = typer.Option(15, "--max-answer-len", help="Longest answer, in tokens."),
    full: bool = typer.Option(False, "--full", help="Read the whole document even when it is long."),
    passages: int = typer.Option(10, "--passages", help="Passages the reader reads in a long document."),
    retrieval_only: bool = typer.Option(
        False, "--retrieval-only", help="No reader: return the best-matching sentences."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help=MODEL_HELP + " [default: distilbert-base-cased-distilled-squad]"
    ),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    offline: bool = OFFLINE_OPT,
    input_format: Optional[InputFormat] = INPUT_FORMAT_OPT,
    encoding: Optional[str] = ENCODING_OPT,
    max_bytes: Optional[int] = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Extractive question answering: the span of each document that answers the question."""

    def body() -> int:
        if questions_file is None:
            if len(args) < 2:
                raise UsageError("give a question and at least one document (or --questions FILE)")
            questions, sources = [args[0]], args[1:]
        else:
            sources = args
            questions = read_questions(questions_file, encoding, max_bytes)
        if sum(1 for s in sources if s == "-") + (questions_file == "-") > 1:
            raise UsageError("stdin (-) can be read only once")
        if not questions[0].strip() and len(questions) == 1:
            raise InputError("empty question")
        from .qa import Asker, check_options
        from .render import Renderer

        check_options(top_k, max_answer_len, passages)

        several = len(questions) > 1 or len(sources) > 1
        renderer = Renderer(fmt.value, sys.stdout, several=several)
        asker: Optional[Asker] = None
        failed: List[str] = []
        for doc in documents(sources, encoding, max_bytes, failed, input_format):
            if asker is None:
                asker = Asker(model=model, device=device.value, offline=offline,
                              retrieval_only=retrieval_only)
            for result in asker.ask(doc, questions, top_k=top_k, max_answer_len=max_answer_len,
                                    full=full, passages=passages):
                if not result.answers:
                    note(f"{result.source}: no answer to {result.question!r}")
                renderer.answers(result)
        renderer.close()
        return EXIT_INPUT if failed else 0

    run_guarded(body, verbose)


def read_questions(source: str, encoding: Optional[str], max_bytes: Optional[int]) -> List[str]:
    """One question per line; blank lines are skipped."""
    from .inputs import read_document

    try:
        doc = read_document(source, encoding=encoding, max_bytes=max_bytes, input_format="text")
    except InputError as err:
        raise InputError(err.message.replace("empty document", "empty questions file")) from None
    return [line.strip() for line in doc.text.splitlines() if line.strip()]


@app.command("text")
def text_command(
    inputs: List[str] = typer.Argument(..., help="Files, http(s) URLs, or - for stdin."),
    fmt: Format = FORMAT_OPT,
    input_format: Optional[InputFormat] = INPUT_FORMAT_OPT,
    encoding: Optional[str] = ENCODING_OPT,
    max_bytes: Optional[int] = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Print the text bertcli reads from each input (HTML, Markdown and PDF converted).

    The offsets that summarize and ask report index into exactly this text. No model loads.
    """

    def body() -> int:
        import json

        failed: List[str] = []
        several = len(inputs) > 1
        records = []
        for i, doc in enumerate(documents(inputs, encoding, max_bytes, failed, input_format)):
            record = {"source": doc.source, "format": doc.format, "text": doc.text}
            if fmt == Format.json:
                records.append(record)
            elif fmt == Format.jsonl:
                print(json.dumps(record, ensure_ascii=False), flush=True)
            else:
                if several:
                    print(("\n" if i else "") + f"==> {doc.source} <==")
                print(doc.text.rstrip("\n"), flush=True)
        if fmt == Format.json:
            payload = records if several else (records[0] if records else [])
            print(json.dumps(payload, ensure_ascii=False, indent=2))
        return EXIT_INPUT if failed else 0

    run_guarded(body, verbose)


@eval_app.command("summarize")
def eval_summarize(
    data: str = typer.Argument(..., help="JSON Lines with \"article\" and \"highlights\" fields."),
    strategy: str = typer.Option("learned", "--strategy", "-s", help="Strategy to score."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="Also score this strategy; report win rate."),
    num_sentences: int = typer.Option(3, "--num-sentences", "-n", help="Sentences per summary."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N records."),
    shuffle: Optional[int] = typer.Option(
        None, "--shuffle", help="Shuffle each article's sentences with this seed first."
    ),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    precision: str = PRECISION_OPT,
    offline: bool = OFFLINE_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """ROUGE-1/2/Lsum F1 (rouge-score, stemming) of a strategy against reference highlights."""

    def body() -> int:
        from .evaluate import METRICS, EvalReport, evaluate_summaries, load_jsonl
        from .fast import check_precision
        from .summary import Summarizer, check_strategy, sentence_count

        sentence_count(10, num_sentences, None)
        for name in [strategy] + ([baseline] if baseline else []):
            check_strategy(name)
        check_precision(precision)
        records = load_jsonl(data, limit)
        summarizer = Summarizer(model=model, device=device.value, offline=offline,
                                precision=precision, strategy=strategy)
        report = EvalReport(strategy, summarizer.model_name, len(records),
                            evaluate_summaries(summarizer, records, strategy, num_sentences, shuffle))
        if baseline:
            report.baseline = baseline
            report.baseline_scores = evaluate_summaries(summarizer, records, baseline, num_sentences, shuffle)
        result = report.summary()
        if fmt in (Format.json, Format.jsonl):
            import json

            print(json.dumps(result, indent=2 if fmt == Format.json else None))
            return 0
        head = f"{strategy} · {result['model']} · {result['articles']} articles"
        print(head + (f" · shuffled (seed {shuffle})" if shuffle is not None else ""))
        for m in METRICS:
            e = result["metrics"][m]
            line = f"{m:10} {e['f1']:6.2f}  [{e['ci95'][0]:.2f}, {e['ci95'][1]:.2f}]"
            if "vs_baseline" in e:
                v = e["vs_baseline"]
                line += (f"   {baseline} {v['baseline_f1']:6.2f}  diff {v['difference']:+.2f} "
                         f"[{v['difference_ci95'][0]:+.2f}, {v['difference_ci95'][1]:+.2f}]  "
                         f"wins {100 * v['win_rate']:.0f}% losses {100 * v['loss_rate']:.0f}%")
            print(line)
        return 0

    run_guarded(body, verbose)


@eval_app.command("ask")
def eval_ask(
    data: str = typer.Argument(..., help="SQuAD-layout JSON file (v1.1 or v2.0; .gz allowed)."),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help=MODEL_HELP + " [default: as for ask]"
    ),
    predictions_file: Optional[str] = typer.Option(
        None, "--predictions", help="Write {question id: answer text} here (official format)."
    ),
    abstain: Optional[bool] = typer.Option(
        None, "--abstain/--no-abstain",
        help="Let the reader answer nothing [default: only for SQuAD 2.0 files].",
    ),
    max_answer_len: int = typer.Option(15, "--max-answer-len", help="Longest answer, in tokens."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N questions."),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    offline: bool = OFFLINE_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """SQuAD exact match and F1 of a reader, each question asked against its own paragraph."""

    def body() -> int:
        import json
        import time

        from . import squad
        from .qa import Asker

        if limit is not None and limit < 1:
            raise UsageError(f"--limit must be at least 1, got {limit}")
        if max_answer_len < 1:
            raise UsageError(f"--max-answer-len must be at least 1, got {max_answer_len}")
        if predictions_file and not os.path.isdir(os.path.dirname(os.path.abspath(predictions_file))):
            raise InputError(f"{predictions_file}: cannot write (no such directory)")
        articles = squad.load_articles(data)
        questions = list(squad.iter_questions(articles))[:limit]
        if not questions:
            raise InputError(f"{data}: holds no questions")
        allow_null = squad.has_unanswerable(articles) if abstain is None else abstain
        began = time.perf_counter()
        asker = Asker(model=model, device=device.value, offline=offline)
        if asker.reader is None:
            raise UsageError("eval ask needs a reader; none could be loaded")
        predictions, refused = squad.predict(asker, questions, allow_null, max_answer_len)
        scores = squad.score(questions, predictions)
        if predictions_file:
            from .render import write_atomically

            write_atomically(predictions_file, json.dumps(predictions, ensure_ascii=False, indent=1) + "\n")
        result = {"model": asker.model_name, "data": data, "questions": len(questions),
                  "exact_match": round(scores["exact_match"], 2), "f1": round(scores["f1"], 2),
                  "abstain": allow_null, "refused": refused,
                  "seconds": round(time.perf_counter() - began, 1)}
        if fmt in (Format.json, Format.jsonl):
            print(json.dumps(result, indent=2 if fmt == Format.json else None))
            return 0
        print(f"{result['model']} · {data} · {result['questions']} questions"
              + (" · abstention on" if allow_null else ""))
        print(f"exact match {result['exact_match']:6.2f}")
        print(f"F1          {result['f1']:6.2f}")
        if refused:
            print(f"({refused} questions too long for the reader, counted wrong)")
        return 0

    run_guarded(body, verbose)


def main() -> None:
    """The console entry point. Ends the process without Python's interpreter teardown, which
    takes ~0.3 s once ONNX Runtime, spaCy and numpy are loaded (every file's output is written
    and flushed by then; a shell loop over many files pays it on every call)."""
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = EXIT_FAILURE if code is not None else 0
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # reader gone, or stdout already closed
        code = code or EXIT_BROKEN_PIPE
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)
