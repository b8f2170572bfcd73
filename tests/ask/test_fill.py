"""`ask`'s background fill (bertcli.ask.fill): after a question on a long document, one
detached low-priority process embeds the passages no question embedded, so that a later
process's new question embeds only itself; rows stored meanwhile are merged, never lost."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from bertcli.ask import asker as qa
from bertcli.ask import fill, index_cache, plan, retrieve

from ..conftest import EXAMPLE

QUESTION = "Who was the Norse leader?"


@pytest.fixture()
def few_candidates(monkeypatch):
    """Questions embed 3 passages each, so that the example is a "long" document."""
    monkeypatch.setattr(retrieve, "LAZY_CANDIDATES", 3)


def stored_embedded() -> np.ndarray:
    (path, _, _), = index_cache.entries()
    with np.load(path) as stored:
        return stored["embedded"].copy()


def test_ask_leaves_a_process_that_embeds_the_rest(run_cli, tiny_qa_dir, empty_cache,
                                                   few_candidates, embed_calls):
    """The CLI's `ask` returns at once; the process it started embeds every other passage
    into the cache entry, removes the text it was handed, and a later new question embeds
    nothing but itself."""
    proc = run_cli("ask", QUESTION, EXAMPLE, "--model", tiny_qa_dir, "-f", "json",
                   env={"BERTCLI_NO_FILL": ""})
    assert proc.returncode == 0, proc.err
    assert not stored_embedded().all()  # the question embedded only its candidates
    deadline = time.monotonic() + 120
    while not stored_embedded().all():
        assert time.monotonic() < deadline, "the background fill did not finish"
        time.sleep(0.2)
    while list(empty_cache.glob(f"{fill.TEXT_PREFIX}*")):  # removed right after it is read
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with FileLock(str(empty_cache / ".fill.lock"), timeout=60):
        pass  # the process has let go of its lock: it is done (later tests start fills)
    embed_calls.clear()  # (the CLI's own: its candidates, then its question)
    qa.Asker(model=str(tiny_qa_dir), device="cpu").ask(EXAMPLE.read_text(encoding="utf-8"),
                                                       ["When did the Normans get their name?"],
                                                       passages=4)
    assert embed_calls == [1]  # the question alone


def test_fill_merges_with_rows_another_process_stored(tiny_qa_dir, empty_cache, few_candidates):
    """The fill and an `ask` each keep the rows they embedded: whichever stores last takes
    over the other's, and the filled vectors are the encoder's own."""
    text = EXAMPLE.read_text(encoding="utf-8")
    asker = qa.Asker(model=str(tiny_qa_dir), device="cpu")
    asker.ask(text, [QUESTION], passages=4)
    retriever = asker.retriever()
    meanwhile, _ = retriever.cached_index(text, plan.split_sentences, language="en")
    key = meanwhile.cache_key
    assert key is not None and meanwhile.embedded.sum() == 3
    # another `ask` embeds two more passages, and stores them only after the fill is done
    extra = np.flatnonzero(~meanwhile.embedded)[-2:]
    meanwhile._embed(extra)
    filled = fill.fill(key, text, "passage", "en")
    assert filled == len(meanwhile.units) - 3 and stored_embedded().all()
    retriever.keep(meanwhile)
    assert stored_embedded().all()  # the fill's rows survived the later write
    index, _ = retriever.cached_index(text, plan.split_sentences, language="en")
    expected = retriever.encoder.embed_normalized(
        [text[u.start:u.end] for u in index.units], batch_size=4)
    np.testing.assert_allclose(index.vectors, expected, atol=1e-5)


def test_fill_of_another_settings_entry_does_nothing(tiny_qa_dir, empty_cache, few_candidates):
    text = EXAMPLE.read_text(encoding="utf-8")
    qa.Asker(model=str(tiny_qa_dir), device="cpu").ask(text, [QUESTION], passages=4)
    before = stored_embedded()
    assert fill.fill("0" * 32, text, "passage", "en") == 0  # not this text's key
    assert fill.fill("0" * 32, text + " More.", "passage", "en") == 0
    np.testing.assert_array_equal(stored_embedded(), before)


def test_no_fill_is_started_when_off_done_or_already_running(tiny_qa_dir, empty_cache,
                                                              few_candidates, monkeypatch):
    started: list[list[str]] = []
    monkeypatch.setattr(fill.subprocess, "Popen", lambda args, **kw: started.append(args))
    text = EXAMPLE.read_text(encoding="utf-8")
    asker = qa.Asker(model=str(tiny_qa_dir), device="cpu")
    asker.ask(text, [QUESTION], passages=4)
    index, _ = asker.retriever().cached_index(text, plan.split_sentences, language="en")

    monkeypatch.setenv("BERTCLI_NO_FILL", "1")
    assert not fill.start_process(index, "passage", "en")
    monkeypatch.setenv("BERTCLI_NO_FILL", "")
    with FileLock(str(empty_cache / ".fill.lock")):  # another fill is running
        assert not fill.start_process(index, "passage", "en")
    assert not started and not list(empty_cache.glob(f"{fill.TEXT_PREFIX}*"))

    assert fill.start_process(index, "passage", "en")
    (args,) = started
    assert args[1:3] == ["-c", fill.CHILD] and args[3] == index.cache_key
    handed = Path(args[4])
    assert handed.parent == empty_cache and handed.name.startswith(fill.TEXT_PREFIX)
    assert handed.read_bytes().decode("utf-8", "surrogatepass") == text
    assert handed.stat().st_mode & 0o077 == 0  # the document: readable by this user alone

    index._embed(np.flatnonzero(~index.embedded))
    assert not fill.start_process(index, "passage", "en")  # nothing left to embed
    assert len(started) == 1


def test_fill_process_exits_when_another_runs_and_removes_its_text(tiny_qa_dir, empty_cache,
                                                                   few_candidates, tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    asker = qa.Asker(model=str(tiny_qa_dir), device="cpu")
    asker.ask(text, [QUESTION], passages=4)
    key = asker.retriever().entry_key(text, "passage", "en")
    handed = tmp_path / "text"
    handed.write_text(text, encoding="utf-8")
    with FileLock(str(empty_cache / ".fill.lock")):
        assert fill.main([key, str(handed), "passage", "en"]) == 0
    assert not handed.exists() and stored_embedded().sum() == 3


def test_fill_pauses_while_a_question_is_answered(tiny_qa_dir, empty_cache, few_candidates,
                                                  monkeypatch):
    """The fill waits between chunks while any process is inside `asking()` (answering
    questions), then goes on."""
    import threading

    text = EXAMPLE.read_text(encoding="utf-8")
    asker = qa.Asker(model=str(tiny_qa_dir), device="cpu")
    asker.ask(text, [QUESTION], passages=4)
    key = asker.retriever().entry_key(text, "passage", "en")
    waits = []
    wait = fill.wait_for_askers
    monkeypatch.setattr(fill, "wait_for_askers", lambda stop=None: (waits.append(1), wait(stop)))
    done: list[int] = []
    with fill.asking():
        filler = threading.Thread(target=lambda: done.append(fill.fill(key, text, "passage", "en",
                                                                       keep_every_s=0)))
        filler.start()
        deadline = time.monotonic() + 120
        while not waits:  # loaded, and about to embed its first chunk
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(10 * fill.POLL_S)
        assert filler.is_alive() and len(waits) == 1 and stored_embedded().sum() == 3
    filler.join(timeout=120)
    assert done and done[0] > 0 and stored_embedded().all()


def test_a_cache_cleared_during_the_fill_stays_cleared(tiny_qa_dir, empty_cache, few_candidates,
                                                       monkeypatch):
    """`bertcli cache clear` while a fill runs: the fill stops at its next store instead of
    writing the document's entry back."""
    text = EXAMPLE.read_text(encoding="utf-8")
    asker = qa.Asker(model=str(tiny_qa_dir), device="cpu")
    asker.ask(text, [QUESTION], passages=4)
    key = asker.retriever().entry_key(text, "passage", "en")
    monkeypatch.setattr(fill, "CHUNK", 1)
    monkeypatch.setattr(fill, "wait_for_askers", lambda stop=None: index_cache.clear())
    assert fill.fill(key, text, "passage", "en", keep_every_s=0) == 0
    assert index_cache.entries() == []
