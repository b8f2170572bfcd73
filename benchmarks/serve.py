"""`bertcli serve`, warm: latency per request and a bounded loopback load test, in one run.

    python benchmarks/serve.py                 # ~5 minutes on 2 cores
    python benchmarks/serve.py --questions 10  # a quicker look

Starts the real `bertcli serve --offline` as a subprocess (bundled reader, bundled encoder,
the ONNX copies under benchmarks/.cache/bertcli-cache, prepared before anything is timed) and
measures, from a client on loopback:

a. /ask: the first question on a ~100k-token document (SQuAD 1.1 dev paragraphs joined; its
   index cache entry removed first, so this request indexes it), then `--questions` new
   questions on the same document, one request each: p50 / p95 / max.
b. /summarize of ~700-word CNN/DailyMail articles (550-850 words, each a new one): p50 / p95.
c. a load test that stops by itself: `--requests` requests, `--concurrency` at a time (threads,
   one httpx client), a mix of /ask on one SQuAD paragraph (3 in 4), /summarize of an article
   and /ask on the 100k-token document; errors counted (any status but 200, or a failed
   connection), the server's RSS sampled every 0.1 s (psutil if installed, else /proc).

Baselines in the same run: one cold `bertcli ask` / `bertcli summarize` process on the same
inputs (what a shell loop pays per call), with the same cache; and the same calls made
in-process on `bertcli.server.Service` without HTTP (10 each: what the API adds). Not a test: nothing fails on a
time; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from run import BERTCLI, CACHE, DATA, Table, measure, squad_text

HERE = Path(__file__).resolve().parent


def rss_bytes(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS so far) of process `pid`, in bytes."""
    try:
        import psutil  # optional

        info = psutil.Process(pid).memory_info()
        peak = getattr(info, "peak_wset", 0)
    except ImportError:
        info, peak = None, 0
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
    current = info.rss if info is not None else fields.get("VmRSS", 0)
    return current, max(peak, fields.get("VmHWM", 0))


class RssSampler(threading.Thread):
    """The server's RSS every `interval` seconds; `mark()` starts a new named window."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.windows: dict[str, list[int]] = {}
        self.current = "start"
        self.stopped = threading.Event()

    def mark(self, name: str) -> None:
        self.current = name
        self.windows.setdefault(name, [])

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.windows.setdefault(self.current, []).append(rss_bytes(self.pid)[0])
            except (OSError, ValueError):
                return
            time.sleep(self.interval)

    def peak(self, name: str) -> int:
        return max(self.windows.get(name) or [0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def mb(value: int) -> str:
    return f"{value / 1e6:.0f}"


def articles(n: int, low: int = 550, high: int = 850) -> list[str]:
    """`n` cnndm-dev articles of `low`-`high` words (21 there are; repeated if more are asked)."""
    found = []
    with open(DATA / "cnndm-dev.jsonl", encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["article"]
            if low <= len(text.split()) <= high:
                found.append(text)
    if not found:
        raise SystemExit(f"no article of {low}-{high} words in cnndm-dev.jsonl")
    return [found[i % len(found)] for i in range(n)]


def squad_paragraphs(n: int) -> list[tuple[str, str]]:
    """(paragraph, one of its questions) from SQuAD 1.1 dev, from the end (not in the 100k doc)."""
    data = json.loads((DATA / "squad1.1-dev.json").read_text(encoding="utf-8"))["data"]
    pairs = [(p["context"], p["qas"][0]["question"]) for a in reversed(data) for p in a["paragraphs"]]
    return pairs[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=100_000, help="reader tokens of the long document")
    parser.add_argument("--questions", type=int, default=50, help="new questions on the long document")
    parser.add_argument("--summaries", type=int, default=20, help="~700-word articles to summarize")
    parser.add_argument("--requests", type=int, default=200, help="requests in the load test")
    parser.add_argument("--concurrency", type=int, default=8, help="requests at a time in the load test")
    parser.add_argument("--reader-precision", default="auto", choices=("auto", "fp32", "int8"),
                        help="serve --reader-precision (auto: fp32)")
    parser.add_argument("--out", default=None, help="also write the tables to this file")
    args = parser.parse_args()

    import httpx
    from transformers import AutoTokenizer

    from bertcli.models import BUNDLED_READER_DIR

    CACHE.mkdir(exist_ok=True)
    cache = CACHE / "bertcli-cache"
    env = dict(os.environ, BERTCLI_CACHE=str(cache), HF_HUB_OFFLINE="1", BERTCLI_QUIET="1")
    tokenizer = AutoTokenizer.from_pretrained(str(BUNDLED_READER_DIR))
    text, questions = squad_text(args.tokens, tokenizer, n_questions=args.questions + 1)
    long_doc = CACHE / f"serve-doc{args.tokens}.txt"
    long_doc.write_text(text, encoding="utf-8")
    news = articles(args.summaries + 1)
    news_file = CACHE / "serve-article.txt"
    news_file.write_text(news[0], encoding="utf-8")
    paragraphs = squad_paragraphs(50)
    question_file = CACHE / "serve-q1.txt"
    question_file.write_text(questions[0] + "\n", encoding="utf-8")

    # The ONNX copies of the reader and the encoder, prepared before anything is timed.
    subprocess.run([BERTCLI, "ask", "Who?", str(news_file), "--offline", "--precision", args.reader_precision],
                   env=env, check=True,
                   capture_output=True)
    subprocess.run([BERTCLI, "summarize", str(news_file), "--offline"], env=env, check=True,
                   capture_output=True)
    shutil.rmtree(cache / "index", ignore_errors=True)  # the long document is new to the server

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen([BERTCLI, "serve", "--offline", "--quiet", "--port", str(port),
                               "--reader-precision", args.reader_precision], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = httpx.Client(base_url=base, timeout=600,
                          limits=httpx.Limits(max_connections=args.concurrency))
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {server.stderr.read().decode() if server.stderr else ''}")
        try:
            if client.get("/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    ready = time.perf_counter() - started
    sampler = RssSampler(server.pid)
    sampler.start()
    rss_ready = rss_bytes(server.pid)[0]

    def timed(path: str, body: dict) -> float:
        t = time.perf_counter()
        response = client.post(path, json=body)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
        return time.perf_counter() - t

    try:
        # a. the long document: first sight (indexing), then new questions
        sampler.mark("warm-up")
        first = timed("/ask", {"question": questions[0], "text": text})
        asked = [timed("/ask", {"question": q, "text": text}) for q in questions[1:]]
        # b. ~700-word articles, each new (the first warms the encoder's session up)
        timed("/summarize", {"text": news[0]})
        summaries = [timed("/summarize", {"text": article}) for article in news[1:]]
        rss_warm = rss_bytes(server.pid)[0]

        # c. the load test
        def request(i: int) -> tuple[bool, float]:
            if i % 8 == 7:
                body, path = {"question": questions[1 + i % args.questions], "text": text}, "/ask"
            elif i % 4 == 3:
                body, path = {"text": news[1 + i % args.summaries]}, "/summarize"
            else:
                context, question = paragraphs[i % len(paragraphs)]
                body, path = {"question": question, "text": context}, "/ask"
            t = time.perf_counter()
            try:
                ok = client.post(path, json=body).status_code == 200
            except httpx.HTTPError:
                ok = False
            return ok, time.perf_counter() - t

        half = args.requests // 2
        load_started = time.perf_counter()
        results = []
        with ThreadPoolExecutor(args.concurrency) as pool:
            sampler.mark("load, first half")
            results += list(pool.map(request, range(half)))
            sampler.mark("load, second half")
            results += list(pool.map(request, range(half, args.requests)))
        load_wall = time.perf_counter() - load_started
        sampler.mark("after")
        time.sleep(0.3)
        rss_end, rss_hwm = rss_bytes(server.pid)
    finally:
        sampler.stopped.set()
        client.close()
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            code = server.wait()

    # Baselines: one cold CLI process each (the long document's index is cached by now).
    cli_ask, _, _ = measure([BERTCLI, "ask", "--questions", question_file, long_doc, "-f", "json",
                             "--precision", args.reader_precision], env)
    cli_summarize, _, _ = measure([BERTCLI, "summarize", news_file, "-f", "json"], env)

    # The same calls without HTTP: bertcli.server.Service in this process (index cached now).
    from bertcli.server import Service

    service = Service(offline=True, reader_precision=args.reader_precision)
    service.load()
    service.ask({"question": questions[0], "text": text})
    service.summarize({"text": news[0]})

    def direct(call, body) -> float:
        t = time.perf_counter()
        call(body)
        return time.perf_counter() - t

    direct_ask = [direct(service.ask, {"question": q, "text": text}) for q in questions[1:11]]
    direct_summarize = [direct(service.summarize, {"text": a}) for a in news[1:11]]
    service.close()

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, " \
              f"{time.strftime('%Y-%m-%d')}, load average at the end {os.getloadavg()[0]:.1f}"
    print(f"\nMachine: {machine}\n")
    t1 = Table(f"serve: latency per request (bundled reader ({args.reader_precision}) and encoder, "
               "ONNX Runtime, warm)",
               ["request", "n", "p50 ms", "p95 ms", "max ms", "same call in-process, no HTTP, p50 ms",
                "one cold CLI process ms", "p50 speed-up over the CLI"])
    t1.row(f"/ask, first question on a {args.tokens // 1000}k-token document (indexes it)", 1,
           ms(first), "", "", "", "", "")
    t1.row(f"/ask, a new question on the {args.tokens // 1000}k-token document already seen", len(asked),
           ms(statistics.median(asked)), ms(percentile(asked, 0.95)), ms(max(asked)),
           ms(statistics.median(direct_ask)), ms(cli_ask),
           f"{cli_ask / statistics.median(asked):.0f}x")
    t1.row("/summarize, a ~700-word article (550-850 words)", len(summaries),
           ms(statistics.median(summaries)), ms(percentile(summaries, 0.95)), ms(max(summaries)),
           ms(statistics.median(direct_summarize)), ms(cli_summarize),
           f"{cli_summarize / statistics.median(summaries):.0f}x")
    errors = sum(1 for ok, _ in results if not ok)
    latencies = [seconds for _, seconds in results]
    t2 = Table(f"serve: loopback load test ({args.requests} requests, {args.concurrency} at a time)",
               ["measure", "value"])
    t2.row("errors", f"{errors} of {len(results)}")
    t2.row("wall s / requests per s", f"{load_wall:.1f} / {len(results) / load_wall:.1f}")
    t2.row("latency p50 / p95 / max ms (queueing included)",
           f"{ms(statistics.median(latencies))} / {ms(percentile(latencies, 0.95))} / {ms(max(latencies))}")
    t2.row("server start to /health ready s (models loaded)", f"{ready:.1f}")
    t2.row("server RSS MB: ready / after warm-up (a, b)", f"{mb(rss_ready)} / {mb(rss_warm)}")
    t2.row("server RSS MB: peak in the load test's first half / second half",
           f"{mb(sampler.peak('load, first half'))} / {mb(sampler.peak('load, second half'))}")
    t2.row("server RSS MB: at the end / peak of the whole run (VmHWM)", f"{mb(rss_end)} / {mb(rss_hwm)}")
    t2.row("exit code after SIGTERM", str(code))
    if args.out:
        body = "\n\n".join("\n".join(t.lines) for t in (t1, t2))
        Path(args.out).write_text(f"Machine: {machine}\n\n{body}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
