"""What a worker does to a batch of records: summarize them, or cut and embed their passages.

A task is a small picklable description; `load()` runs once per worker process (local engine)
or actor (Ray) and builds the model; `run(records)` makes one output row per record, an error
row when the record cannot be used, so that a bad document never stops the run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BertcliError
from .corpus import Record


def limit_threads(threads: int) -> None:
    """Each worker gets its share of the cores: ONNX Runtime and torch would otherwise each
    start one thread per core in every worker and fight over them."""
    # The worker's own environment (a process of its own): read by bertcli.settings.threads()
    # when a model session opens (ONNX Runtime) or torch loads a model; OMP for the rest.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["BERTCLI_THREADS"] = str(threads)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def error_text(err: BaseException) -> str:
    if isinstance(err, BertcliError):
        return err.message
    return f"unexpected {type(err).__name__}: {err}"


@dataclass(frozen=True)
class SummarizeTask:
    """`bertcli batch summarize`: a Summarizer per worker."""

    model: str | None = None
    strategy: str = "learned"
    precision: str = "auto"
    device: str = "auto"
    offline: bool = False
    num_sentences: int | None = None
    ratio: float | None = None

    def load(self, notices: list[str]) -> Any:
        from ..summarize.summarizer import Summarizer

        return Summarizer(model=self.model, device=self.device, offline=self.offline,
                          precision=self.precision, strategy=self.strategy, notice=notices.append)

    def run(self, summarizer: Any, records: Sequence[Record]) -> list[dict[str, Any]]:
        from ..read.document import Document

        rows = []
        for record in records:
            # summarize's record (bertcli/schemas/summary.schema.json) plus `id` and `error`
            row: dict[str, Any] = {"id": record.id, "sentences": [], "model": summarizer.model_name,
                                   "strategy": self.strategy, "error": record.error,
                                   "source": record.id, "format": record.format, "language": None}
            if record.error is None:
                try:
                    summary = summarizer(Document(record.id, record.text or "", record.format),
                                         num_sentences=self.num_sentences, ratio=self.ratio)
                    row["sentences"] = [{"index": s.index, "start": s.start, "end": s.end, "text": s.text}
                                        for s in summary.sentences]
                    row["language"] = summary.language
                except Exception as err:  # one document's failure is its row's error
                    row["error"] = error_text(err)
            rows.append(row)
        return rows


@dataclass(frozen=True)
class IndexTask:
    """`bertcli batch index`: a Retriever (its encoder) per worker; each document's passages
    (bertcli.retrieve.make_passages) and their normalized float32 embeddings."""

    device: str = "cpu"
    precision: str = "auto"  # the index's: every vector of one index from the same encoder

    def load(self, notices: list[str]) -> Any:
        from ..ask.retrieve import Retriever
        from ..backends.load import resolve_device

        return Retriever(device=resolve_device(self.device), notice=notices.append,
                         precision=self.precision)

    def run(self, retriever: Any, records: Sequence[Record]) -> list[dict[str, Any]]:
        import numpy as np

        from ..ask.retrieve import make_passages
        from ..sentences import split_sentences

        rows = []
        for record in records:
            row: dict[str, Any] = {"id": record.id, "passages": [], "texts": [], "vectors": b"",
                                   "error": record.error}
            if record.error is None:
                try:
                    text = record.text or ""
                    passages = make_passages(split_sentences(text))
                    vectors = retriever.encoder.embed_normalized(
                        [text[p.start:p.end] for p in passages], batch_size=8)
                    row["passages"] = [[p.start, p.end] for p in passages]
                    row["texts"] = [text[p.start:p.end] for p in passages]
                    row["vectors"] = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
                except Exception as err:
                    row["error"] = error_text(err)
            rows.append(row)
        return rows
