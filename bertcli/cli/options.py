"""Choices and options shared by bertcli's commands (typer `Option` aliases)."""

from __future__ import annotations

import typer

# The choices are the library's own (one spelling each); the CLI only offers them.
from ..backends.load import Device, Precision
from ..read.formats import InputFormat
from ..render import Format
from ..summarize.strategies import Strategy

__all__ = ["Device", "Format", "InputFormat", "Precision", "Strategy"]


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
    Precision.auto, "--precision",
    help="Encoder numerics on CPU: fp32 (exact), int8 (per token, ~1.6x faster; rarely picks "
         "other sentences) or auto (int8 for learned on CPUs with int8 dot products, else fp32).",
)
READER_PRECISION_OPT = typer.Option(
    Precision.auto, "--precision",
    help="Reader numerics on CPU: fp32 (exact) or int8 (per token, ~1.6x faster, may answer "
         "differently); auto is fp32.",
)
INPUT_FORMAT_OPT = typer.Option(
    None, "--input-format", "-i",
    help="Read inputs as this format: text, html, markdown, pdf, docx (Word) or rst "
         "(reStructuredText); default: from the extension, Content-Type or content.",
)
LANG_OPT = typer.Option(
    "auto", "--lang",
    help="Language of the documents: auto (detected per document) or a code such as en, de, "
         "zh, ar; picks the sentence rules.",
)
# Options of the commands that answer questions (ask, chat).
TOP_K_OPT = typer.Option(1, "--top-k", "-k", help="Answers per question.")
MAX_ANSWER_LEN_OPT = typer.Option(15, "--max-answer-len", help="Longest answer, in tokens.")
FULL_OPT = typer.Option(False, "--full", help="Read the whole document even when it is long.")
PASSAGES_OPT = typer.Option(10, "--passages", help="Passages the reader reads in a long document.")
RETRIEVAL_ONLY_OPT = typer.Option(
    False, "--retrieval-only", help="No reader: return the best-matching sentences."
)
READER_OPT = typer.Option(
    None, "--model", "-m",
    help="Hub id or local directory of the model. (default: distilbert-base-cased-distilled-squad)",
)
MIN_SCORE_OPT = typer.Option(
    None, "--min-score", min=0.0, max=1.0,
    help="Answer only when the best answer's score (the probability that it is right) is at "
         "least this; else say 'no answer' (default: the bundled reader's threshold, chosen on "
         "held-out training data).",
)
ALWAYS_ANSWER_OPT = typer.Option(
    False, "--always-answer", help="Give the best span even when the document does not seem to answer."
)
VERBOSE_OPT = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors.")
QUIET_OPT = typer.Option(False, "--quiet", help="No notices on stderr (errors are still printed).")
