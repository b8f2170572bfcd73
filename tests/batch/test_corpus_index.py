"""The corpus index on LanceDB: append, replace, delete, hybrid search, the vector index, and
the indexes bertcli refuses (old format, newer version, another encoder) with one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertcli.batch import index_store
from bertcli.batch.index import CorpusIndex, write_index

from ..cli.test_batch import FACTS, index_rows, write_jsonl

MORE = [
    {"id": "bakery", "text": "The bakery opens at five. Its rye loaf, made by Ines Varga, sells out "
                             "by noon. Flour comes from the mill at Orsk."},
    {"id": "orchard", "text": "The orchard was sold in 1990 to the Lund family. They grow pears now."},
]


@pytest.fixture()
def index(run_cli, tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", FACTS)
    out = tmp_path / "index"
    proc = run_cli("batch", "index", corpus, "--out", out, "--workers", "1")
    assert proc.returncode == 0, proc.err
    return out


def ask(run_cli, index, question: str) -> dict:
    proc = run_cli("ask", "--index", index, question, "-f", "json", "--always-answer", "--offline")
    assert proc.returncode == 0, proc.err
    return json.loads(proc.out)


def test_append_adds_skips_known_ids_and_replace_replaces(run_cli, index, tmp_path):
    more = write_jsonl(tmp_path / "more.jsonl", MORE)
    proc = run_cli("batch", "index", more, "--out", index, "--append", "--workers", "1")
    assert proc.returncode == 0, proc.err
    assert "1 document(s) skipped: already in" in proc.err and "'orchard'" in proc.err
    assert "4 passages of 4 documents; 1 added now" in proc.err
    assert ask(run_cli, index, "Who makes the rye loaf?")["answers"][0]["source"] == "bakery"
    old = {r[0]: r[4] for r in index_rows(index)}["orchard"]
    assert old == FACTS[1]["text"]  # skipped: the first text stays

    proc = run_cli("batch", "index", more, "--out", index, "--append", "--replace", "--workers", "1")
    assert proc.returncode == 0, proc.err
    assert "4 passages of 4 documents; 2 added now (2 replaced)" in proc.err
    rows = index_rows(index)
    assert [r[0] for r in rows].count("orchard") == 1  # the old passage went with the replace
    assert {r[0]: r[4] for r in rows}["orchard"] == MORE[1]["text"]
    answer = ask(run_cli, index, "Who bought the orchard?")["answers"][0]
    assert answer["source"] == "orchard" and "Lund family" in answer["text"]
    assert json.loads((index / "index.json").read_text())["documents"] == 4


def test_append_of_another_folder_says_ids_are_relative_paths(run_cli, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, fact in ((first, FACTS[0]), (second, FACTS[1])):
        folder.mkdir()
        (folder / "notes.txt").write_text(fact["text"], encoding="utf-8")
    out = tmp_path / "index"
    assert run_cli("batch", "index", first, "--out", out, "--workers", "1").returncode == 0
    proc = run_cli("batch", "index", second, "--out", out, "--append", "--workers", "1")
    assert proc.returncode == 0, proc.err
    notice = [line for line in proc.err.splitlines() if "skipped: already in" in line]
    assert len(notice) == 1 and "'notes.txt'" in notice[0]
    assert f"ids are paths relative to {second}" in notice[0]
    assert [r[4] for r in index_rows(out)] == [FACTS[0]["text"]]  # nothing overwritten


def test_delete_by_id(run_cli, index):
    proc = run_cli("batch", "delete", index, "rocket", "no-such-id")
    assert proc.returncode == 0, proc.err
    assert "not in" in proc.err and "'no-such-id'" in proc.err
    assert "1 document(s) deleted" in proc.err
    assert sorted({r[0] for r in index_rows(index)}) == ["harbour", "orchard"]
    result = ask(run_cli, index, "What do the engines burn?")
    assert all(a["source"] != "rocket" for a in result["answers"] + result["passages"])
    proc = run_cli("batch", "delete", index, "-", input="harbour\n\norchard\n")
    assert proc.returncode == 0 and "2 document(s) deleted" in proc.err
    assert index_rows(index) == []


def test_refused_without_losing_anything(run_cli, index, tmp_path):
    corpus = write_jsonl(tmp_path / "c2.jsonl", MORE)
    before = index_rows(index)
    proc = run_cli("batch", "index", corpus, "--out", index)
    assert proc.returncode == 3 and "an index already; --append adds" in proc.err
    proc = run_cli("batch", "index", corpus, "--out", tmp_path / "none", "--append")
    assert proc.returncode == 3 and "no index to append to" in proc.err
    proc = run_cli("batch", "index", corpus, "--out", tmp_path / "x", "--replace")
    assert proc.returncode == 2 and "--replace goes with --append" in proc.err
    assert index_rows(index) == before and not (tmp_path / "x").exists()


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(version=1), "old format (version 1"),
    (lambda m: m.update(version=99), "newer bertcli (index version 99"),
    (lambda m: m["encoder"].update(name="other-encoder"), "built with encoder other-encoder"),
    (lambda m: m["encoder"].update(probe=[-x for x in m["encoder"]["probe"]]),
     "another version of encoder"),
])
def test_indexes_it_cannot_trust_are_one_line_errors(run_cli, index, change, message):
    meta = json.loads((index / "index.json").read_text())
    change(meta)
    (index / "index.json").write_text(json.dumps(meta))
    proc = run_cli("ask", "--index", index, "Who planted the orchard?", "--offline")
    assert proc.returncode == 3, proc.err
    lines = proc.err.strip().splitlines()
    assert any(message in line for line in lines) and "Traceback" not in proc.err
    assert proc.out == ""  # never an answer from vectors of another encoder


@pytest.mark.parametrize("tear", ["table", "data", "indices"])
def test_a_torn_table_is_a_one_line_error(run_cli, index, tear):
    import shutil

    table = index / "passages.lance"
    if tear == "table":
        shutil.rmtree(table)
    else:
        for path in (table / ("data" if tear == "data" else "_indices")).rglob("*"):
            if path.is_file():
                path.unlink()
    commands = [("ask", "--index", index, "Who planted the orchard?", "--offline")]
    if tear != "indices":  # deleting needs no search index
        commands.append(("batch", "delete", index, "rocket"))
    for command in commands:
        proc = run_cli(*command)
        assert proc.returncode == 3, (tear, command, proc.err)
        assert "unreadable index" in proc.err and "Traceback" not in proc.err
        assert ".rs:" not in proc.err and len(proc.err.strip().splitlines()) <= 2  # + a model notice


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("encoder"), "does not describe its encoder"),
    (lambda m: m["encoder"].update(probe=m["encoder"]["probe"][:10]), "does not describe its encoder"),
    (lambda m: m["encoder"].update(probe="x"), "does not describe its encoder"),
    (lambda m: m.update(version="2"), "has no version number"),
])
def test_a_damaged_index_json_is_a_one_line_error(run_cli, index, change, message):
    meta = json.loads((index / "index.json").read_text())
    change(meta)
    (index / "index.json").write_text(json.dumps(meta))
    for command in (("ask", "--index", index, "Who?", "--offline"), ("batch", "delete", index, "x")):
        proc = run_cli(*command)
        assert proc.returncode == 3 and message in proc.err and "Traceback" not in proc.err


def test_one_writer_at_a_time(run_cli, index, tmp_path):
    from bertcli.batch.index_build import writer_lock

    more = write_jsonl(tmp_path / "more.jsonl", MORE)
    with writer_lock(str(index), str(index)):  # as a `batch index --append` running elsewhere
        for command in (("batch", "delete", index, "rocket"),
                        ("batch", "index", more, "--out", index, "--append")):
            proc = run_cli(*command)
            assert proc.returncode == 3 and "another bertcli is writing it" in proc.err
    assert not (tmp_path / "index.parts").exists()
    assert run_cli("batch", "delete", index, "rocket").returncode == 0  # the lock went with it


def test_a_missing_corpus_leaves_nothing_to_resume(run_cli, tmp_path):
    proc = run_cli("batch", "index", tmp_path / "nope.jsonl", "--out", tmp_path / "i")
    assert proc.returncode == 3 and "Traceback" not in proc.err
    assert not (tmp_path / "i").exists() and not (tmp_path / "i.parts").exists()


def test_answers_from_the_corpus_are_ranked_by_score(run_cli, index):
    proc = run_cli("ask", "--index", index, "Who planted the orchard?", "-k", "4", "-f", "json",
                   "--always-answer", "--offline")
    assert proc.returncode == 0, proc.err
    scores = [a["score"] for a in json.loads(proc.out)["answers"]]
    assert len(scores) >= 2 and scores == sorted(scores, reverse=True)


def test_full_text_finds_what_the_vectors_miss(index):
    """A part number that the encoder's vocabulary splits into noise: BM25 finds its passage."""
    hits = CorpusIndex(str(index)).fulltext("cranes Glasgow", 5)
    assert [h["id"] for h in hits][:1] == ["harbour"]
    fused = CorpusIndex(str(index)).search("forty cranes from Glasgow", 2)
    assert fused[0].id == "harbour" and fused[0].text == FACTS[0]["text"]


def fake_rows(n: int, dimension: int, seed: int):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = [{"id": f"doc{seed}-{i}", "passages": [[0, 9]], "texts": [f"passage {i} of {seed}"],
             "vectors": vectors[i].tobytes(), "error": None} for i in range(n)]
    return rows, vectors


def test_vector_index_above_the_threshold_finds_each_row_and_appended_ones(monkeypatch, tmp_path):
    monkeypatch.setattr(index_store, "ANN_MIN_ROWS", 600)
    encoder = {"name": "x", "precision": "fp32", "dimension": 32, "probe": [0.0] * 32}
    rows, vectors = fake_rows(800, 32, seed=1)
    stats = write_index(str(tmp_path / "i"), rows, encoder)
    assert (stats.documents, stats.passages) == (800, 800)
    index = CorpusIndex(str(tmp_path / "i"))
    assert "vector_idx" in {i.name for i in index.table.list_indices()}
    found = [index.nearest(vectors[i], 1)[0]["id"] for i in range(0, 800, 40)]
    assert found == [f"doc1-{i}" for i in range(0, 800, 40)]  # IVF-PQ + exact re-ranking

    from bertcli.batch.index import append_index

    more, more_vectors = fake_rows(50, 32, seed=2)
    append_index(str(tmp_path / "i"), more)
    index = CorpusIndex(str(tmp_path / "i"))
    assert len(index) == 850
    assert [index.nearest(more_vectors[i], 1)[0]["id"] for i in (0, 49)] == ["doc2-0", "doc2-49"]


def test_small_index_has_no_vector_index(index):
    names = {i.name for i in CorpusIndex(str(index)).table.list_indices()}
    assert "vector_idx" not in names and "text_idx" in names


def test_questions_from_a_file_and_an_empty_one_refused_first(run_cli, index, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("Who planted the orchard?\n\nWhat do the engines burn?\n", encoding="utf-8")
    proc = run_cli("ask", "--index", index, "-q", questions, "Who ordered cranes?", "-f", "jsonl",
                   "--always-answer", "--offline")
    assert proc.returncode == 0, proc.err
    sources = [json.loads(line)["answers"][0]["source"] for line in proc.out.splitlines()]
    assert sources == ["orchard", "rocket", "harbour"]
    proc = run_cli("ask", "--index", index, "Who planted the orchard?", "  ", "--offline")
    assert proc.returncode == 3 and "empty question" in proc.err and proc.out == ""
    proc = run_cli("ask", "-q", questions)
    assert proc.returncode == 2 and "give at least one document" in proc.err


def test_a_document_indexed_later_leaves_the_errors_file(run_cli, tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", FACTS[:1] + [{"id": "late", "text": "   "}])
    out = tmp_path / "i"
    assert run_cli("batch", "index", first, "--out", out, "--workers", "1").returncode == 0
    assert "late" in (out / "errors.jsonl").read_text()
    fixed = write_jsonl(tmp_path / "b.jsonl", [{"id": "late", "text": MORE[0]["text"]}])
    proc = run_cli("batch", "index", fixed, "--out", out, "--append", "--workers", "1")
    assert proc.returncode == 0, proc.err
    assert (out / "errors.jsonl").read_text() == ""
    meta = json.loads((out / "index.json").read_text())
    assert (meta["documents"], meta["errors"]) == (2, 0)
