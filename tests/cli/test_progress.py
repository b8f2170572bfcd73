"""Progress on stderr: shown on a terminal (a pseudo-terminal here), never in pipes, JSON or
with --quiet; the library reports through a plain callback."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from bertcli.progress import CHUNK, ProgressDisplay, embed_in_chunks

from ..conftest import bertcli_exe, make_pdf

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def _on_a_terminal(args, env) -> tuple[int, str, str]:
    """Run the real CLI with stderr on a pseudo-terminal and stdout on a pipe."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(bertcli_exe() + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    out = proc.stdout.read() if proc.stdout else b""
    return proc.wait(timeout=120), out.decode(), err.decode(errors="replace")


@pytest.fixture()
def long_pdf(tmp_path):
    path = tmp_path / "long.pdf"
    path.write_bytes(make_pdf([[f"Page {n} of the report tells of the river and the town."] for n in range(12)]))
    return path


def test_progress_shows_on_a_terminal(new_user_env, long_pdf):
    env = dict(new_user_env, BERTCLI_PROGRESS_DELAY="0")
    code, out, err = _on_a_terminal(["text", long_pdf, long_pdf], env)
    assert code == 0
    assert "pages" in err and "12/12" in err
    assert "Page 11 of the report" in out and "\x1b" not in out  # stdout stays plain


@pytest.mark.parametrize("extra", [["--quiet"], ["--format", "json"]])
def test_no_progress_with_quiet_or_json(new_user_env, long_pdf, extra):
    env = dict(new_user_env, BERTCLI_PROGRESS_DELAY="0")
    code, _, err = _on_a_terminal(["text", long_pdf, *extra], env)
    assert code == 0 and err == ""


def test_no_progress_in_a_pipe(run_cli, long_pdf):
    proc = run_cli("text", long_pdf, env={"BERTCLI_PROGRESS_DELAY": "0"})
    assert proc.returncode == 0 and proc.err == ""


def test_no_progress_before_the_delay(new_user_env, long_pdf):
    code, _, err = _on_a_terminal(["text", long_pdf], dict(new_user_env, BERTCLI_PROGRESS_DELAY="60"))
    assert code == 0 and err == ""


def test_chunked_embedding_reports_and_matches():
    texts = [f"sentence {i}" for i in range(CHUNK * 2 + 5)]
    calls: list[tuple] = []

    def embed(part):
        return np.array([[len(t), i] for i, t in enumerate(part)], dtype=float)

    whole = embed(texts)
    chunked = embed_in_chunks(embed, texts, lambda what, n, total: calls.append((what, n, total)))
    assert chunked.shape == whole.shape
    assert [c[1] for c in calls] == [0, CHUNK, CHUNK, 5] and {c[2] for c in calls} == {len(texts)}
    assert np.array_equal(embed_in_chunks(embed, texts, None), whole)  # no callback: one call


def test_display_disabled_is_silent(capsys):
    with ProgressDisplay(False, delay=0) as progress:
        progress("files", 1, 2)
    assert capsys.readouterr().err == ""
