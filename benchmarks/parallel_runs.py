"""Two one-thread model runs side by side against one two-thread run at a time (2 cores).

    python benchmarks/parallel_runs.py [--repeat 8] [--before REV]    # ~4 minutes

1. Component, in one process: the bundled reader's windows for the 10 questions of
   benchmarks/.cache/questions10.txt over doc10k.txt (written by ask_speed.py), each question
   with the 4 passages BM25 ranks best, run (a) one at a time on a session of 2 threads, as
   before, (b) two at a time on a session of 1 thread, as now (bertcli.backends.onnx_models.
   run_layout), (c) in padded pairs on a session of 2 threads. The three alternate; ms a window.
2. What the user waits for: `ask --questions questions10.txt doc10k.txt`, whole processes, the
   code at `--before` (a git worktree; default: the commit before this change) and this tree
   alternating, each with its index cache emptied (first call) and then again (cached).
   Wall and CPU seconds, median and range.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from run import CACHE, PY, Before


def reader_windows() -> tuple[str, list[dict[str, np.ndarray]]]:
    """(the reader's ONNX file, every window as one-row arrays)."""
    from bertcli.ask.retrieve import BM25, make_passages, terms
    from bertcli.ask.spans import make_windows
    from bertcli.backends import onnx_backend
    from bertcli.models import bundled_reader
    from bertcli.sentences import split_sentences

    model = bundled_reader()
    assert model is not None
    reader = onnx_backend.load_fast_reader(model, "fp32", print)
    text = (CACHE / "doc10k.txt").read_text(encoding="utf-8")
    units = make_passages(split_sentences(text))
    bm25 = BM25.build([terms(text[u.start:u.end]) or ["_"] for u in units])
    windows = []
    for question in (CACHE / "questions10.txt").read_text(encoding="utf-8").splitlines():
        best = np.argsort(-bm25.get_scores(terms(question)))[:4]
        contexts = [(units[i].start, text[units[i].start:units[i].end]) for i in best]
        windows += [{k: np.array([v]) for k, v in w["inputs"].items()}
                    for w in make_windows(reader, question, contexts)]
    folder = onnx_backend.prepared_dir(model, onnx_backend.READER)
    return str(folder / onnx_backend.onnx_file("fp32", onnx_backend.READER)), windows


def component(repeat: int) -> list[str]:
    import onnxruntime as ort

    path, windows = reader_windows()

    def session(threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def padded(pair: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        width = max(w["input_ids"].shape[1] for w in pair)
        return {k: np.concatenate([np.pad(w[k], ((0, 0), (0, width - w[k].shape[1]))) for w in pair])
                for k in pair[0]}

    by_length = sorted(windows, key=lambda w: w["input_ids"].shape[1])
    pairs = [padded(by_length[i:i + 2]) for i in range(0, len(by_length), 2)]
    two, one = session(2), session(1)
    pool = ThreadPoolExecutor(2)
    ways = {
        "one at a time, 2 threads a run (before)": lambda: [two.run(None, w) for w in windows],
        "two at a time, 1 thread a run (now)": lambda: list(pool.map(lambda w: one.run(None, w), windows)),
        "padded pairs, 2 threads a run": lambda: [two.run(None, b) for b in pairs],
    }
    for way in ways.values():
        way()  # warm
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeat):
        for name, way in ways.items():
            start = time.perf_counter()
            way()
            times[name].append(time.perf_counter() - start)
    mean_tokens = statistics.mean(w["input_ids"].shape[1] for w in windows)
    lines = [f"{len(windows)} windows of the bundled reader, {mean_tokens:.0f} tokens on average, "
             f"{repeat} runs each, alternating", "",
             "| runs | ms a window, median | fastest | slowest |", "| --- | --- | --- | --- |"]
    for name, runs in times.items():
        ms = [1000 * t / len(windows) for t in runs]
        lines.append(f"| {name} | {statistics.median(ms):.1f} | {min(ms):.1f} | {max(ms):.1f} |")
    return lines


def timed(cmd: list, env: dict) -> tuple[float, float]:
    """(wall s, CPU s) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def whole_process(repeat: int, before_rev: str) -> list[str]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ask = [PY, "-P", "-m", "bertcli", "ask", "--offline", "-f", "jsonl",
           "--questions", CACHE / "questions10.txt", CACHE / "doc10k.txt"]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with Before(before_rev) as before:
        sides = {f"before ({before_rev})": before.path, "now": here}
        for _ in range(repeat + 1):  # the first round prepares each side's cache: not kept
            for name, source in sides.items():
                cache = CACHE / f"parallel-runs-cache-{'now' if source == here else 'before'}"
                env = dict(os.environ, BERTCLI_CACHE=str(cache), HF_HUB_OFFLINE="1",
                           BERTCLI_QUIET="1", BERTCLI_NO_FILL="1", PYTHONPATH=str(source))
                shutil.rmtree(cache / "index", ignore_errors=True)
                results.setdefault((name, "first call, index cache empty"), []).append(timed(ask, env))
                results.setdefault((name, "asked again, index cached"), []).append(timed(ask, env))
    lines = [f"`ask`, 10 questions over ~10k tokens, bundled reader: whole processes, {repeat} "
             "runs a side, alternating", "",
             "| code | call | wall s, median | fastest | slowest | CPU s, median |",
             "| --- | --- | --- | --- | --- | --- |"]
    for (name, call), runs in results.items():
        walls = [w for w, _ in runs[1:]]
        cpus = [c for _, c in runs[1:]]
        lines.append(f"| {name} | {call} | {statistics.median(walls):.2f} | {min(walls):.2f} | "
                     f"{max(walls):.2f} | {statistics.median(cpus):.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--before", default="dafd471")
    args = parser.parse_args()
    if not (CACHE / "doc10k.txt").is_file():
        raise SystemExit("run benchmarks/ask_speed.py first (it writes doc10k.txt)")
    print("\n".join(component(args.repeat)))
    print()
    print("\n".join(whole_process(args.repeat, args.before)))


if __name__ == "__main__":
    main()
