"""`bertcli batch summarize / index` and `ask --index`: corpus readers, per-row errors,
sharded resumable output (a real kill and a rerun), both engines giving the same rows."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bertcli.batch.corpus import read_corpus

from ..conftest import bertcli_exe

WORDS = ("river council market engine winter garden doctor station letter bridge island "
         "teacher harbour forest rocket village museum planet signal orchard canal tower "
         "festival painter lantern meadow").split()


def make_text(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def make_corpus(n: int, seed: int = 0, sentences: int = 8) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": f"doc{i:04d}", "text": make_text(rng, sentences)} for i in range(n)]


BAD_ROWS = [{"id": "empty", "text": "   \n"}, {"id": "binary", "text": "PK\x03\x04\x00\x00 zip"},
            {"id": "no-text", "body": "the text is under another key"}]


def write_jsonl(path: Path, rows: list[dict], extra_lines: tuple[str, ...] = ()) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        for line in extra_lines:
            handle.write(line + "\n")
    return path


def rows_of(path: Path) -> list[dict]:
    from bertcli.batch.output import read_rows

    return list(read_rows(str(path)))


# --- corpus readers ----------------------------------------------------------------------


def test_jsonl_reader_reports_bad_rows_and_goes_on(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(2) + BAD_ROWS,
                         ('{"id": "broken', '[1, 2]', '{"text": "no id here at all."}'))
    records = list(read_corpus(str(corpus)))
    errors = {r.id: r.error for r in records}
    assert [r.id for r in records][:2] == ["doc0000", "doc0001"]
    assert errors["doc0000"] is None and records[0].text
    assert errors["empty"] == "empty: empty document"
    assert "binary" in errors["binary"]
    assert errors["no-text"] == "no-text: missing field 'text'"
    assert errors["line 6"].startswith("line 6: not JSON")
    assert errors["line 7"] == "line 7: not a JSON object"
    assert errors["line 8"] == "line 8: missing field 'id'"


def test_csv_parquet_and_folder_readers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = make_corpus(3)
    with open(tmp_path / "c.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["key", "body"])
        writer.writeheader()
        writer.writerows({"key": r["id"], "body": r["text"]} for r in rows)
        writer.writerow({"key": "blank", "body": ""})
    got = list(read_corpus(str(tmp_path / "c.csv"), id_field="key", text_field="body"))
    assert [(r.id, r.text) for r in got[:3]] == [(r["id"], r["text"]) for r in rows]
    assert got[3].error == "blank: empty document"

    pq.write_table(pa.table({"id": [1, 2, None], "text": [rows[0]["text"], None, "x y z."]}),
                   tmp_path / "c.parquet")
    got = list(read_corpus(str(tmp_path / "c.parquet")))
    assert (got[0].id, got[0].text) == ("1", rows[0]["text"])
    assert got[1].error == "2: missing field 'text'"
    assert got[2].error == "row 3: missing field 'id'"

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(rows[0]["text"], encoding="utf-8")
    (folder / "sub" / "b.md").write_text("# Title\n\n" + rows[1]["text"], encoding="utf-8")
    (folder / "c.bin").write_bytes(b"\x00\x01\x02binary")
    got = {r.id: r for r in read_corpus(str(folder))}
    assert sorted(got) == ["a.txt", "c.bin", os.path.join("sub", "b.md")]
    assert got["a.txt"].text == rows[0]["text"] and got["a.txt"].error is None
    assert got[os.path.join("sub", "b.md")].format == "markdown"
    assert "c.bin: looks like a binary file" in (got["c.bin"].error or "")
    assert {r.id for r in read_corpus(str(folder / "*.txt"))} == {str(folder / "a.txt")}


# --- batch summarize ---------------------------------------------------------------------


def test_batch_summarize_rows_offsets_and_errors(run_cli, tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(6) + BAD_ROWS)
    out = tmp_path / "out.jsonl"
    proc = run_cli("batch", "summarize", corpus, "--out", out, "--strategy", "lead", "-n", "2",
                   "--workers", "2", "--shard-size", "4", "--offline")
    assert proc.returncode == 0, proc.err
    assert "9 rows; 9 summarized now (3 with an error), 0 skipped" in proc.err
    rows = {r["id"]: r for r in rows_of(out)}
    assert len(rows) == 9 and not (tmp_path / "out.jsonl.parts").exists()
    texts = {r["id"]: r["text"] for r in make_corpus(6)}
    for doc_id, text in texts.items():
        row = rows[doc_id]
        assert row["error"] is None and row["strategy"] == "lead" and len(row["sentences"]) == 2
        assert all(text[s["start"]:s["end"]] == s["text"] for s in row["sentences"])
    assert rows["empty"]["error"] == "empty: empty document" and rows["empty"]["sentences"] == []
    assert "binary" in rows["binary"]["error"]
    assert rows["no-text"]["error"] == "no-text: missing field 'text'"

    # A rerun has nothing left to do.
    again = run_cli("batch", "summarize", corpus, "--out", out, "--strategy", "lead", "-n", "2",
                    "--offline")
    assert again.returncode == 0, again.err
    assert "9 rows; 0 summarized now, 9 skipped" in again.err


def test_batch_summarize_parquet_output(tmp_path):
    import pyarrow.parquet as pq

    from bertcli.batch import SummarizeTask, summarize_corpus

    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(5) + BAD_ROWS[:1])
    out = tmp_path / "out.parquet"
    stats = summarize_corpus(str(corpus), str(out), SummarizeTask(strategy="lead"), workers=1,
                             shard_size=2)
    assert (stats.rows, stats.processed, stats.errors) == (6, 6, 1)
    table = pq.read_table(out)
    assert table.column_names == ["id", "sentences", "model", "strategy", "error", "source", "format",
                                  "language"]
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["empty"]["error"] == "empty: empty document"
    first = make_corpus(1)[0]
    assert [first["text"][s["start"]:s["end"]] for s in rows["doc0000"]["sentences"]] == \
        [s["text"] for s in rows["doc0000"]["sentences"]]


@pytest.mark.parametrize("args, code, message", [
    (["--out", "{tmp}/out.txt"], 2, "name a .jsonl or .parquet file"),
    (["--out", "{tmp}/missing/out.jsonl"], 3, "no such directory"),
    (["--out", "{tmp}/o.jsonl", "--workers", "0"], 2, "--workers"),
    (["--out", "{tmp}/o.jsonl", "--engine", "spark"], 2, "--engine"),
])
def test_batch_summarize_bad_options(run_cli, tmp_path, args, code, message):
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(1))
    proc = run_cli("batch", "summarize", corpus, *[a.format(tmp=tmp_path) for a in args],
                   "--strategy", "lead")
    assert proc.returncode == code, proc.err
    assert message in proc.err and "Traceback" not in proc.err


def test_batch_summarize_bad_corpus(run_cli, tmp_path):
    proc = run_cli("batch", "summarize", tmp_path / "nope.jsonl", "--out", tmp_path / "o.jsonl")
    assert proc.returncode == 3 and "nope.jsonl: no such file" in proc.err
    (tmp_path / "c.csv").write_text("name,body\na,b\n", encoding="utf-8")
    proc = run_cli("batch", "summarize", tmp_path / "c.csv", "--out", tmp_path / "o.jsonl")
    assert proc.returncode == 2 and "no column 'id' (columns: name, body)" in proc.err


def test_resume_refuses_other_options(tmp_path):
    from bertcli.batch import SummarizeTask, summarize_corpus
    from bertcli.batch.output import ShardedOutput
    from bertcli.errors import UsageError

    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(3))
    out = tmp_path / "out.jsonl"
    options = {"corpus": str(corpus), "id_field": "id", "text_field": "text", "model": None,
               "strategy": "lead", "precision": "auto", "num_sentences": 1, "ratio": None}
    ShardedOutput(str(out), options, 10).write_shard([])  # a run that stopped early
    with pytest.raises(UsageError, match="num_sentences: 1 then, 2 now"):
        summarize_corpus(str(corpus), str(out), SummarizeTask(strategy="lead", num_sentences=2),
                         workers=1)


def test_kill_then_resume_loses_nothing_and_repeats_nothing(new_user_env, tmp_path):
    """The real CLI, killed (SIGKILL, workers too) after a few shards, then run again."""
    docs = make_corpus(400, seed=1, sentences=30)
    corpus = write_jsonl(tmp_path / "c.jsonl", docs + BAD_ROWS)
    out = tmp_path / "out.jsonl"
    manifest = tmp_path / "out.jsonl.parts" / "manifest.json"
    command = bertcli_exe() + ["batch", "summarize", str(corpus), "--out", str(out),
                               "--strategy", "lead", "--workers", "1", "--shard-size", "20"]
    proc = subprocess.Popen(command, env=new_user_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    shards = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists():
            shards = len(json.loads(manifest.read_text(encoding="utf-8"))["shards"])
            if shards >= 2:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed: make the corpus longer"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    done = len(json.loads(manifest.read_text(encoding="utf-8"))["shards"]) * 20
    assert 40 <= done < 403

    rerun = subprocess.run(command, env=new_user_env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    # Every document once: those of the shards kept are not summarized again.
    assert f"403 rows; {403 - done} summarized now (3 with an error), {done} skipped" in rerun.stderr
    rows = rows_of(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 403
    assert set(ids) == {d["id"] for d in docs} | {r["id"] for r in BAD_ROWS}
    assert not (tmp_path / "out.jsonl.parts").exists()
    # The same rows as one uninterrupted run.
    from bertcli.batch import SummarizeTask, summarize_corpus

    summarize_corpus(str(corpus), str(tmp_path / "whole.jsonl"), SummarizeTask(strategy="lead"),
                     workers=1)
    assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, rows_of(tmp_path / "whole.jsonl")))


# --- engines: the same output ------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_200(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus200")
    return write_jsonl(folder / "c.jsonl", make_corpus(197, seed=2, sentences=6) + BAD_ROWS)


@pytest.mark.slow
def test_local_and_ray_engines_give_the_same_rows(run_cli, corpus_200, tmp_path):
    """200 documents (3 bad) through a process pool and a local Ray cluster (2 CPUs), with the
    default strategy (learned, the bundled encoder): the same rows, whatever their order."""
    pytest.importorskip("ray")
    outs = {}
    for engine in ("local", "ray"):
        outs[engine] = tmp_path / f"{engine}.jsonl"
        # a process of its own: Ray keeps its cluster's auth token and state per process (HOME)
        proc = run_cli("batch", "summarize", corpus_200, "--out", outs[engine], "--engine", engine,
                       "--workers", "2", "--shard-size", "64", "--offline", timeout=400,
                       process=True)
        assert proc.returncode == 0, proc.err
        assert "200 rows; 200 summarized now (3 with an error)" in proc.err
    local, ray = (sorted(outs[e].read_text(encoding="utf-8").splitlines()) for e in ("local", "ray"))
    assert len(local) == 200 and local == ray
    assert all(json.loads(line)["model"] == "all-MiniLM-L6-v2" for line in local)


# --- the corpus index --------------------------------------------------------------------

FACTS = [
    {"id": "harbour", "text": "The old harbour was rebuilt in 1911. The harbour master, Ada Quill, "
                              "ordered forty new cranes from Glasgow. Ships now dock at night."},
    {"id": "orchard", "text": "Apples grow on the north slope. The orchard was planted by Tomas Brey "
                              "in 1870. Frost is the main danger in April."},
    {"id": "rocket", "text": "The rocket reached orbit on its third attempt. Its engines burn kerosene "
                             "and liquid oxygen. The launch site is on a small island."},
]


def test_index_then_ask_names_the_document_and_offsets(run_cli, tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", FACTS + BAD_ROWS[:1])
    index = tmp_path / "index"
    proc = run_cli("batch", "index", corpus, "--out", index, "--workers", "1")
    assert proc.returncode == 0, proc.err
    assert "3 passages of 3 documents; 1 not indexed" in proc.err
    meta = json.loads((index / "index.json").read_text(encoding="utf-8"))
    assert (meta["documents"], meta["passages"], meta["encoder"]["dimension"]) == (3, 3, 384)

    texts = {f["id"]: f["text"] for f in FACTS}
    proc = run_cli("ask", "--index", index, "Who planted the orchard?", "What do the engines burn?",
                   "-f", "jsonl", "--offline")
    assert proc.returncode == 0, proc.err
    results = [json.loads(line) for line in proc.out.splitlines()]
    assert [r["answers"][0]["source"] for r in results] == ["orchard", "rocket"]
    for result in results:
        for answer in result["answers"]:
            text = texts[answer["source"]]
            assert text[answer["start"]:answer["end"]] == answer["text"]
            assert text[answer["context_start"]:].startswith(answer["context"])

    proc = run_cli("ask", "--index", index, "Who ordered cranes?", "--retrieval-only", "-f", "json")
    assert proc.returncode == 0, proc.err
    best = json.loads(proc.out)["answers"][0]
    assert best["source"] == "harbour" and best["text"] == texts["harbour"]

    # retrieval-only: -k passages come back even beyond --passages (the reader reads those)
    proc = run_cli("ask", "--index", index, "Who ordered cranes?", "--retrieval-only", "-k", "3",
                   "--passages", "2", "-f", "json")
    assert proc.returncode == 0, proc.err
    assert len({a["source"] for a in json.loads(proc.out)["answers"]}) == 3


def test_ask_index_that_is_not_one(run_cli, tmp_path):
    proc = run_cli("ask", "--index", tmp_path, "Who?")
    assert proc.returncode == 3
    assert "not a bertcli index" in proc.err and "Traceback" not in proc.err


@pytest.mark.slow
def test_index_on_ray_equals_local(tmp_path):
    """The corpus index through a local Ray cluster (2 CPUs) and through the process pool."""
    pytest.importorskip("ray")
    import numpy as np

    from bertcli.batch import index_corpus

    corpus = write_jsonl(tmp_path / "c.jsonl", FACTS + make_corpus(12, seed=3, sentences=20) + BAD_ROWS)
    built = {engine: index_corpus(str(corpus), str(tmp_path / engine), engine=engine, workers=2)
             for engine in ("local", "ray")}
    assert built["local"].passages == built["ray"].passages > 15
    assert built["local"].errors == built["ray"].errors and len(built["ray"].errors) == 3
    local, ray = (index_rows(tmp_path / e) for e in ("local", "ray"))
    assert [r[:5] for r in local] == [r[:5] for r in ray]
    assert np.allclose([r[5] for r in local], [r[5] for r in ray], atol=1e-5)


def index_rows(path) -> list[tuple]:
    """Every passage of the index at `path`, sorted: (id, passage, start, end, text, vector)."""
    from bertcli.batch.index_store import open_table

    rows = open_table(str(path)).to_arrow().to_pylist()
    return sorted((r["id"], r["passage"], r["start"], r["end"], r["text"], r["vector"]) for r in rows)
