"""`bertcli serve` under a long mixed load: does it keep answering, and does it leak?

    python benchmarks/soak.py                  # N=5000 requests, 16 at a time
    python benchmarks/soak.py -n 500           # a quicker look

Starts the real `bertcli serve --offline --quiet` (bundled reader and encoder, ONNX copies under
benchmarks/.cache/bertcli-cache), warms it up, then sends N requests from 16 client threads, each
on a new connection, a mix of: /summarize and /ask (two-paragraph texts, 40%), GET /health
(15%), bad bodies (invalid JSON, unknown fields, wrong types: 15%, each must get 422), slow
clients that send their body in pieces with pauses (10%, must get 200), and clients that go
away mid-request: after half the body, or after the whole request before reading the answer
(20%). Reports errors on valid requests (any status but 200, or a failed connection), bad
bodies not answered 422, the server's RSS after warm-up and at the end, and its threads and
open file handles before and after (after a 3 s pause, so that closed connections are gone).
Not a test: nothing fails on a number; it prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from run import BERTCLI, CACHE

TEXTS = [
    "The Normans were the people who gave their name to Normandy, a region in France. They "
    "descended from Norse raiders led by Rollo. Rollo swore fealty to King Charles III of West "
    "Francia in 911.\n\nThe duchy became a great power in the 11th century. Its dukes conquered "
    "England in 1066 and founded kingdoms in southern Italy and Sicily.\n",
    "The river rose in the night and the town was flooded. By morning the bridge was closed and "
    "the school had moved its classes to the church hall.\n\nThe mayor said the council would "
    "build a new levee before the spring rains. Engineers expect the work to take two years.\n",
]
QUESTIONS = ["Who led the Norse raiders?", "When did Rollo swear fealty?", "What was closed by morning?",
             "How long will the work take?"]
BAD = [b"{not json", b'{"text": 3, "question": "Who?"}', b'{"question": "Who?", "text": "x", "topk": 3}',
       b"[1, 2]", b'{"text": "abc", "strategy": "best"}', b""]


def proc_stats(pid: int) -> dict:
    status = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "threads": int(status["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def request_bytes(path: str, body: bytes | None) -> tuple[bytes, bytes]:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode(), b""
    head = (f"POST {path} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head, body


def exchange(port: int, path: str, body: bytes | None, mode: str = "plain") -> int:
    """One request on a new connection: the status, or -1 (failed) / 0 (went away on purpose)."""
    head, payload = request_bytes(path, body)
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        if mode == "drop-body":  # half the body, then gone
            conn.sendall(head + payload[:len(payload) // 2])
            return 0
        if mode == "slow":
            conn.sendall(head)
            for i in range(0, len(payload), max(1, len(payload) // 4)):
                time.sleep(0.05)
                conn.sendall(payload[i:i + max(1, len(payload) // 4)])
        else:
            conn.sendall(head + payload)
        if mode == "drop-answer":  # the whole request, then gone before the answer
            return 0
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return -1


def one(port: int, rng: random.Random) -> tuple[str, bool, int]:
    """(kind, valid, status) of one random request."""
    roll = rng.random()
    text = rng.choice(TEXTS)
    ask = json.dumps({"question": rng.choice(QUESTIONS), "text": text}).encode()
    summarize = json.dumps({"text": text, "num_sentences": 2}).encode()
    valid_body = ask if rng.random() < 0.5 else summarize
    path = "/ask" if valid_body is ask else "/summarize"
    try:
        if roll < 0.40:
            return path, True, exchange(port, path, valid_body)
        if roll < 0.55:
            return "/health", True, exchange(port, "/health", None)
        if roll < 0.70:
            return "bad body", False, exchange(port, rng.choice(["/ask", "/summarize"]), rng.choice(BAD))
        if roll < 0.80:
            return "slow " + path, True, exchange(port, path, valid_body, "slow")
        mode = "drop-body" if roll < 0.90 else "drop-answer"
        return mode, False, exchange(port, path, valid_body, mode)
    except OSError:
        return path, True, -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--requests", type=int, default=5000)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cache = CACHE / "bertcli-cache"
    env = dict(os.environ, BERTCLI_CACHE=str(cache), HF_HUB_OFFLINE="1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([BERTCLI, "serve", "--offline", "--quiet", "--port", str(port)], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server stopped: {server.stderr.read().decode() if server.stderr else ''}")
            try:
                if exchange(port, "/health", None) == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.5)
        print(f"server up (pid {server.pid}); warming up", flush=True)
        rng = random.Random(args.seed)
        for _ in range(40):  # warm-up: every model and path once or more
            one(port, rng)
        time.sleep(3)
        before = proc_stats(server.pid)
        counts: Counter = Counter()
        lock = threading.Lock()
        started = time.monotonic()

        def work(i: int) -> None:
            kind, valid, status = one(port, random.Random(args.seed * 1_000_003 + i))
            with lock:
                counts[(kind, valid, status)] += 1

        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(work, range(args.requests)))
        elapsed = time.monotonic() - started
        time.sleep(3)  # closed connections and finished handlers are gone
        after = proc_stats(server.pid)
        alive = server.poll() is None and exchange(port, "/health", None) == 200
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()

    valid_errors = sum(n for (kind, valid, status), n in counts.items() if valid and status != 200)
    bad_not_422 = sum(n for (kind, valid, status), n in counts.items() if kind == "bad body" and status != 422)
    print(f"{args.requests} requests, {args.concurrency} at a time, {elapsed:.0f} s "
          f"({args.requests / elapsed:.1f} requests/s); server alive after: {alive}, exit {server.returncode}")
    by_kind: Counter = Counter()
    for (kind, _valid, status), n in sorted(counts.items()):
        by_kind[kind] += n
        print(f"  {kind:20} {status:4}  {n}")
    print(f"errors on valid requests: {valid_errors}; bad bodies not answered 422: {bad_not_422}")
    print(f"RSS after warm-up {before['rss_mb']:.0f} MB, at the end {after['rss_mb']:.0f} MB")
    print(f"threads {before['threads']} -> {after['threads']}; open file handles {before['fds']} -> {after['fds']}")


if __name__ == "__main__":
    main()
