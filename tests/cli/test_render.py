"""The one output sink: every format, rich on a terminal and plain in a pipe."""

import io
import json

from bertcli.read.document import Document
from bertcli.render import Renderer, Sink

ROWS = [{"model": "all-MiniLM-L6-v2", "role": "summarize", "path": "/a/very/long/path/" + "x" * 120},
        {"model": "tiny", "role": "ask", "path": "-"}]
COLUMNS = ["model", "used by", "path"]


def cells(row):
    return [row["model"], row["role"], row["path"]]


def render(fmt, terminal=False, **kwargs):
    out = io.StringIO()
    Sink(fmt, out, terminal=terminal).table(COLUMNS, ROWS, cells, **kwargs)
    return out.getvalue()


def test_table_in_a_pipe_is_tsv_with_a_header():
    lines = render("text").splitlines()
    assert lines[0] == "model\tused by\tpath"
    assert lines[2] == "tiny\task\t-" and len(lines) == 3
    assert "\x1b[" not in render("text")


def test_table_on_a_terminal_is_rich_and_never_cuts_a_path():
    shown = render("text", terminal=True)
    assert "┃" in shown or "│" in shown  # a rich table
    flat = "".join(ch for ch in shown if ch not in "│┃ \n")
    assert ROWS[0]["path"].replace(" ", "") in flat  # folded over lines, not cut with …
    assert "…" not in shown


def test_table_json_jsonl_markdown():
    assert json.loads(render("json")) == ROWS
    assert [json.loads(line) for line in render("jsonl").splitlines()] == ROWS
    md = render("markdown").splitlines()
    assert md[0] == "| model | used by | path |" and md[1] == "| --- | --- | --- |"
    assert md[3] == "| tiny | ask | - |"


def test_record_each_format():
    obj = {"f1": 50.0}
    for fmt, check in [("json", lambda s: json.loads(s) == obj),
                       ("jsonl", lambda s: json.loads(s) == obj and s.count("\n") == 1),
                       ("markdown", lambda s: s.startswith("## T\n\n- F1 50") ),
                       ("text", lambda s: s == "T\nF1 50\n")]:
        out = io.StringIO()
        Sink(fmt, out, terminal=False).record(obj, ["F1 50"], title="T")
        assert check(out.getvalue()), (fmt, out.getvalue())


def test_documents_in_markdown_and_json():
    docs = [Document("a.txt", "One.\n"), Document("b.txt", "Two.\n")]
    out = io.StringIO()
    r = Renderer("markdown", out, several=True, terminal=False)
    for d in docs:
        r.document(d)
    r.close()
    assert out.getvalue() == "## a.txt\n\nOne.\n\n## b.txt\n\nTwo.\n"
    out = io.StringIO()
    r = Renderer("json", out, several=True, terminal=False)
    for d in docs:
        r.document(d)
    r.close()
    assert [x["text"] for x in json.loads(out.getvalue())] == ["One.\n", "Two.\n"]


def test_cli_models_list_and_eval_honour_markdown(run_cli):
    proc = run_cli("models", "list")
    assert proc.returncode == 0 and proc.out.splitlines()[0].startswith("model\tused by\tcached")
    proc = run_cli("models", "list", "-f", "markdown")
    assert proc.returncode == 0 and proc.out.startswith("| model | used by | cached | size | path |")


def test_quiet_silences_notices_but_not_errors(run_cli, tmp_path):
    from ..conftest import EXAMPLE

    # central's default encoder is not cached here: a fallback notice on every run
    loud = run_cli("summarize", EXAMPLE, "-n", "2", "-s", "central")
    assert loud.returncode == 0 and "bertcli:" in loud.err
    for args in (["summarize", EXAMPLE, "-n", "2", "-s", "central", "--quiet"],
                 ["--quiet", "summarize", EXAMPLE, "-n", "2", "-s", "central"]):
        quiet = run_cli(*args)
        assert quiet.returncode == 0 and quiet.err == "" and quiet.out == loud.out
    proc = run_cli("summarize", tmp_path / "missing.txt", "--quiet")
    assert proc.returncode == 3 and proc.err.startswith("bertcli: error:")


def test_option_choices_match_the_library_and_help_lists_them():
    from typer.testing import CliRunner

    from bertcli.cli import app
    from bertcli.cli.options import Precision, Strategy
    from bertcli.summarize.summarizer import PRECISIONS, STRATEGIES

    assert [s.value for s in Strategy] == list(STRATEGIES)
    assert [p.value for p in Precision] == list(PRECISIONS)
    shown = CliRunner().invoke(app, ["summarize", "--help"]).output
    assert "<" + "|".join(STRATEGIES) + ">" in shown and "<bool>" not in shown
