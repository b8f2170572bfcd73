"""End-to-end: the installed `bertcli`, run as a new user (empty HOME and HF cache, no hub)."""

import json
import subprocess
import sys

import pytest

from ..conftest import EXAMPLE, bertcli_exe


def one_line_error(proc, code, *needles):
    assert proc.returncode == code, proc.err
    lines = [line for line in proc.err.splitlines() if line.startswith("bertcli: error:")]
    assert len(lines) == 1, proc.err
    assert "Traceback" not in proc.err
    for needle in needles:
        assert needle in lines[0]
    assert proc.out == ""


def test_help_and_usage_errors_do_not_import_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from bertcli.cli import app\n"
        "r = CliRunner()\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        "assert r.invoke(app, ['--version']).exit_code == 0\n"
        "assert r.invoke(app, ['summarize', 'x.txt', '-n', '0']).exit_code == 2\n"
        "assert r.invoke(app, ['summarize', 'no-such-file.txt']).exit_code == 3\n"
        "print(sorted(m for m in ('torch', 'transformers', 'onnxruntime', 'spacy', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version(run_cli):
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.out.startswith("bertcli ")


def test_summarize_falls_back_to_bundled_encoder(run_cli):
    proc = run_cli("summarize", EXAMPLE, "-n", "3", "-s", "central")
    assert proc.returncode == 0, proc.err
    assert len(proc.out.splitlines()) == 3
    assert "\x1b[" not in proc.out  # piped: no colour codes
    assert "distilbert-base-uncased" in proc.err and "bertcli models pull distilbert-base-uncased" in proc.err
    assert "all-MiniLM-L6-v2" in proc.err


def test_summarize_stdin_json_offsets(run_cli, article_files):
    text = article_files[0].read_text(encoding="utf-8")
    proc = run_cli("summarize", "-", "-n", "4", "--format", "json", "--offline", input=text)
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert set(result) == {"source", "format", "language", "model", "strategy", "sentences"}
    assert result["language"] == "en"
    assert result["format"] == "text"
    assert result["source"] == "-" and result["model"] == "all-MiniLM-L6-v2"
    assert result["strategy"] == "learned"
    assert len(result["sentences"]) == 4
    for s in result["sentences"]:
        assert text[s["start"]:s["end"]] == s["text"]
    assert [s["start"] for s in result["sentences"]] == sorted(s["start"] for s in result["sentences"])


def test_several_files_one_bad(run_cli, article_files, tmp_path):
    missing = tmp_path / "missing.txt"
    proc = run_cli("summarize", article_files[0], missing, article_files[1], "-n", "2",
                   "--format", "jsonl", "--offline")
    assert proc.returncode == 3
    objects = [json.loads(line) for line in proc.out.splitlines()]
    assert [o["source"] for o in objects] == [str(article_files[0]), str(article_files[1])]
    assert all(len(o["sentences"]) == 2 for o in objects)
    assert f"bertcli: error: {missing}: no such file" in proc.err


def test_json_list_and_markdown(run_cli, article_files):
    proc = run_cli("summarize", article_files[0], article_files[1], "--format", "json", "--offline")
    assert proc.returncode == 0
    assert [len(o["sentences"]) for o in json.loads(proc.out)] == [3, 3]
    proc = run_cli("summarize", article_files[0], "--format", "markdown", "--offline", "-n", "2")
    assert proc.out.startswith(f"## {article_files[0]}")
    assert sum(line.startswith("- ") for line in proc.out.splitlines()) == 2


def test_fewer_sentences_than_asked(run_cli):
    proc = run_cli("summarize", "-", "-n", "5", "--offline", input="Just one sentence here.")
    assert proc.returncode == 0
    assert proc.out == "Just one sentence here.\n"
    assert "fewer than the 5" in proc.err


@pytest.mark.parametrize("args,code,needle", [
    (["-n", "0"], 2, "at least 1"),
    (["-n", "-3"], 2, "at least 1"),
    (["--ratio", "0"], 2, "--ratio"),
    (["--ratio", "1.5"], 2, "--ratio"),
    (["-n", "2", "--ratio", "0.5"], 2, "cannot be used together"),
    (["--strategy", "nope"], 2, "--strategy nope: choose one of learned, central, cluster, lead"),
    (["--model", "someone/not-cached", "--offline"], 4, "someone/not-cached"),
    (["--model", "./no/such/dir"], 4, "no such model directory"),
])
def test_bad_options(run_cli, args, code, needle):
    one_line_error(run_cli("summarize", EXAMPLE, *args), code, needle)


@pytest.mark.parametrize("content,needle", [
    (None, "no such file"),
    (b"", "empty document"),
    (b"  \n\n ", "empty document"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary"),
    ("caf\xe9".encode("latin-1"), "--encoding"),
])
def test_bad_input_files(run_cli, tmp_path, content, needle):
    path = tmp_path / "input.txt"
    if content is not None:
        path.write_bytes(content)
    one_line_error(run_cli("summarize", path), 3, str(path), needle)


def test_directory_input(run_cli, tmp_path):
    one_line_error(run_cli("summarize", tmp_path), 3, "is a directory")


def test_verbose_shows_traceback(run_cli, tmp_path):
    proc = run_cli("summarize", tmp_path / "missing.txt", "--verbose")
    assert proc.returncode == 3 and "Traceback" in proc.err


def test_head_ends_quietly(new_user_env, article_files):
    files = " ".join(str(p) for p in article_files)
    cmd = f"{' '.join(bertcli_exe())} summarize {files} --offline | head -1"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=new_user_env, timeout=240)
    assert len(proc.stdout.splitlines()) == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_models_list_json(run_cli):
    proc = run_cli("models", "list", "--format", "json")
    assert proc.returncode == 0
    rows = {r["model"]: r for r in json.loads(proc.out)}
    assert rows["distilbert-base-uncased"]["cached"] is False
    assert rows["distilbert-base-cased-distilled-squad"]["cached"] is False
    assert rows["all-MiniLM-L6-v2"]["cached"] is True and rows["all-MiniLM-L6-v2"]["size_bytes"] > 10**7


def test_models_pull_without_network(run_cli):
    one_line_error(run_cli("models", "pull", "distilbert-base-uncased"), 4, "cannot be reached")


# --- ask ------------------------------------------------------------------------------------


def test_ask_retrieval_only_answers_with_sentences(run_cli):
    proc = run_cli("ask", "Who was the Norse leader who agreed to swear fealty to King Charles III?",
                   EXAMPLE, "--format", "json", "--retrieval-only")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert result["mode"] == "retrieval" and "Rollo" in result["answers"][0]["text"]
    assert result["model"] == "bm25+all-MiniLM-L6-v2"
    text = EXAMPLE.read_text(encoding="utf-8")
    a = result["answers"][0]
    assert text[a["start"]:a["end"]] == a["text"]


def test_ask_with_reader_json_shape(run_cli, tiny_qa_dir):
    text = EXAMPLE.read_text(encoding="utf-8")
    proc = run_cli("ask", "Who was the Norse leader?", "-", "--model", tiny_qa_dir, "--top-k", "2",
                   "--format", "json", input=text)
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert set(result) == {"source", "format", "language", "model", "mode", "question", "answers",
                           "no_answer_score", "best_guess", "passages"}
    assert result["format"] == "text"
    assert result["mode"] == "reader" and result["model"] == str(tiny_qa_dir)
    assert 1 <= len(result["answers"]) <= 2
    for a in result["answers"]:
        assert text[a["start"]:a["end"]] == a["text"]
        assert a["text"] in a["context"]
    assert all(0 <= p["start"] < p["end"] <= len(text) for p in result["passages"])


def test_ask_questions_file(run_cli, tiny_qa_dir, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("Who was the Norse leader?\n\nWhen was Normandy founded?\nWhere is Normandy?\n")
    proc = run_cli("ask", "--questions", questions, EXAMPLE, "--model", tiny_qa_dir, "--format", "jsonl")
    assert proc.returncode == 0, proc.err
    got = [json.loads(line)["question"] for line in proc.out.splitlines()]
    assert got == ["Who was the Norse leader?", "When was Normandy founded?", "Where is Normandy?"]


@pytest.mark.parametrize("make_args,code,needle", [
    (lambda tmp, q: ["", EXAMPLE], 3, "empty question"),
    (lambda tmp, q: ["--questions", q, EXAMPLE], 3, "empty questions file"),
    (lambda tmp, q: ["What?", tmp / "missing.txt"], 3, "no such file"),
    (lambda tmp, q: ["What?"], 2, "give a question and at least one document"),
    (lambda tmp, q: ["What?", EXAMPLE, "--top-k", "0"], 2, "--top-k"),
    (lambda tmp, q: ["word " * 400, EXAMPLE, "--model", "{qa}"], 3, "question too long"),
])
def test_ask_bad_input(run_cli, tmp_path, tiny_qa_dir, make_args, code, needle):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    args = [str(a).replace("{qa}", str(tiny_qa_dir)) for a in make_args(tmp_path, empty)]
    one_line_error(run_cli("ask", *args), code, needle)


def test_docs_describe_every_option():
    """Each command's long options appear in the written docs (README.md and docs/*.md, not the
    generated CLI reference), so the prose cannot fall behind --help."""
    import re
    from pathlib import Path

    import typer.main

    from bertcli.cli import app

    root = Path(__file__).resolve().parents[2]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    readme = "\n".join(page.read_text(encoding="utf-8") for page in pages if page.name != "cli.md")

    def options(command, path):
        for name, sub in getattr(command, "commands", {}).items():  # a group's subcommands
            yield from options(sub, path + [name])
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help":
                    yield " ".join(path) or "bertcli", opt

    found = list(options(typer.main.get_command(app), []))
    assert len(found) > 30
    missing = [f"{cmd} {opt}" for cmd, opt in found if not re.search(re.escape(opt) + r"(?![\w-])", readme)]
    assert not missing, missing


def test_default_summarize_is_learned_on_the_bundled_encoder(run_cli):
    proc = run_cli("summarize", EXAMPLE, "-n", "3", "--format", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert result["strategy"] == "learned" and result["model"] == "all-MiniLM-L6-v2"
    assert len(result["sentences"]) == 3
    assert "distilbert" not in proc.err  # learned's own encoder needs no fallback notice


@pytest.mark.parametrize("content", [None, b"garbage"])
def test_missing_or_corrupt_scorer_file_in_the_install(run_cli, new_user_env, tmp_path, content):
    """One line on stderr, central's summary, exit 0."""
    scorer = tmp_path / "doc_scorer.npz"
    if content is not None:
        scorer.write_bytes(content)
    probe = (
        "import sys, pathlib\n"
        "import bertcli.summarize.doc_scorer\n"
        "bertcli.summarize.doc_scorer.DOC_SCORER_FILE = pathlib.Path(sys.argv[2])\n"
        "from bertcli.cli import app\n"
        "sys.argv = ['bertcli', 'summarize', sys.argv[1], '--offline', '-f', 'json']\n"
        "app()\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, str(EXAMPLE), str(scorer)],
                          capture_output=True, text=True, env=new_user_env, timeout=240)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "scorer" in line]
    assert len(lines) == 1 and "using central" in lines[0], proc.stderr
    central = run_cli("summarize", EXAMPLE, "--offline", "-f", "json", "-s", "central")
    assert json.loads(proc.stdout)["sentences"] == json.loads(central.out)["sentences"]


def test_lead_needs_no_model_and_says_nothing_about_one(run_cli, article_files):
    """`-s lead` reads no embeddings: no hub lookup, no notice that a model is missing."""
    proc = run_cli("summarize", article_files[0], "-s", "lead", "-n", "2", "--offline")
    assert proc.returncode == 0 and proc.err == ""
    assert len(proc.out.strip().splitlines()) == 2


@pytest.mark.parametrize("command, usage", [
    (["summarize"], "summarize [OPTIONS] INPUTS..."),
    (["text"], "text [OPTIONS] INPUTS..."),
    (["ask"], "ask [OPTIONS] [QUESTION] DOCUMENT..."),
    (["chat"], "chat [OPTIONS] DOCUMENT..."),
    (["batch", "summarize"], "batch summarize [OPTIONS] CORPUS"),
])
def test_usage_lines_name_arguments_as_unix_tools_do(run_cli, command, usage):
    """Not typer 0.29's `{inputs}...`, which reads like shell brace expansion."""
    proc = run_cli(*command, "--help")
    first = next(line for line in proc.out.splitlines() if line.startswith("Usage:"))
    assert first.endswith(usage) and "{" not in first


def test_an_option_without_its_value_says_so_in_one_line(run_cli):
    proc = run_cli("ask", "-q")
    assert proc.returncode == 2
    assert proc.err == "bertcli: error: -q needs a value\n"
