"""Render result objects as text, JSON, JSON Lines or Markdown.

The renderers only read results; they never compute. `text` is rich on a terminal and plain
(one item per line, no colour codes) when stdout is a pipe or file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TextIO


class Format(str, Enum):
    """What commands write: text (rich on a terminal, plain in a pipe), JSON, JSON Lines, Markdown."""

    text = "text"
    json = "json"
    jsonl = "jsonl"
    markdown = "markdown"

def summary_to_dict(summary) -> dict[str, Any]:
    return {
        "source": summary.source,
        "format": summary.format,
        "language": getattr(summary, "language", None),
        "model": summary.model,
        "strategy": summary.strategy,
        "sentences": [_sentence_dict(summary, s) for s in summary.sentences],
        **({"sections": [_section_dict(summary, part) for part in summary.sections]}
           if getattr(summary, "sections", None) else {}),
    }


def _sentence_dict(summary, s) -> dict[str, Any]:
    """A sentence as JSON: its text with whitespace collapsed (its offsets index the document's
    text as it is)."""
    section = summary.section(s) if hasattr(summary, "section") else None
    return {"index": s.index, "start": s.start, "end": s.end, "text": _one_line(s.text),
            **_page(summary.page(s) if hasattr(summary, "page") else None),
            **({"section": section} if section else {})}


def _section_dict(summary, part) -> dict[str, Any]:
    return {"title": part.title, "start": part.start, "end": part.end,
            "sentences": [_sentence_dict(summary, s) for s in part.sentences]}


def _page(page: int | None) -> dict[str, int]:
    """`page` for what a PDF holds (1-based); nothing for other formats."""
    return {} if page is None else {"page": page}


def _cite(page: int | None) -> str:
    """Text output cites a PDF's page after a sentence or an answer."""
    return "" if page is None else f" [p. {page}]"


def _sentence_page(summary, sentence) -> int | None:
    return summary.page(sentence) if hasattr(summary, "page") else None


def _answer_dict(a, result) -> dict[str, Any]:
    section = getattr(a, "section", None)
    return {
        "text": _one_line(a.text),  # whitespace collapsed; start/end index the text as it is
        "start": a.start,
        "end": a.end,
        "score": round(float(a.score), 6),
        "context": _one_line(a.context),
        "context_start": a.context_start,
        "source": a.source or result.source,
        **_page(getattr(a, "page", None)),
        **({"section": section} if section else {}),
    }


def answers_to_dict(result) -> dict[str, Any]:
    """An AskResult as JSON: `answers` is empty when the document does not answer; then
    `best_guess` holds the best span anyway, and `no_answer_score` is the probability that
    no answer is right (1 - the best span's score; null in retrieval mode)."""
    guess = getattr(result, "best_guess", None)
    return {
        "source": result.source,
        "format": result.format,
        "language": getattr(result, "language", None),
        "model": result.model,
        "mode": result.mode,
        "question": result.question,
        "answers": [_answer_dict(a, result) for a in result.answers],
        "no_answer_score": getattr(result, "no_answer_score", None),
        "best_guess": _answer_dict(guess, result) if guess is not None else None,
        "passages": [{"start": p.start, "end": p.end, "source": getattr(p, "source", "") or result.source}
                     for p in result.passages],
    }


def no_answer_line(result) -> str:
    """`no answer in DOC (best guess: "...", 0.12)`: one line, as a script reads it."""
    guess = getattr(result, "best_guess", None)
    where = result.source or "the document"
    if guess is None:
        return f"no answer in {where}"
    return f'no answer in {where} (best guess: "{_one_line(guess.text)}", {guess.score:.2f})'


def to_json(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=indent)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _parts(summary) -> list[tuple[str | None, list]]:
    """(section title, sentences): one untitled part, or one per section (--by-section)."""
    sections = getattr(summary, "sections", None)
    if not sections:
        return [(None, summary.sentences)]
    return [(part.title or "(before the first heading)", part.sentences) for part in sections]


def summary_plain(summary, with_header: bool) -> str:
    """A sentence a line; with --by-section, each section's title first as `## TITLE`."""
    lines = [f"==> {summary.source} <=="] if with_header else []
    for title, sentences in _parts(summary):
        if title is not None:
            lines += ([""] if len(lines) > with_header else []) + [f"## {_one_line(title)}"]
        lines += [_one_line(s.text) + _cite(_sentence_page(summary, s)) for s in sentences]
    return "\n".join(lines) + "\n"


def summary_markdown(summary) -> str:
    lines = [f"## {summary.source}", "", f"*{summary.model} · {summary.strategy}*", ""]
    for title, sentences in _parts(summary):
        if title is not None:
            lines += [f"### {_one_line(title)}", ""]
        lines += [f"- {_one_line(s.text)}{_cite(_sentence_page(summary, s))}" for s in sentences]
        if title is not None:
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _header(result, sources: bool) -> str:
    return f"{result.source}: {result.question}" if sources else result.question


def answers_plain(result, with_header: bool, sources: bool = False) -> str:
    """One answer per line; from several documents (`--across`), answer TAB source."""
    lines = [f"==> {_header(result, sources)} <=="] if with_header else []
    if result.across:
        lines += [f"{_one_line(a.text)}{_cite(getattr(a, 'page', None))}\t{a.source}" for a in result.answers]
    else:
        lines += [_one_line(a.text) + _cite(getattr(a, "page", None)) for a in result.answers]
    if not result.answers:
        lines.append(no_answer_line(result))  # one line per question, as `paste` expects
    return "\n".join(lines) + "\n"


def answers_markdown(result) -> str:
    lines = [f"## {result.question}", "", f"*{result.source} · {result.model} · {result.mode}*", ""]
    if not result.answers:
        lines.append(f"_{no_answer_line(result)}_")
    for a in result.answers:
        where = f" _({a.source})_" if result.across else ""
        lines.append(f"- **{_one_line(a.text)}** ({a.score:.3f}){where}{_cite(getattr(a, 'page', None))}"
                     f" — {_one_line(a.context)}")
    return "\n".join(lines) + "\n"


class Sink:
    """The one place command output goes: `text` (rich on a terminal, plain in a pipe),
    `json`, `jsonl` or `markdown`. Whether stdout is a terminal is decided here, once;
    tests pass `terminal=` instead."""

    def __init__(self, fmt: str, out: TextIO | None = None, terminal: bool | None = None):
        self.fmt = fmt
        self.out = out if out is not None else sys.stdout
        self.terminal = self.out.isatty() if terminal is None else terminal
        self.rich = fmt == "text" and self.terminal
        self._console: Any = None

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _rich(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False,
                                    force_terminal=self.terminal or None)
        return self._console

    def table(self, columns: Sequence[str], rows: Sequence[dict[str, Any]],
              cells: Callable[[dict[str, Any]], Sequence[str]] | None = None) -> None:
        """Rows as a table: JSON keeps each row's fields; text and Markdown show `columns`,
        with `cells(row)` giving each row's shown values (default: the row's values)."""
        show = cells or (lambda row: [str(v) for v in row.values()])
        if self.fmt == "json":
            self._write(to_json(list(rows)) + "\n")
        elif self.fmt == "jsonl":
            for row in rows:
                self._write(to_json(row, indent=None) + "\n")
        elif self.fmt == "markdown":
            lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in show(r)) + " |" for r in rows]
            self._write("\n".join(lines) + "\n")
        elif self.rich:
            from rich.table import Table

            table = Table(*columns)
            for column in table.columns:
                column.overflow = "fold"  # long names and paths wrap; they are never cut
            for row in rows:
                table.add_row(*show(row))
            self._rich().print(table)
        else:  # a pipe: tab-separated, with a header line
            self._write("\n".join("\t".join(line) for line in [list(columns)] + [list(show(r)) for r in rows]) + "\n")

    def record(self, obj: dict[str, Any], lines: Sequence[str], title: str = "") -> None:
        """One result: JSON as `obj`, text as `lines` (a heading and a list in Markdown)."""
        if self.fmt == "json":
            self._write(to_json(obj) + "\n")
        elif self.fmt == "jsonl":
            self._write(to_json(obj, indent=None) + "\n")
        elif self.fmt == "markdown":
            body = ([f"## {title}", ""] if title else []) + [f"- {line}" for line in lines]
            self._write("\n".join(body) + "\n")
        else:
            self._write("\n".join(([title] if title else []) + list(lines)) + "\n")


class Renderer(Sink):
    """Writes summaries and answers in one format; `json` collects them into one list."""

    def __init__(self, fmt: str, out: TextIO | None = None, several: bool = False,
                 sources: bool = False, terminal: bool | None = None):
        super().__init__(fmt, out, terminal)
        self.several = several
        self.sources = sources  # several documents: headers name each answer's document
        self._collected: list[dict[str, Any]] = []
        self._first = True

    def document(self, doc, show_removed: bool = False) -> None:
        """The text bertcli reads from one input (the `text` command); `show_removed` shows
        each line reading left out, and why, where it was."""
        from .render_document import document_to_dict, text_with_removed

        text = text_with_removed(doc) if show_removed else doc.text
        if self.fmt in ("json", "jsonl"):
            self._emit(document_to_dict(doc))
        elif self.fmt == "markdown":
            self._write(("" if self._first else "\n") + f"## {doc.source}\n\n{text.rstrip()}\n")
        else:
            header = f"==> {doc.source} <==\n" if self.several else ""
            self._write(("\n" if self.several and not self._first else "") + header
                        + text.rstrip("\n") + "\n")
        self._first = False

    def summary(self, summary) -> None:
        if self.fmt in ("json", "jsonl"):
            self._emit(summary_to_dict(summary))
        elif self.fmt == "markdown":
            self._write(("" if self._first else "\n") + summary_markdown(summary))
        elif self.rich:
            self._rich_summary(summary)
        else:
            self._write(("" if self._first or not self.several else "\n") + summary_plain(summary, self.several))
        self._first = False

    def answers(self, result) -> None:
        if self.fmt in ("json", "jsonl"):
            self._emit(answers_to_dict(result))
        elif self.fmt == "markdown":
            self._write(("" if self._first else "\n") + answers_markdown(result))
        elif self.rich:
            self._rich_answers(result)
        else:
            self._write(answers_plain(result, self.several, self.sources))
        self._first = False

    def _emit(self, obj: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            self._write(to_json(obj, indent=None) + "\n")
        else:
            self._collected.append(obj)

    def close(self) -> None:
        """Write what `json` collected: one object for one result, else a list."""
        if self.fmt == "json" and (self._collected or self.several):
            body = self._collected if self.several else self._collected[0]
            self._write(to_json(body) + "\n")

    def _rich_summary(self, summary) -> None:
        from rich.markup import escape
        from rich.panel import Panel
        from rich.text import Text

        body = Text()
        for title, sentences in _parts(summary):
            if title is not None:
                body.append(("\n\n" if body else "") + _one_line(title), style="bold")
            for i, s in enumerate(sentences):
                if body:
                    body.append("\n\n")
                body.append(f"{i + 1}. ", style="bold cyan")
                body.append(_one_line(s.text))
                body.append(_cite(_sentence_page(summary, s)), style="dim")
        title = f"[bold]{escape(summary.source)}[/] · {escape(summary.model)} · {summary.strategy}"
        self._rich().print(Panel(body, title=title, title_align="left", border_style="dim"))

    def _rich_answers(self, result) -> None:
        from rich.markup import escape
        from rich.panel import Panel
        from rich.text import Text

        body = Text()
        if not result.answers:
            body.append(no_answer_line(result), style="italic")
        for i, a in enumerate(result.answers):
            if i:
                body.append("\n\n")
            body.append(_one_line(a.text), style="bold green")
            section = f" · {a.section}" if getattr(a, "section", None) else ""
            body.append(f"  score {a.score:.3f}{_cite(getattr(a, 'page', None))}{section}", style="dim")
            if result.across:
                body.append(f"  {a.source}", style="cyan")
            body.append("\n")
            ctx = _one_line(a.context)
            ans = _one_line(a.text)
            at = ctx.find(ans)
            if at >= 0:
                body.append(ctx[:at], style="dim")
                body.append(ans, style="green")
                body.append(ctx[at + len(ans):], style="dim")
            else:
                body.append(ctx, style="dim")
        mode = "" if result.mode == "reader" else " · retrieval only"
        where = f"{escape(result.source)} · " if self.sources else ""
        title = f"{where}[bold]{escape(result.question)}[/] · {escape(result.model)}{mode}"
        self._rich().print(Panel(body, title=title, title_align="left", border_style="dim"))
