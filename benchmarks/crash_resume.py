"""Crash and resume: kill -9 `bertcli batch summarize` and `bertcli batch index` at random
moments, rerun, and compare with an uninterrupted run (no row lost, none doubled, the same
bytes). Optionally (--ray) SIGKILL one Ray worker mid-run and check the run still completes.

    python benchmarks/crash_resume.py --trials 20
    python benchmarks/crash_resume.py --trials 20 --ray

Each trial: the CLI in a session of its own, SIGKILL to the whole group after a random delay in
(0, the uninterrupted run's wall time), then a rerun to completion. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("river council market engine winter garden doctor station letter bridge island "
         "teacher harbour forest rocket village museum planet signal orchard canal tower").split()


def corpus(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            text = " ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16)))
                            .capitalize() + "." for _ in range(rng.randint(4, 30)))
            handle.write(json.dumps({"id": f"doc{i:05d}", "text": text}) + "\n")
        handle.write(json.dumps({"id": "empty", "text": " "}) + "\n")


def exe() -> list[str]:
    found = shutil.which("bertcli", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "bertcli"]


def run(command: list[str], kill_after: float | None = None) -> tuple[int, float]:
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers at once
    except ProcessLookupError:
        pass
    proc.wait()
    return proc.returncode, time.perf_counter() - began


def index_rows(out: Path) -> list[tuple]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bertcli.batch.index_store import open_table

    rows = open_table(str(out)).to_arrow().to_pylist()
    return sorted((r["id"], r["passage"], r["start"], r["end"], r["text"], r["vector"]) for r in rows)


def ids_of(out: Path, kind: str) -> list[str]:
    """Summaries: one id per row. Index: one "id#passage" per passage, then the errors' ids."""
    if kind == "summarize":
        return [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    errors = [json.loads(line)["id"] for line in
              (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    return [f"{r[0]}#{r[1]}" for r in index_rows(out)] + errors


def same(out: Path, whole: Path, kind: str) -> bool:
    if kind == "summarize":
        return out.read_bytes() == whole.read_bytes()
    import numpy as np

    mine, once = index_rows(out), index_rows(whole)
    return all((out / n).read_bytes() == (whole / n).read_bytes()
               for n in ("errors.jsonl", "index.json")) and \
        [r[:5] for r in mine] == [r[:5] for r in once] and \
        np.allclose([r[5] for r in mine], [r[5] for r in once], atol=1e-6)


def trials(kind: str, work: Path, source: Path, n: int, rng: random.Random, shard: int) -> dict:
    base = exe() + ["batch", kind, str(source), "--workers", "2", "--shard-size", str(shard),
                    "--offline"] + (["--strategy", "lead"] if kind == "summarize" else ["--resume"])
    suffix = ".jsonl" if kind == "summarize" else ""
    whole = work / f"whole-{kind}{suffix}"
    code, wall = run(base + ["--out", str(whole)])
    assert code == 0, f"the uninterrupted {kind} run failed"
    expected = ids_of(whole, kind)
    stats = {"kind": kind, "trials": n, "killed": 0, "equal": 0, "lost": 0, "doubled": 0,
             "left": 0, "wall": wall}
    for trial in range(n):
        out = work / f"{kind}-{trial}{suffix}"
        code, _ = run(base + ["--out", str(out)], kill_after=rng.uniform(0.05, wall))
        stats["killed"] += code == -signal.SIGKILL
        code, _ = run(base + ["--out", str(out)])
        assert code == 0, f"trial {trial}: the rerun failed"
        got = ids_of(out, kind)
        stats["lost"] += len(set(expected) - set(got))
        stats["doubled"] += len(got) - len(set(got))
        stats["equal"] += same(out, whole, kind)
        stats["left"] += len([p for p in work.iterdir() if p.name.startswith(".bertcli")]) + \
            Path(str(out) + ".parts").exists()
        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink()
    return stats


def _actor_pids() -> list[int]:
    """Ray actor processes running bertcli's RayWorker (Ray names them in their title)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"RayWorker" in title or b"MapWorker" in title:
                found.append(int(entry))
    return found


def ray_worker_kill(work: Path, source: Path) -> str:
    """SIGKILL one Ray actor process mid-run; the run must finish with every row once."""
    out = work / "ray.jsonl"
    command = exe() + ["batch", "summarize", str(source), "--out", str(out), "--engine", "ray",
                       "--workers", "2", "--strategy", "lead", "--shard-size", "50"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        for pid in _actor_pids():
            time.sleep(2.0)  # mid-run: it has batches in hand
            try:
                os.kill(pid, signal.SIGKILL)
                killed = pid
            except ProcessLookupError:
                continue
            break
        time.sleep(0.2)
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        return f"killed worker {killed}: the run failed (exit {proc.returncode}): " \
               f"{err.decode(errors='replace').strip().splitlines()[-1:]}"
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    return (f"killed worker {killed}: exit 0, {len(ids)} rows, {len(set(ids))} distinct "
            f"(corpus {sum(1 for _ in open(source, encoding='utf-8'))})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--shard-size", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ray", action="store_true", help="also kill a Ray worker mid-run")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="crash-resume-") as tmp:
        work = Path(tmp)
        source = work / "corpus.jsonl"
        corpus(source, args.docs, args.seed)
        rows = [trials(kind, work, source, args.trials, rng, args.shard_size)
                for kind in ("summarize", "index")]
        print(f"{args.docs + 1} documents, shards of {args.shard_size}, 2 workers, "
              "kill -9 of the whole process group at a uniform random moment of the run\n")
        print("| command | uninterrupted s | kills | killed mid-run | resumed = uninterrupted "
              "| rows lost | rows doubled | leftovers |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print(f"| batch {r['kind']} | {r['wall']:.1f} | {r['trials']} | {r['killed']} | "
                  f"{r['equal']}/{r['trials']} | {r['lost']} | {r['doubled']} | {r['left']} |")
        if args.ray:
            print("\nRay:", ray_worker_kill(work, source))


if __name__ == "__main__":
    main()
