"""Fixtures shared by the tests of `ask`'s index cache and its background fill."""

from __future__ import annotations

import pytest

from bertcli.ask import index_cache
from bertcli.ask.retrieve import Retriever


@pytest.fixture()
def empty_cache(monkeypatch):
    monkeypatch.delenv("BERTCLI_INDEX_CACHE_MB", raising=False)
    index_cache.clear()
    yield index_cache.cache_dir()
    index_cache.clear()


@pytest.fixture()
def embed_calls(monkeypatch) -> list[int]:
    """Texts per embed call of every Retriever made from now on."""
    calls: list[int] = []
    real = Retriever.__init__

    def counting_init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        embed = self.encoder.embed_normalized
        self.encoder.embed_normalized = lambda texts, **kw: (calls.append(len(texts)),
                                                             embed(texts, **kw))[1]

    monkeypatch.setattr(Retriever, "__init__", counting_init)
    return calls
