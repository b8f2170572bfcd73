"""What the pipelines need of a model, whichever backend runs it (ONNX Runtime or torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .pooling import Window


class Encoder(Protocol):
    """A sentence encoder: mean-pooled embeddings (bertcli.backends.onnx_models.FastEncoder,
    bertcli.backends.torch_backend.Encoder)."""

    def token_ids(self, texts: Sequence[str], special_tokens: bool = False,
                  limit: int = 0) -> list[list[int]]: ...

    def embed(self, texts: Sequence[str], layer: int = -2) -> np.ndarray: ...

    def embed_normalized(self, texts: Sequence[str], max_tokens: int = 256,
                         batch_size: int = ...) -> np.ndarray: ...


class Reader(Protocol):
    """An extractive question-answering reader: windows of (question, context) and their
    start/end logits (bertcli.backends.onnx_models.FastReader, torch_backend.Reader)."""

    question_first: bool
    cls_id: int | None
    model_max_length: int
    runs_at_once: int  # questions `ask` may read side by side (bertcli.ordered.in_order)

    def encode(self, question: str, context: str, max_seq_len: int,
               doc_stride: int) -> list[Window]: ...

    def question_tokens(self, question: str) -> int: ...

    def token_counts(self, texts: Sequence[str]) -> list[int]: ...

    def logits(self, windows: list[dict[str, list[int]]], batch_size: int = 1) -> Any: ...
