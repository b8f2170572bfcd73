"""A document goes down `ask`'s stages once: index -> plan -> read (per question) -> choose."""

from __future__ import annotations

from bertcli.ask import asker as asker_module
from bertcli.ask import plan

from ..conftest import EXAMPLE


def test_each_stage_runs_once_per_document(tiny_qa_dir, monkeypatch):
    calls: dict[str, int] = {}

    def counted(module, name):
        real = getattr(module, name)

        def spy(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)

    for name in ("index_document", "plan_passages", "read_passages", "answers_from_spans", "decide"):
        counted(asker_module, name)
    counted(plan, "split_sentences")
    asker = asker_module.Asker(model=str(tiny_qa_dir), device="cpu")
    text = (EXAMPLE.read_text(encoding="utf-8") + "\n\n") * 4  # long: retrieved passages
    questions = ["Who was the leader?", "Where is Normandy?", "When did they arrive?"]
    results = list(asker.ask_documents([text], questions))
    assert [r.question for r in results] == questions
    assert calls == {"index_document": 1, "split_sentences": 1, "plan_passages": 1,
                     "read_passages": 3, "answers_from_spans": 3, "decide": 3}
