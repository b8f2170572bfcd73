"""`bertcli schema answer|summary|document`: print the JSON Schema of a command's JSON records."""

from __future__ import annotations

import sys
from enum import Enum

import typer

from .core import app, run_guarded
from .options import QUIET_OPT, VERBOSE_OPT


class SchemaName(str, Enum):
    answer = "answer"
    summary = "summary"
    document = "document"


@app.command("schema")
def schema_command(
    name: SchemaName = typer.Argument(..., help="answer (ask, chat, serve /ask), summary (summarize, "
                                      "serve /summarize, batch summarize rows) or document (text)."),
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Print the JSON Schema (draft 2020-12) that a record of `--format json|jsonl` follows,
    each field described. No model loads."""

    def body() -> int:
        from ..schemas import schema_text

        sys.stdout.write(schema_text(name.value))
        sys.stdout.flush()
        return 0

    run_guarded(body, verbose)
