"""A crash at any step of `batch summarize` and `batch index` loses nothing: the real CLI kills
itself with SIGKILL at a named point (BERTCLI_FAULT=POINT:N, bertcli.faults), a rerun resumes,
and the output is byte for byte an uninterrupted run's. Each run resumes the state the previous
kill left, so one chain crosses every kind of point: mid-shard, a torn temporary file, a shard
renamed but not recorded, recorded, OUT half written, OUT renamed but the shards still there.
Random points, many more of them, and a killed Ray worker: benchmarks/crash_resume.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ..cli.test_batch import BAD_ROWS, index_rows, make_corpus, write_jsonl
from ..conftest import bertcli_exe

SHARD = 8
DOCS = 45  # + 3 bad rows: 48, six shards


def run(command: list[str], env: dict, fault: str | None = None) -> subprocess.CompletedProcess:
    """The CLI in a session of its own; a kill leaves no worker behind (the group goes too)."""
    env = dict(env, **({"BERTCLI_FAULT": fault} if fault else {}))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def recorded(parts: Path) -> int:
    """Rows the manifest counts as done."""
    manifest = parts / "manifest.json"
    if not manifest.exists():
        return 0
    return sum(s["rows"] for s in json.loads(manifest.read_text(encoding="utf-8"))["shards"])


def crash_chain(command: list[str], env: dict, parts: Path, points) -> list[tuple[str, int]]:
    """Run `command` once per point (a function of the rows recorded so far), each killed
    there; returns (point, rows recorded after the kill)."""
    seen = []
    for point in points:
        fault = point(recorded(parts))
        proc = run(command, env, fault)
        assert proc.returncode == -signal.SIGKILL, (fault, proc.returncode, proc.stderr)
        seen.append((fault, recorded(parts)))
    return seen


@pytest.fixture()
def corpus(tmp_path) -> Path:
    return write_jsonl(tmp_path / "c.jsonl", make_corpus(DOCS, seed=4, sentences=5) + BAD_ROWS)


def test_summarize_killed_at_every_step_then_resumed_equals_one_run(new_user_env, corpus, tmp_path):
    total = DOCS + len(BAD_ROWS)
    base = bertcli_exe() + ["batch", "summarize", str(corpus), "--strategy", "lead", "-n", "2",
                            "--workers", "1", "--shard-size", str(SHARD), "--offline"]
    whole = tmp_path / "whole.jsonl"
    assert run(base + ["--out", str(whole)], new_user_env).returncode == 0

    out = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    command = base + ["--out", str(out)]
    points = [
        lambda done: "batch-row:5",  # mid-shard: nothing written yet
        lambda done: "batch-write:3",  # a shard's temporary file torn after 3 rows
        lambda done: "batch-shard:2",  # the 2nd shard renamed into place, not in the manifest
        lambda done: "batch-manifest:1",  # one more shard recorded
        # OUT's temporary file torn halfway: the rest's shards, then half of OUT
        lambda done: f"batch-write:{total - done + total // 2}",
        lambda done: "batch-finish:1",  # OUT renamed, the shards not yet removed
    ]
    seen = crash_chain(command, new_user_env, parts, points)
    assert [done for _, done in seen] == [0, 0, SHARD, 2 * SHARD, total, total]
    assert out.exists() and parts.exists()  # the last kill: OUT whole, shards still there
    assert not list(tmp_path.glob(".bertcli-*"))  # nothing half-written beside OUT

    rerun = run(command, new_user_env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{total} rows; 0 summarized now, {total} skipped" in rerun.stderr
    assert out.read_bytes() == whole.read_bytes()  # no row lost, doubled or reordered
    assert not parts.exists()


def test_index_killed_at_every_step_then_resumed_equals_one_run(new_user_env, corpus, tmp_path):
    base = bertcli_exe() + ["batch", "index", str(corpus), "--workers", "1",
                            "--shard-size", str(SHARD), "--offline", "--resume"]
    whole = tmp_path / "whole"
    proc = run(base + ["--out", str(whole)], new_user_env)
    assert proc.returncode == 0, proc.stderr

    out = tmp_path / "index"
    parts = tmp_path / "index.parts"
    command = base + ["--out", str(out)]
    points = [  # five: batch-row is as in summarize (the same driver loop)
        lambda done: "batch-write:1",  # a shard's Parquet written, its footer not: torn
        lambda done: "batch-shard:2",
        lambda done: "batch-manifest:2",
        lambda done: "index-write:1",  # the index's files written, not renamed into place
        lambda done: "batch-finish:1",  # the index renamed, the shards not yet removed
    ]
    seen = crash_chain(command, new_user_env, parts, points)
    total = DOCS + len(BAD_ROWS)
    assert [done for _, done in seen] == [0, SHARD, 3 * SHARD, total, total]
    assert not list(tmp_path.glob(".bertcli-*"))  # a killed write's folder is in index.parts

    rerun = run(command, new_user_env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"passages of {DOCS} documents; 3 not indexed" in rerun.stderr
    assert not parts.exists()
    for name in ("errors.jsonl", "index.json"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    resumed, once = index_rows(out), index_rows(whole)
    assert [r[:5] for r in resumed] == [r[:5] for r in once]  # nothing lost or doubled
    assert np.allclose([r[5] for r in resumed], [r[5] for r in once], atol=1e-6)


def test_an_interrupted_index_build_needs_resume(new_user_env, corpus, tmp_path):
    out = tmp_path / "index"
    command = bertcli_exe() + ["batch", "index", str(corpus), "--workers", "1", "--shard-size",
                               str(SHARD), "--offline", "--out", str(out)]
    assert run(command, new_user_env, "batch-manifest:1").returncode == -signal.SIGKILL
    again = run(command, new_user_env)
    assert again.returncode == 3 and "add --resume to finish it" in again.stderr
    assert (tmp_path / "index.parts" / "manifest.json").exists()  # nothing removed
    assert run(command + ["--resume"], new_user_env).returncode == 0


def test_append_killed_after_its_commit_then_resumed_adds_nothing_twice(new_user_env, tmp_path):
    first = write_jsonl(tmp_path / "first.jsonl", make_corpus(10, seed=5, sentences=5))
    second = write_jsonl(tmp_path / "second.jsonl", [dict(d, id=f"new-{d['id']}") for d in
                                                      make_corpus(12, seed=6, sentences=5)])
    base = bertcli_exe() + ["batch", "index", "--workers", "1", "--shard-size", "4", "--offline"]
    for name in ("whole", "index"):
        assert run(base + [str(first), "--out", str(tmp_path / name)], new_user_env).returncode == 0
    assert run(base + [str(second), "--out", str(tmp_path / "whole"), "--append"],
               new_user_env).returncode == 0
    expected = index_rows(tmp_path / "whole")

    append = base + [str(second), "--out", str(tmp_path / "index"), "--append", "--resume"]
    for fault in ("batch-manifest:2", "index-append:1", "batch-finish:1"):
        assert run(append, new_user_env, fault).returncode == -signal.SIGKILL, fault
    rerun = run(append, new_user_env)
    assert rerun.returncode == 0, rerun.stderr
    assert "came earlier" not in rerun.stderr  # documents embedded before the kill are no duplicates
    resumed = index_rows(tmp_path / "index")
    assert [r[:5] for r in resumed] == [r[:5] for r in expected]  # nothing lost or doubled
    assert np.allclose([r[5] for r in resumed], [r[5] for r in expected], atol=1e-6)
    meta = json.loads((tmp_path / "index" / "index.json").read_text(encoding="utf-8"))
    assert meta["documents"] == 22 and not (tmp_path / "index.parts").exists()


def test_an_interrupted_append_is_not_finished_as_a_build(new_user_env, tmp_path):
    first = write_jsonl(tmp_path / "first.jsonl", make_corpus(6, seed=5, sentences=4))
    second = write_jsonl(tmp_path / "second.jsonl", [dict(d, id=f"new-{d['id']}") for d in
                                                      make_corpus(8, seed=6, sentences=4)])
    base = bertcli_exe() + ["batch", "index", "--workers", "1", "--shard-size", "2", "--offline",
                            "--out", str(tmp_path / "index")]
    assert run(base + [str(first)], new_user_env).returncode == 0
    append = base + [str(second), "--append", "--resume"]
    assert run(append, new_user_env, "batch-manifest:1").returncode == -signal.SIGKILL
    wrong = run(base + [str(second), "--resume"], new_user_env)  # --append forgotten
    assert wrong.returncode == 2 and "interrupted run with --append" in wrong.stderr
    assert (tmp_path / "index.parts" / "manifest.json").exists()  # kept for the right rerun
    assert run(append, new_user_env).returncode == 0
    assert len({r[0] for r in index_rows(tmp_path / "index")}) == 14
