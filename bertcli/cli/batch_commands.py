"""`batch summarize`, `batch index` and `batch delete`: a whole corpus, on a process pool or on Ray."""

from __future__ import annotations

import sys
from enum import Enum

import typer

from .core import app, note, run_guarded
from .options import (
    DEVICE_OPT,
    INPUT_FORMAT_OPT,
    MAX_BYTES_OPT,
    MODEL_HELP,
    OFFLINE_OPT,
    PRECISION_OPT,
    QUIET_OPT,
    VERBOSE_OPT,
    Device,
    InputFormat,
    Precision,
    Strategy,
)

batch_app = typer.Typer(help="Summarize or index a whole corpus (JSONL, CSV, Parquet, a folder), "
                             "on a process pool or a Ray cluster.", no_args_is_help=True)
app.add_typer(batch_app, name="batch")


class Engine(str, Enum):
    local = "local"
    ray = "ray"


CORPUS_ARG = typer.Argument(
    ..., metavar="CORPUS",
    help="A .jsonl, .csv or .parquet file of rows with an id and a text, or a directory or "
         "glob of documents (text, HTML, Markdown, PDF; the id is the file's path).")
ENGINE_OPT = typer.Option(Engine.local, "--engine", "-e",
                          help="local: a process pool; ray: Ray Data with an actor pool "
                               "(pip install 'bertcli[ray]').")
WORKERS_OPT = typer.Option(None, "--workers", "-w", min=1,
                           help="Worker processes (Ray: actors), one model each (default: one "
                                "per core; Ray: per CPU of the cluster).")
ADDRESS_OPT = typer.Option(None, "--address",
                           help="Ray: join this cluster (e.g. ray://head:10001 or auto); "
                                "default: start a local one.")
ID_FIELD_OPT = typer.Option("id", "--id-field", help="The id column or key.")
TEXT_FIELD_OPT = typer.Option("text", "--text-field", help="The text column or key.")


@batch_app.command("summarize")
def batch_summarize(
    corpus: str = CORPUS_ARG,
    out: str = typer.Option(..., "--out", "-o",
                            help="Output file, .jsonl or .parquet: one row per document (id, "
                                 "sentences with offsets, model, strategy, error). A rerun "
                                 "resumes: ids already there are skipped."),
    num_sentences: int | None = typer.Option(
        None, "--num-sentences", "-n", help="Sentences to pick (default 3)."),
    ratio: float | None = typer.Option(
        None, "--ratio", help="Pick this fraction of the sentences instead, in (0, 1]."),
    strategy: Strategy = typer.Option(Strategy.learned, "--strategy", "-s",
                                      help="As for summarize: learned, central, cluster, lead."),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    engine: Engine = ENGINE_OPT,
    workers: int | None = WORKERS_OPT,
    address: str | None = ADDRESS_OPT,
    shard_size: int = typer.Option(1000, "--shard-size", min=1,
                                   help="Documents per shard: the unit written at once, and "
                                        "the most a kill loses."),
    id_field: str = ID_FIELD_OPT,
    text_field: str = TEXT_FIELD_OPT,
    device: Device = DEVICE_OPT,
    precision: Precision = PRECISION_OPT,
    offline: bool = OFFLINE_OPT,
    input_format: InputFormat | None = INPUT_FORMAT_OPT,
    max_bytes: int | None = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Summarize every document of a corpus into one JSONL or Parquet file, resumably."""

    def body() -> int:
        from ..batch import SummarizeTask, summarize_corpus
        from ..read.document import check_max_bytes
        from ..summarize.summarizer import sentence_count

        sentence_count(10, num_sentences, ratio)  # option values checked before any work
        check_max_bytes(max_bytes)
        task = SummarizeTask(model=model, strategy=strategy.value, precision=precision.value,
                             device=device.value, offline=offline, num_sentences=num_sentences,
                             ratio=ratio)
        stats = summarize_corpus(corpus, out, task, engine=engine.value, workers=workers,
                                 address=address, shard_size=shard_size, id_field=id_field,
                                 text_field=text_field,
                                 input_format=input_format.value if input_format else None,
                                 max_bytes=max_bytes, on_notice=note)
        note(f"{out}: {stats.rows} rows; {stats.processed} summarized now"
             f"{f' ({stats.errors} with an error)' if stats.errors else ''}, "
             f"{stats.skipped} skipped (already done)")
        return 0

    run_guarded(body, verbose)


@batch_app.command("index")
def batch_index(
    corpus: str = CORPUS_ARG,
    out: str = typer.Option(..., "--out", "-o",
                            help="Index directory (a LanceDB table of passages, vectors and a "
                                 "full-text index, and index.json); ask it with "
                                 "`bertcli ask --index`."),
    append: bool = typer.Option(False, "--append",
                                help="Add the corpus's documents to the existing index OUT "
                                     "(ids already there are skipped, with a notice)."),
    replace: bool = typer.Option(False, "--replace",
                                 help="With --append: documents whose id is already in OUT "
                                      "replace their old passages."),
    resume: bool = typer.Option(False, "--resume",
                                help="Finish a run that was interrupted (OUT.parts): only "
                                     "documents not embedded yet are embedded."),
    engine: Engine = ENGINE_OPT,
    workers: int | None = WORKERS_OPT,
    address: str | None = ADDRESS_OPT,
    shard_size: int = typer.Option(1000, "--shard-size", min=1,
                                   help="Documents per shard: the unit written at once, and "
                                        "the most a kill loses."),
    id_field: str = ID_FIELD_OPT,
    text_field: str = TEXT_FIELD_OPT,
    device: Device = DEVICE_OPT,
    offline: bool = OFFLINE_OPT,  # the encoder is the bundled one: nothing to download anyway
    input_format: InputFormat | None = INPUT_FORMAT_OPT,
    max_bytes: int | None = MAX_BYTES_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Cut every document of a corpus into passages and embed them, for `ask --index`."""

    def body() -> int:
        from ..batch import index_corpus
        from ..read.document import check_max_bytes

        check_max_bytes(max_bytes)
        stats = index_corpus(corpus, out, engine=engine.value, workers=workers, address=address,
                             device=device.value, id_field=id_field, text_field=text_field,
                             input_format=input_format.value if input_format else None,
                             max_bytes=max_bytes, on_notice=note, shard_size=shard_size,
                             append=append, replace=replace, resume=resume)
        for error in stats.errors:
            note(f"not indexed: {error['error']}")
        now = (f"; {stats.added} added now" + (f" ({stats.replaced} replaced)" if stats.replaced else "")
               if append else "")
        note(f"{out}: {stats.passages} passages of {stats.documents} documents{now}"
             f"{f'; {len(stats.errors)} not indexed' if stats.errors else ''}")
        return 0

    run_guarded(body, verbose)


@batch_app.command("delete")
def batch_delete(
    index: str = typer.Argument(..., metavar="INDEX", help="An index of `bertcli batch index`."),
    ids: list[str] = typer.Argument(..., metavar="ID...",
                                    help="Ids of the documents to delete; `-` reads ids from "
                                         "stdin, one per line."),
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Delete documents (all their passages) from a corpus index, by id."""

    def body() -> int:
        from ..batch.index import delete_documents

        wanted = [i for i in ids if i != "-"]
        if "-" in ids:
            wanted += [line.strip() for line in sys.stdin if line.strip()]
        deleted, unknown = delete_documents(index, wanted)
        if unknown:
            note(f"not in {index}: {len(unknown)} id(s), e.g. {unknown[0]!r}")
        note(f"{index}: {len(deleted)} document(s) deleted")
        return 0

    run_guarded(body, verbose)


def ask_index_command(index: str, questions: list[str], top_k: int, max_answer_len: int,
                      passages: int, retrieval_only: bool, model: str | None, device: str,
                      offline: bool, fmt: str, abstain: bool = True,
                      min_score: float | None = None) -> int:
    """`bertcli ask --index INDEX QUESTION...`: every argument is a question."""
    from ..ask.asker import Asker, check_options
    from ..batch.index import CorpusIndex, ask_index
    from ..errors import UsageError
    from ..render import Renderer

    check_options(top_k, max_answer_len, passages, min_score)
    if not questions:
        raise UsageError("give a question (with --index, every argument is a question)")
    from ..backends.load import resolve_device

    corpus_index = CorpusIndex(index, device=resolve_device(device))
    asker = Asker(model=model, device=device, offline=offline, retrieval_only=retrieval_only)
    questions = [asker.check_question(q) for q in questions]  # all, before any is answered
    renderer = Renderer(fmt, sys.stdout, several=len(questions) > 1)
    for question in questions:
        result = ask_index(asker, corpus_index, question, top_k=top_k, passages=passages,
                           max_answer_len=max_answer_len, abstain=abstain, min_score=min_score)
        if not result.answers:
            note(f"no answer to {result.question!r} in {corpus_index.meta.get('documents', 0)} document(s)")
        renderer.answers(result)
    renderer.close()
    return 0
