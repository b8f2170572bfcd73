"""`bertcli chat`: questions from stdin against documents loaded once, answers as `ask` gives
them, exit/quit/EOF/Ctrl-C, and a refused question that does not end the loop."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from ..conftest import EXAMPLE, bertcli_exe, default_sigint

QUESTIONS = ["Who were the Normans?", "When did the Normans get their name?", "Who was Rollo?"]


@pytest.fixture(scope="module")
def article(tmp_path_factory):
    """The example's first paragraphs: short enough to be read whole (no retriever), so fast."""
    path = tmp_path_factory.mktemp("chat") / "normans.txt"
    path.write_text(EXAMPLE.read_text(encoding="utf-8")[:2500], encoding="utf-8")
    return path


def json_values(text: str) -> list:
    """The JSON values written one after another (`-f json` writes one per question)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text.strip()):
        while text[at].isspace():
            at += 1
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def test_chat_answers_as_ask_does(run_cli, tiny_qa_dir, tmp_path, article):
    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    ask = run_cli("ask", "-q", questions, article, "-m", tiny_qa_dir, "--offline", "-f", "jsonl", "-k", "2")
    assert ask.returncode == 0, ask.err
    # blank lines are skipped; EOF (Ctrl-D) ends the loop with exit 0
    chat = run_cli("chat", article, "-m", tiny_qa_dir, "--offline", "-f", "jsonl", "-k", "2",
                   input="\n".join([QUESTIONS[0], "", "   ", QUESTIONS[1], QUESTIONS[2]]) + "\n")
    assert chat.returncode == 0, chat.err
    assert chat.out == ask.out
    assert len(chat.out.splitlines()) == 3


def test_chat_json_is_one_value_per_question_and_exit_ends_it(run_cli, tiny_qa_dir, article):
    lines = [QUESTIONS[0], "why " * 400, QUESTIONS[1], "  Quit ", QUESTIONS[2]]
    chat = run_cli("chat", article, "-m", tiny_qa_dir, "--offline", "-f", "json", input="\n".join(lines))
    values = json_values(chat.out)
    assert [v["question"] for v in values] == QUESTIONS[:2]  # nothing after quit
    for value in values:
        for answer in value["answers"]:
            assert article.read_text(encoding="utf-8")[answer["start"]:answer["end"]] == answer["text"]
    # the too-long question: one line with its line number, the loop went on; exit 3 as `ask -q`
    errors = [line for line in chat.err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("bertcli: error: line 2: question too long: ")
    assert chat.returncode == 3


def test_chat_text_in_a_pipe_is_one_line_per_question(run_cli, tiny_qa_dir, tmp_path, article):
    other = tmp_path / "other.txt"
    other.write_text("Rollo was a Viking leader. He founded Normandy in 911.\n", encoding="utf-8")
    chat = run_cli("chat", article, other, "-m", tiny_qa_dir, "--offline", "--quiet",
                   input="Who was Rollo?\nexit\n")
    assert chat.returncode == 0, chat.err
    # two documents: one headed answer block per document, as `ask` with several files
    assert chat.out.count("==> ") == 2 and f"==> {other}: Who was Rollo? <==" in chat.out
    assert chat.err == ""


def test_chat_refuses_stdin_as_a_document_and_bad_documents(run_cli, tmp_path):
    proc = run_cli("chat", "-", input="Who?\n")
    assert proc.returncode == 2 and "questions on stdin" in proc.err
    proc = run_cli("chat", tmp_path / "missing.txt", "--offline", input="Who?\n")
    assert proc.returncode == 3 and proc.err.strip().endswith("missing.txt: no such file")


def test_chat_on_a_terminal_prompts_and_ctrl_c_exits_130(new_user_env, tiny_qa_dir, article):
    import pty

    controller, terminal = pty.openpty()
    proc = subprocess.Popen(bertcli_exe() + ["chat", str(article), "-m", str(tiny_qa_dir), "--offline"],
                            stdin=terminal, stdout=terminal, stderr=terminal, env=new_user_env,
                            preexec_fn=default_sigint)
    os.close(terminal)
    seen = b""

    def plain(data: bytes) -> bytes:
        # readline and rich may put terminal control sequences around or inside the prompt
        return re.sub(rb"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Z0-9]|[=>])|[\r\x01\x02]", b"", data)

    def read_until(needle: bytes, timeout: float = 180) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while needle not in plain(seen):
            assert time.monotonic() < deadline, repr(seen)
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                try:
                    seen += os.read(controller, 4096)
                except OSError:  # the process closed the terminal
                    break
        assert needle in plain(seen), repr(seen)

    try:
        read_until(b"question>")
        assert b"exit, quit or Ctrl-D to end" in seen
        seen = b""
        os.write(controller, b"Who were the Normans?\n")
        read_until(b"question>")  # an answer panel, then the prompt again
        assert b"Who were the Normans?" in seen
        proc.send_signal(signal.SIGINT)
        read_until(b"interrupted")
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)


GUARD_SCRIPT = r"""
import ctypes, signal, sys, threading, time
from bertcli.cli.chat import guard_interrupts
if sys.argv[1] == "guarded":
    guard_interrupts()
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
# The main thread blocks SIGINT, so the kernel hands it to another thread, as it may hand a
# terminal's Ctrl-C to an ONNX Runtime thread while readline waits in select().
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
libc = ctypes.CDLL(None, use_errno=True)
print("waiting", flush=True)
try:
    while True:
        libc.select(0, None, None, None, None)  # as readline: back only when interrupted
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_ctrl_c_reaching_another_thread_still_ends_a_prompt():
    """chat's Ctrl-C at the prompt was lost when the signal reached a thread other than the
    main one (readline's select() was never interrupted): the guard interrupts the main thread.
    Run with "bare" instead of "guarded", the script still waits after 20 s."""
    proc = subprocess.Popen([sys.executable, "-c", GUARD_SCRIPT, "guarded"], stdout=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)
    try:
        assert proc.stdout.readline().strip() == "waiting"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
        assert proc.stdout.read().strip() == "interrupted"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
