"""The bertcli command line: parse, call the API, render.

Only light modules are imported here; torch and transformers load inside commands, so that
`bertcli --help` and usage errors stay fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from enum import Enum
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Tuple

import typer

if TYPE_CHECKING:
    from .inputs import Document

from . import __version__
from .errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
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
    from .notices import notice

    notice(message)


def _apply_quiet() -> None:
    """--quiet, given to the command or before it (`bertcli --quiet summarize …`)."""
    get_current_context = _click_parts()[1]
    ctx = get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("quiet"):
            from .notices import set_quiet

            set_quiet(True)
            return
        ctx = ctx.parent


def run_guarded(body: Callable[[], int], verbose: bool) -> None:
    """Run a command body: one-line errors, documented exit codes, tracebacks only on --verbose."""
    try:
        _apply_quiet()
        _check_unused_model()
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
    except OSError as err:
        if verbose:
            traceback.print_exc()
        if not _is_stdout_error(err):
            error(f"unexpected {type(err).__name__}: {err} (rerun with --verbose for details)")
            code = EXIT_FAILURE
        else:
            code = _output_error(err)
    except Exception as err:  # a bug: say so in one line unless asked for details
        if verbose:
            traceback.print_exc()
        error(f"unexpected {type(err).__name__}: {err} (rerun with --verbose for details)")
        code = EXIT_FAILURE
    raise typer.Exit(code)


def _is_stdout_error(err: OSError) -> bool:
    """An OSError that came from writing to stdout (full disk, closed descriptor)."""
    import errno

    return err.errno in (errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT, errno.EFBIG)


def _check_unused_model() -> None:
    """`ask --retrieval-only --model M` loads no reader, but an unusable explicit model is
    still the documented error (exit 4), not silently ignored."""
    ctx = _click_parts()[1](silent=True)
    params = ctx.params if ctx is not None else {}
    if params.get("retrieval_only") and params.get("model"):
        from .models import check_explicit_model

        check_explicit_model(params["model"])


def documents(sources: List[str], encoding: Optional[str], max_bytes: Optional[int],
              failed: List[str], input_format: Optional["InputFormat"] = None) -> Iterator["Document"]:
    """Read each source in turn. With several, a bad one is reported, noted in `failed` and
    skipped, so the others are still processed; a single bad source is the command's error."""
    from .fetch import is_url
    from .inputs import STDIN, read_document

    if sources.count(STDIN) > 1:
        raise UsageError("stdin (-) can be read only once")
    offline = _offline_option()
    for source in sources:
        try:
            if offline and is_url(source):
                raise InputError(f"{source}: not downloaded: --offline (or HF_HUB_OFFLINE=1) "
                                 "never uses the network")
            yield read_document(source, encoding=encoding, max_bytes=max_bytes,
                                input_format=input_format.value if input_format else None)
        except InputError as err:
            if len(sources) == 1:
                raise
            error(err.message)
            failed.append(source)


def check_output_path(path: Optional[str]) -> None:
    """Fail now, before any work, if `path` (an output file to write later) cannot be written."""
    if path:
        from .render import check_writable

        check_writable(path)


def _click_parts():
    """click's exceptions module and get_current_context: typer >= 0.26 vendors click as
    typer._click; earlier versions use click itself."""
    try:
        from typer._click import exceptions
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions  # type: ignore[no-redef]
        from click import get_current_context  # type: ignore[no-redef]
    return exceptions, get_current_context


def _offline_option() -> bool:
    """Whether the running command has --offline set (or HF_HUB_OFFLINE=1): then URL inputs
    are refused, since --offline never uses the network."""
    from .models import offline_requested

    ctx = _click_parts()[1](silent=True)
    if ctx is None or "offline" not in ctx.params:
        return False
    return offline_requested(bool(ctx.params["offline"]))


def _version(value: bool) -> None:
    if value:
        print(f"bertcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", help="No notices on stderr for any command (also: BERTCLI_QUIET=1)."
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
    "auto", "--precision",  # summary.DEFAULT_PRECISION (not imported: keeps --help light)
    help="Encoder numerics on CPU: fp32 (exact), int8 (block-wise, faster; rarely picks other "
         "sentences) or auto (int8 for central, fp32 for cluster).",
)
INPUT_FORMAT_OPT = typer.Option(
    None, "--input-format", "-i",
    help="Read inputs as this format [default: from the extension, Content-Type or content].",
)
VERBOSE_OPT = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors.")
QUIET_OPT = typer.Option(False, "--quiet", help="No notices on stderr (errors are still printed).")


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
        "central", "--strategy", "-s",
        help="central (centrality + position + diversity), cluster (the tutorial's k-means), lead.",
    ),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP + " [default: distilbert-base-uncased]"),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    precision: str = PRECISION_OPT,
    offline: bool = OFFLINE_OPT,
    input_format: Optional[InputFormat] = INPUT_FORMAT_OPT,
    encoding: Optional[str] = ENCODING_OPT,
    max_bytes: Optional[int] = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Extractive summary: the sentences that best represent each document."""

    def body() -> int:
        from .render import Renderer
        from .summary import Summarizer, check_strategy, sentence_count

        # Check option values before any model loads.
        sentence_count(10, num_sentences, ratio)
        check_strategy(strategy)
        from .summary import check_precision

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
    quiet: bool = QUIET_OPT,
) -> None:
    """Default models: whether each is cached, where, and its size. Never uses the network."""

    def body() -> int:
        from .models import inventory
        from .render import Sink

        def cells(row) -> List[str]:
            size = f"{row['size_bytes'] / 1e6:.0f} MB" if row["size_bytes"] else "-"
            return [row["model"], row["role"], "yes" if row["cached"] else "no", size, row["path"] or "-"]

        Sink(fmt.value).table(["model", "used by", "cached", "size", "path"], inventory(), cells)
        return 0

    run_guarded(body, verbose)


@models_app.command("pull")
def models_pull(
    model_id: str = typer.Argument(..., help="Hub id to download into the local cache."),
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
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
    across: bool = typer.Option(
        False, "--across", help="Treat all documents as one collection: the best answers "
        "among them all, each naming its source."
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
    quiet: bool = QUIET_OPT,
) -> None:
    """Extractive question answering: the span of each document that answers the question."""

    def body() -> int:
        if questions_file is None:
            if len(args) < 2:
                raise UsageError("give a question and at least one document (or --questions FILE)")
            questions, sources = [(0, args[0])], args[1:]
            _question_order_hint(args)
        else:
            sources = args
            questions = read_questions(questions_file, encoding, max_bytes)
        if sum(1 for s in sources if s == "-") + (questions_file == "-") > 1:
            raise UsageError("stdin (-) can be read only once")
        if not questions[0][1].strip() and len(questions) == 1:
            raise InputError("empty question")
        from .qa import Asker, AskResult, check_options
        from .render import Renderer

        check_options(top_k, max_answer_len, passages)

        # --across gives one result per question, whatever the number of documents
        several = len(questions) > 1 or (len(sources) > 1 and not across)
        renderer = Renderer(fmt.value, sys.stdout, several=several,
                            sources=len(sources) > 1 and not across)
        asker: Optional[Asker] = None
        failed: List[str] = []
        asked: List[str] = []
        pooled: List[List] = []
        for doc in documents(sources, encoding, max_bytes, failed, input_format):
            if asker is None:
                asker = Asker(model=model, device=device.value, offline=offline,
                              retrieval_only=retrieval_only)
                asked = _checked_questions(asker, questions, questions_file, failed)
                pooled = [[] for _ in asked]
                if not asked:
                    break
            for i, result in enumerate(asker.iter_ask(doc, asked, top_k=top_k,
                                                      max_answer_len=max_answer_len,
                                                      full=full, passages=passages)):
                if across:
                    pooled[i].extend(result.answers)
                    continue
                if not result.answers:
                    note(f"{result.source}: no answer to {result.question!r}")
                renderer.answers(result)
        if across and asker is not None:
            read = [s for s in sources if s not in failed]
            for question, answers in zip(asked, pooled):
                best = sorted(answers, key=lambda a: -a.score)[:top_k]
                if not best:
                    note(f"no answer to {question!r} in {len(read)} document(s)")
                renderer.answers(AskResult(", ".join(read), asker.model_name, asker.mode, question,
                                           best, [], across=True))
        renderer.close()
        return EXIT_INPUT if failed else 0

    run_guarded(body, verbose)


def _question_order_hint(args: List[str]) -> None:
    """`ask article.txt "Who?"`: say that the question comes first."""
    first, rest = args[0], args[1:]
    if len(rest) == 1 and os.path.isfile(first) and not os.path.exists(rest[0]) \
            and "://" not in rest[0] and rest[0] != "-":
        raise InputError(f"{rest[0]}: no such file (the question comes first: "
                         f"bertcli ask \"QUESTION\" {first})")


def _checked_questions(asker, questions, questions_file: Optional[str],
                       failed: List[str]) -> List[str]:
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


def read_questions(source: str, encoding: Optional[str],
                   max_bytes: Optional[int]) -> List[Tuple[int, str]]:
    """One question per line, with its line number; blank lines are skipped."""
    from .inputs import read_document

    try:
        doc = read_document(source, encoding=encoding, max_bytes=max_bytes, input_format="text")
    except InputError as err:
        raise InputError(err.message.replace("empty document", "empty questions file")) from None
    return [(number, line.strip()) for number, line in enumerate(doc.text.splitlines(), 1)
            if line.strip()]


@app.command("text")
def text_command(
    inputs: List[str] = typer.Argument(..., help="Files, http(s) URLs, or - for stdin."),
    fmt: Format = FORMAT_OPT,
    input_format: Optional[InputFormat] = INPUT_FORMAT_OPT,
    encoding: Optional[str] = ENCODING_OPT,
    max_bytes: Optional[int] = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Print the text bertcli reads from each input (HTML, Markdown and PDF converted).

    The offsets that summarize and ask report index into exactly this text. No model loads.
    """

    def body() -> int:
        from .render import Renderer

        failed: List[str] = []
        renderer = Renderer(fmt.value, several=len(inputs) > 1)
        for doc in documents(inputs, encoding, max_bytes, failed, input_format):
            renderer.document(doc)
        renderer.close()
        return EXIT_INPUT if failed else 0

    run_guarded(body, verbose)


@eval_app.command("summarize")
def eval_summarize(
    data: str = typer.Argument(..., help="JSON Lines with \"article\" and \"highlights\" fields."),
    strategy: str = typer.Option("central", "--strategy", "-s", help="Strategy to score."),
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
    quiet: bool = QUIET_OPT,
) -> None:
    """ROUGE-1/2/Lsum F1 (rouge-score, stemming) of a strategy against reference highlights."""

    def body() -> int:
        from .evaluate import METRICS, EvalReport, evaluate_summaries, load_jsonl
        from .summary import Summarizer, check_precision, check_strategy, sentence_count

        sentence_count(10, num_sentences, None)
        if limit is not None and limit < 1:
            raise UsageError(f"--limit must be at least 1, got {limit}")
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
        from .render import Sink

        lines = []
        for m in METRICS:
            e = result["metrics"][m]
            line = f"{m:10} {e['f1']:6.2f}  [{e['ci95'][0]:.2f}, {e['ci95'][1]:.2f}]"
            if "vs_baseline" in e:
                v = e["vs_baseline"]
                line += (f"   {baseline} {v['baseline_f1']:6.2f}  diff {v['difference']:+.2f} "
                         f"[{v['difference_ci95'][0]:+.2f}, {v['difference_ci95'][1]:+.2f}]  "
                         f"wins {100 * v['win_rate']:.0f}% losses {100 * v['loss_rate']:.0f}%")
            lines.append(line)
        head = f"{strategy} · {result['model']} · {result['articles']} articles"
        head += f" · shuffled (seed {shuffle})" if shuffle is not None else ""
        Sink(fmt.value).record(result, lines, title=head)
        return 0

    run_guarded(body, verbose)


@eval_app.command("ask")
def eval_ask(
    data: str = typer.Argument(..., help="SQuAD-layout JSON file (v1.1 or v2.0; .gz allowed)."),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help=MODEL_HELP + " [default: as for ask]"
    ),
    whole_article: bool = typer.Option(
        False, "--whole-article", help="Ask each question of its whole article (paragraphs "
        "joined by a blank line) through ask's own path, instead of its own paragraph."
    ),
    passages: int = typer.Option(10, "--passages", help="With --whole-article: passages read."),
    full: bool = typer.Option(False, "--full", help="With --whole-article: read the whole article."),
    predictions_file: Optional[str] = typer.Option(
        None, "--predictions", help="Write {question id: answer text} here (official format)."
    ),
    abstain: Optional[bool] = typer.Option(
        None, "--abstain/--no-abstain",
        help="Let the reader answer nothing [default: only for SQuAD 2.0 files].",
    ),
    max_answer_len: int = typer.Option(15, "--max-answer-len", help="Longest answer, in tokens."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N questions."),
    per_article: Optional[int] = typer.Option(
        None, "--per-article", help="Only N questions of each article, spread over it."
    ),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    offline: bool = OFFLINE_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """SQuAD exact match and F1 of a reader: each question asked against its own paragraph,
    or with --whole-article against its whole article, as a user asks a document."""

    def body() -> int:
        import json
        import time

        from . import squad
        from .qa import Asker, check_options

        for name, value in (("--limit", limit), ("--per-article", per_article)):
            if value is not None and value < 1:
                raise UsageError(f"{name} must be at least 1, got {value}")
        check_options(1, max_answer_len, passages)
        check_output_path(predictions_file)
        articles = squad.load_articles(data)
        questions = list(squad.iter_questions(articles))
        if per_article:
            questions = squad.spread(articles, per_article)
        questions = questions[:limit]
        if not questions:
            raise InputError(f"{data}: holds no questions")
        allow_null = squad.has_unanswerable(articles) if abstain is None else abstain
        began = time.perf_counter()
        asker = Asker(model=model, device=device.value, offline=offline)
        if asker.reader is None:
            raise UsageError("eval ask needs a reader; none could be loaded")
        if whole_article:
            keep = {q.id for q in questions}
            whole = [squad.Article(a.title, a.text, tuple(q for q in a.questions if q.id in keep))
                     for a in squad.whole_articles(articles)]
            whole = [a for a in whole if a.questions]
            predictions, refused = squad.predict_whole(asker, whole, allow_null, max_answer_len,
                                                       passages=passages, full=full)
        else:
            predictions, refused = squad.predict(asker, questions, allow_null, max_answer_len)
        seconds = time.perf_counter() - began
        scores = squad.score(questions, predictions)
        unanswerable = [q for q in questions if not q.answers]
        answerable = [q for q in questions if q.answers]
        if predictions_file:
            from .render import write_atomically

            write_atomically(predictions_file, json.dumps(predictions, ensure_ascii=False, indent=1) + "\n")
        result = {"model": asker.model_name, "data": data, "questions": len(questions),
                  "mode": "whole article" if whole_article else "paragraph",
                  "exact_match": round(scores["exact_match"], 2), "f1": round(scores["f1"], 2),
                  "abstain": allow_null, "refused": refused,
                  "seconds": round(seconds, 1),
                  "seconds_per_question": round(seconds / len(questions), 3)}
        if whole_article:
            result["passages"] = "all" if full else passages
        if unanswerable and answerable:
            answered = squad.score(answerable, predictions)
            result["answerable_f1"] = round(answered["f1"], 2)
            result["answerable_exact_match"] = round(answered["exact_match"], 2)
            result["answerable_overlap"] = round(squad.overlap_rate(answerable, predictions), 2)
        if unanswerable:
            abstained = sum(1 for q in unanswerable if not predictions.get(q.id))
            result["unanswerable_abstained"] = round(100.0 * abstained / len(unanswerable), 2)
        lines = [f"exact match {result['exact_match']:6.2f}", f"F1          {result['f1']:6.2f}"]
        if "answerable_f1" in result:
            lines.append(f"answerable: exact match {result['answerable_exact_match']:.2f}, F1 "
                         f"{result['answerable_f1']:.2f}, top answer overlaps gold "
                         f"{result['answerable_overlap']:.1f}%")
        if "unanswerable_abstained" in result:
            lines.append(f"unanswerable: abstained on {result['unanswerable_abstained']:.1f}%")
        lines.append(f"{result['seconds_per_question']:.3f} s per question ({result['seconds']} s)")
        if refused:
            lines.append(f"({refused} questions too long for the reader, counted wrong)")
        title = (f"{result['model']} · {data} · {result['questions']} questions · {result['mode']}"
                 + (" · abstention on" if allow_null else ""))
        from .render import Sink

        Sink(fmt.value).record(result, lines, title=title)
        return 0

    run_guarded(body, verbose)


def _usage_line(err) -> str:
    """A click usage error as bertcli's one line: the message, then where help is."""
    message = " ".join(err.format_message().split())
    ctx = getattr(err, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"{message}{where}"


def _standard_streams() -> bool:
    """Make closed standard streams safe. A closed stderr (`2>&-`) becomes /dev/null, so
    notices never land in stdout; a closed stdout (`>&-`) is an output error. Returns
    whether stdout is usable."""
    if sys.stderr is None:
        try:
            sys.stderr = open(os.devnull, "w", encoding="utf-8")
        except OSError:
            pass
    if sys.stdout is None:
        return False
    return True


def _output_error(err: OSError) -> int:
    """stdout cannot be written (closed, full disk, /dev/full): one line, exit 74."""
    reason = err.strerror or type(err).__name__
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
    except (OSError, ValueError, AttributeError):
        pass
    error(f"cannot write the output to stdout ({reason})")
    return EXIT_OUTPUT


def _broken_pipe_exit(done: SystemExit) -> bool:
    """typer (click's EPIPE handling) and rich (Console.on_broken_pipe) end with exit 1 when
    the reader of stdout goes away, e.g. while printing --help; bertcli's code for that is 141."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":
        return True
    tb = done.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == "on_broken_pipe"


def run(args: Optional[List[str]] = None) -> int:
    """Run the command line on `args` (default: sys.argv[1:]) and return the exit code,
    without ending the process. See `main`.

    Usage errors are one line (`bertcli: error: ...`, exit 2); a reader that goes away is exit
    141 and an unwritable stdout exit 74, whatever was running (`--help | head -1` too)."""
    exceptions = _click_parts()[0]
    code: "int | str | None" = EXIT_FAILURE
    if not _standard_streams():
        error("stdout is closed; nothing can be written (redirect it to a file or /dev/null)")
        return EXIT_OUTPUT
    try:
        try:
            code = app(args=args, standalone_mode=False)
        except exceptions.NoArgsIsHelpError as err:  # plain `bertcli`: the help, on stderr
            err.show()
            code = err.exit_code
        except exceptions.UsageError as err:
            error(_usage_line(err))
            code = err.exit_code
        except exceptions.ClickException as err:
            error(" ".join(err.format_message().split()))
            code = err.exit_code
        except (typer.Abort, KeyboardInterrupt, EOFError):
            print("bertcli: interrupted", file=sys.stderr)
            code = EXIT_INTERRUPTED
        except typer.Exit as done:
            code = done.exit_code
        except SystemExit as done:
            code = done.code
            if _broken_pipe_exit(done):
                raise BrokenPipeError from None
        if not isinstance(code, int):
            if code is not None:
                print(code, file=sys.stderr)
            code = EXIT_FAILURE if code is not None else 0
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`--help | head -1`)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        code = EXIT_BROKEN_PIPE
    except OSError as err:  # stdout full (/dev/full) or unwritable
        code = _output_error(err)
    except ValueError:  # stdout already closed
        code = code or EXIT_BROKEN_PIPE
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return code if isinstance(code, int) else EXIT_FAILURE


def main() -> None:
    """The console entry point. Ends the process without Python's interpreter teardown, which
    takes ~0.3 s once ONNX Runtime, spaCy and numpy are loaded (every file's output is written
    and flushed by then; a shell loop over many files pays it on every call)."""
    os._exit(run())
