"""The document index cache: a second `ask` on a long document skips indexing; entries are
keyed by the text, bounded, atomic, and a damaged one is rebuilt, never used."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

import numpy as np
import pytest

from bertcli.ask import asker as qa
from bertcli.ask import index_cache, plan
from bertcli.ask.retrieve import BM25, Retriever

from ..conftest import EXAMPLE


@pytest.fixture(scope="module")
def asker(tiny_qa_dir):
    return qa.Asker(model=str(tiny_qa_dir), device="cpu")


@pytest.fixture()
def counted(monkeypatch):
    """How often documents are split into sentences and indexed."""
    calls = {"split": 0, "index": 0}
    split, index = plan.split_sentences, Retriever.index

    def counting_split(text, lang=None, progress=None):
        calls["split"] += 1
        return split(text, lang, progress)

    def counting_index(self, *args, **kwargs):
        calls["index"] += 1
        return index(self, *args, **kwargs)

    monkeypatch.setattr(plan, "split_sentences", counting_split)
    monkeypatch.setattr(Retriever, "index", counting_index)
    return calls


QUESTIONS = ["Who was the Norse leader?", "When did the Normans get their name?"]


def answers(results):
    return [[(a.text, a.start, a.end, round(a.score, 5), a.context) for a in r.answers]
            + [(p.start, p.end) for p in r.passages] for r in results]


def test_bm25_scores_as_rank_bm25():
    from rank_bm25 import BM25Okapi

    rng = random.Random(3)
    words = [f"w{i}" for i in range(40)]
    for _ in range(30):
        corpus = [[rng.choice(words[: rng.randint(3, 40)]) for _ in range(rng.randint(1, 30))]
                  for _ in range(rng.randint(1, 25))]
        query = [rng.choice(words) for _ in range(rng.randint(1, 6))] + ["unseen"]
        ours = BM25.build(corpus)
        np.testing.assert_allclose(ours.get_scores(query), BM25Okapi(corpus).get_scores(query),
                                   rtol=1e-12, atol=1e-12)
        back = BM25.from_arrays(ours.arrays(), len(corpus))
        np.testing.assert_array_equal(back.get_scores(query), ours.get_scores(query))


def test_second_ask_skips_indexing(asker, empty_cache, counted):
    text = EXAMPLE.read_text(encoding="utf-8")
    first = asker.ask(text, QUESTIONS, passages=4)
    assert counted == {"split": 1, "index": 1}
    assert len(index_cache.entries()) == 1
    again = qa.Asker(model=asker.reader_name, device="cpu").ask(text, QUESTIONS, passages=4)
    assert counted == {"split": 1, "index": 1}  # neither split nor indexed again
    assert answers(again) == answers(first)
    asker.ask(text + "\n\nOne more paragraph about the Normans.", QUESTIONS[:1], passages=4)
    assert counted["index"] == 2 and len(index_cache.entries()) == 2  # another text, another entry
    # the same text split by another language's rules is another entry, not the English one
    qa.Asker(model=asker.reader_name, device="cpu", lang="de").ask(text, QUESTIONS[:1], passages=4)
    assert counted == {"split": 3, "index": 3} and len(index_cache.entries()) == 3


def test_an_index_built_by_other_code_is_not_read_back(asker, empty_cache, counted, monkeypatch,
                                                      tmp_path):
    """The key carries a digest of the indexing code (retrieve.py, sentences.py): a changed
    splitter or passage rule never reads passages that an earlier build cached."""
    from bertcli import sentences
    from bertcli.ask import retrieve

    text = EXAMPLE.read_text(encoding="utf-8")
    asker.ask(text, QUESTIONS[:1], passages=4)
    assert counted["index"] == 1
    changed = tmp_path / "sentences.py"
    changed.write_bytes(Path(sentences.__file__).read_bytes() + b"\n# a change\n")
    before = retrieve._version()
    retrieve._version.cache_clear()
    monkeypatch.setattr(sentences, "__file__", str(changed))
    try:
        assert retrieve._version() != before
        asker.ask(text, QUESTIONS[:1], passages=4)
        assert counted["index"] == 2 and len(index_cache.entries()) == 2
    finally:
        retrieve._version.cache_clear()


def _damage_truncate(path):
    path.write_bytes(path.read_bytes()[:200])


def _damage_garbage(path):
    path.write_bytes(b"not an npz at all")


def _damage_offsets(path):
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["units"] = arrays["units"] + 10**9  # passages beyond the end of the text
    with open(path, "wb") as out:
        np.savez(out, **arrays)


def _damage_vectors(path):
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["vectors"] = arrays["vectors"][:-1]
    with open(path, "wb") as out:
        np.savez(out, **arrays)


def _flip_array_values(path):
    """Same size, a valid .npz (zip CRCs recomputed), one vector value changed: only the
    entry's own checksum can tell."""
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["vectors"] = arrays["vectors"].copy()
    arrays["vectors"][0, 0] += 0.25
    size = path.stat().st_size
    with open(path, "wb") as out:
        np.savez(out, **arrays)
    assert path.stat().st_size == size


def _flip_raw_bytes(path):
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 8):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_garbage, _damage_offsets,
                                    _damage_vectors, _flip_array_values, _flip_raw_bytes])
def test_damaged_entry_is_rebuilt_not_used(asker, empty_cache, counted, damage):
    """Truncated, garbage, bad offsets or vectors, and flipped bytes of the same size (caught by
    the entry's checksum): one notice, indexed again, stored whole again, same answers."""
    text = EXAMPLE.read_text(encoding="utf-8")
    fresh = asker.ask(text, QUESTIONS, passages=4)
    (path, _, _), = index_cache.entries()
    damage(path)
    notices: list[str] = []
    rebuilt = qa.Asker(model=asker.reader_name, device="cpu", notice=notices.append)
    assert answers(rebuilt.ask(text, QUESTIONS, passages=4)) == answers(fresh)
    assert counted["index"] == 2
    assert len(notices) == 1 and "cached index of <text> is damaged" in notices[0]
    assert "indexing it again" in notices[0]
    assert index_cache.load(path.stem, notice=pytest.fail) is not None  # stored whole again
    assert "indexing it again" in notices[0] and "\n" not in notices[0]
    # and it was stored whole again
    assert index_cache.load(path.stem) is not None


def test_bounded_least_recently_used_go_first(empty_cache, monkeypatch):
    payload = {"a": np.zeros(50_000, dtype=np.uint8)}  # ~50 kB an entry
    monkeypatch.setenv("BERTCLI_INDEX_CACHE_MB", str(0.13))  # room for two
    for key in ("k1", "k2"):
        assert index_cache.store(key, payload)
    import os
    import time

    past = time.time() - 100
    os.utime(index_cache.cache_dir() / "k1.npz", (past, past))
    os.utime(index_cache.cache_dir() / "k2.npz", (past - 10, past - 10))
    assert index_cache.load("k2") is not None  # k2 used now: k1 is the oldest
    index_cache.store("k3", payload)
    assert sorted(p.stem for p, _, _ in index_cache.entries()) == ["k2", "k3"]
    monkeypatch.setenv("BERTCLI_INDEX_CACHE_MB", "0")  # off: nothing written or read
    assert not index_cache.store("k4", payload) and index_cache.load("k3") is None


def _writer(folder: str, key: str, rounds: int, size: int) -> None:
    import os

    os.environ["BERTCLI_CACHE"] = folder
    for _ in range(rounds):
        index_cache.store(key, {"a": np.full(size, size % 251, dtype=np.uint8)})


def test_two_processes_writing_at_once_never_leave_half_an_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path))
    monkeypatch.delenv("BERTCLI_INDEX_CACHE_MB", raising=False)
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), "same", 30, size))
               for size in (200_000, 300_000)]
    for w in writers:
        w.start()
    seen = 0
    while any(w.is_alive() for w in writers):
        arrays = index_cache.load("same", notice=lambda m: pytest.fail(m))
        if arrays is not None:
            a = arrays["a"]
            assert len(a) in (200_000, 300_000) and (a == len(a) % 251).all()
            seen += 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert index_cache.load("same") is not None
    assert not list(index_cache.cache_dir().glob(".write-*"))  # no temporary files left


def test_cache_info_and_clear(run_cli, tmp_path, tiny_qa_dir):
    env = {"BERTCLI_CACHE": str(tmp_path / "cache")}
    doc = tmp_path / "doc.txt"
    doc.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    asked = run_cli("ask", "Who was the Norse leader?", doc, "-m", tiny_qa_dir, "--offline", env=env)
    assert asked.returncode == 0, asked.err
    info = run_cli("cache", "info", "-f", "json", env=env)
    assert info.returncode == 0, info.err
    rows = {r["cache"]: r for r in json.loads(info.out)}
    assert rows["indexes"]["entries"] == 1 and rows["indexes"]["bytes"] > 0
    assert rows["indexes"]["limit_bytes"] == index_cache.DEFAULT_LIMIT_MB * 1024 * 1024
    assert rows["models"]["entries"] >= 2  # the tiny reader's and the bundled encoder's copies
    cleared = run_cli("cache", "clear", "--indexes", env=env)
    assert cleared.returncode == 0 and "removed 1 document index(es)" in cleared.err
    rows = {r["cache"]: r for r in json.loads(run_cli("cache", "info", "-f", "json", env=env).out)}
    assert rows["indexes"]["entries"] == 0 and rows["models"]["entries"] >= 2
    cleared = run_cli("cache", "clear", env=env)
    assert cleared.returncode == 0
    rows = {r["cache"]: r for r in json.loads(run_cli("cache", "info", "-f", "json", env=env).out)}
    assert rows["models"]["entries"] == 0


# --- faults: flipped bytes, a full or unwritable folder, a writer killed mid-write ----------


def test_full_disk_degrades_to_no_caching_with_one_notice(asker, empty_cache, counted,
                                                          monkeypatch):
    import errno

    monkeypatch.setattr(index_cache, "_unusable", set())

    def full(fd, data):
        import os

        os.close(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(index_cache, "_write_file", full)
    text = EXAMPLE.read_text(encoding="utf-8")
    notices: list[str] = []
    asking = qa.Asker(model=asker.reader_name, device="cpu", notice=notices.append)
    first = asking.ask(text, QUESTIONS, passages=4)
    second = asking.ask(text + "\n\nAnother paragraph.", QUESTIONS[:1], passages=4)
    assert first[0].answers and second[0].question == QUESTIONS[0]
    said = [n for n in notices if "index cache" in n]
    assert len(said) == 1 and "No space left on device" in said[0], notices
    assert "going on without it" in said[0]
    assert index_cache.entries() == [] and not list(empty_cache.glob(".write-*"))


def test_cache_under_a_regular_file_degrades_to_no_caching(asker, counted, tmp_path,
                                                           monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setattr(index_cache, "cache_dir", lambda: blocker / "index")
    monkeypatch.delenv("BERTCLI_INDEX_CACHE_MB", raising=False)
    text = EXAMPLE.read_text(encoding="utf-8")
    notices: list[str] = []
    asking = qa.Asker(model=asker.reader_name, device="cpu", notice=notices.append)
    # read (fails), written (skipped), read again (skipped): one notice, the same answers
    first, again = (asking.ask(text, QUESTIONS, passages=4) for _ in range(2))
    assert answers(first) == answers(again) and counted["index"] == 2
    said = [n for n in notices if "index cache" in n]  # (alone, the retriever's export too)
    assert len(said) == 1 and "Not a directory" in said[0], notices
    assert "going on without it" in said[0]


def test_writer_killed_mid_write_leaves_no_entry_read_as_valid(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = dict(os.environ, BERTCLI_CACHE=str(tmp_path), BERTCLI_FAULT="index-cache-write:1")
    env.pop("BERTCLI_INDEX_CACHE_MB", None)
    code = ("import numpy as np; from bertcli.ask import index_cache; "
            "index_cache.store('k', {'a': np.arange(200_000)})")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    folder = tmp_path / "index"
    torn = list(folder.glob(".write-*"))
    assert len(torn) == 1 and torn[0].stat().st_size > 0  # half an entry, under its own name
    os.environ["BERTCLI_CACHE"], before = str(tmp_path), os.environ["BERTCLI_CACHE"]
    try:
        assert index_cache.load("k", notice=pytest.fail) is None and index_cache.entries() == []
        torn[0].rename(folder / "k.npz")  # even renamed into place by mistake: never valid
        notices: list[str] = []
        assert index_cache.load("k", notice=notices.append) is None
        assert len(notices) == 1 and "is damaged" in notices[0]
    finally:
        os.environ["BERTCLI_CACHE"] = before


def test_questions_embed_only_what_bm25_ranks_best(asker, empty_cache, embed_calls, monkeypatch):
    """Issue #30: a first question embeds only LAZY_CANDIDATES passages, not the document;
    the vectors it made are kept in the cache entry and reused by a later process, and a
    question whose candidates are all embedded embeds nothing."""
    from bertcli.ask import retrieve

    monkeypatch.setattr(retrieve, "LAZY_CANDIDATES", 3)
    embedded = embed_calls
    text = EXAMPLE.read_text(encoding="utf-8")
    units = len(retrieve.make_passages(plan.split_sentences(text)))
    assert units > 6
    first = qa.Asker(model=asker.reader_name, device="cpu").ask(text, QUESTIONS[:1], passages=4)
    assert first[0].passages and embedded == [3, 1]  # three passages, then the question
    with np.load(index_cache.entries()[0][0]) as stored:
        assert stored["embedded"].sum() == 3 and stored["vectors"].shape == (units, 384)
    embedded.clear()
    again = qa.Asker(model=asker.reader_name, device="cpu").ask(text, QUESTIONS[:1], passages=4)
    assert embedded == [1] and answers(again) == answers(first)  # the question alone


def test_lazy_ranking_is_the_full_ranking_within_bm25s_best(monkeypatch):
    """The passages read are the fused ranking over BM25's best units: with every unit a
    candidate, exactly the ranking of an index whose every passage was embedded up front."""
    from bertcli.ask import retrieve

    text = EXAMPLE.read_text(encoding="utf-8")
    sentences = plan.split_sentences(text)
    retriever = Retriever()
    index = retriever.index(text, sentences)
    vectors = retriever.encoder.embed_normalized([text[u.start:u.end] for u in index.units])
    for question in QUESTIONS:
        lexical = index.bm25.get_scores(retrieve.terms(question))
        query = retriever.encoder.embed_normalized([question])[0]
        full = retrieve.rank_fusion(lexical, vectors @ query)
        expected = [index.units[i] for i in np.argsort(-full, kind="stable")[:5]]
        assert index.top(question, 5) == expected
    monkeypatch.setattr(retrieve, "LAZY_CANDIDATES", 2)
    top = retriever.index(text, sentences).top(QUESTIONS[0], 5)
    assert len(top) == 2  # only candidates are ever read


def test_long_lived_processes_embed_the_rest_behind(asker, empty_cache, monkeypatch):
    """`serve` and `chat` (fill_behind): once a document's questions are answered, the rest of
    its passages are embedded on a background thread and kept in the cache entry, so a later
    new question embeds nothing but itself; the answers are those of a plain Asker."""
    from bertcli.ask import fill, retrieve

    monkeypatch.setattr(retrieve, "LAZY_CANDIDATES", 3)
    text = EXAMPLE.read_text(encoding="utf-8")
    filler = qa.Asker(model=asker.reader_name, device="cpu", fill_behind=qa.FILL_THREAD)
    first = filler.ask(text, QUESTIONS[:1], passages=4)
    threads = [t for t in fill._threads.values() if t.is_alive() or t.ident]
    assert threads, "no fill thread was started"
    for thread in threads:
        thread.join(timeout=120)
    with np.load(index_cache.entries()[0][0]) as stored:
        assert stored["embedded"].all()
    plain = qa.Asker(model=asker.reader_name, device="cpu")
    assert answers(plain.ask(text, QUESTIONS[:1], passages=4)) == answers(first)
    index, _ = plain.retriever().cached_index(text, plan.split_sentences, language="en")
    assert index.embedded.all() and not index.grown
