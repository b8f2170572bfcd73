"""Encoders and readers on ONNX Runtime: torch_backend's interface, no torch in the process."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import settings
from ..models import ResolvedModel
from .onnx_cache import META, READER, onnx_file
from .pooling import MAX_BATCH, Window, batches, masked_mean, mean_pool, run_batches


def run_layout() -> tuple[int, int]:
    """(runs at once, threads per run). Two runs of one thread each on two cores: ONNX
    Runtime's two-thread runs synchronise at every operator and went 1.5x slower whenever a
    core stalled (half the runs here); two one-thread runs side by side did not
    (benchmarks/parallel_runs.py). A batch worker's BERTCLI_THREADS: one run of that many."""
    threads = settings.threads()
    if threads:
        return 1, threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return (2, max(1, cores // 2)) if cores >= 2 else (1, 1)


class _SessionLoader:
    """Opens an ONNX Runtime session on a thread: reading and optimising the graph releases
    the GIL, so it overlaps the spaCy import and the reading of the first document."""

    def __init__(self, path: Path, threads: int):
        self._result: dict[str, Any] = {}
        self._threads = threads  # per run (run_layout)
        self._thread = threading.Thread(target=self._load, args=(path,), daemon=True)
        self._thread.start()

    def _load(self, path: Path) -> None:
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            options.intra_op_num_threads, options.inter_op_num_threads = self._threads, 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            # One tiny run: a build may load the int8 graph's Microsoft ops but not run them.
            ids = np.ones((1, 4), dtype=np.int64)
            session.run(None, {i.name: ids if i.name != "token_type_ids" else 0 * ids
                               for i in session.get_inputs()})
            self._result["session"] = session
        except BaseException as err:  # re-raised in the caller's thread
            self._result["error"] = err

    def get(self):
        self._thread.join()
        if "error" in self._result:
            raise self._result["error"]
        return self._result["session"]


class FastEncoder:
    """torch_backend.Encoder's interface on ONNX Runtime (CPU), same tokenization and pooling.
    The session opens in the background; the first use waits for it."""

    def __init__(self, model: ResolvedModel, folder: Path, precision: str):
        import tokenizers

        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        self.name = model.name
        self.precision = precision
        self.max_tokens = int(meta["max_tokens"])
        self.pad_id = int(meta["pad_token_id"])
        self.unk_id = int(meta["unk_token_id"])
        self.hidden_size = int(meta["hidden_size"])
        self.tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.runs_at_once, threads = run_layout()  # runs side by side, and threads for each
        self._loader = _SessionLoader(folder / onnx_file(precision), threads)
        # threads sharing it (a library user's, the server's fill) must not meet inside the
        # tokenizer, whose truncation `token_ids` sets ("Already borrowed")
        self._tokenizing = threading.Lock()

    @property
    def session(self):
        """The ONNX Runtime session, once its loading thread is done (errors surface here)."""
        return self._loader.get()

    def token_ids(self, texts: Sequence[str], special_tokens: bool = False, limit: int = 0) -> list[list[int]]:
        with self._tokenizing:
            self.tokenizer.enable_truncation(min(limit or self.max_tokens, self.max_tokens))
            encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=special_tokens)
        return [e.ids if e.ids else [self.unk_id] for e in encoded]

    def embed_normalized(self, texts: Sequence[str], max_tokens: int = 256,
                         batch_size: int = MAX_BATCH) -> np.ndarray:
        ids = self.token_ids(texts, special_tokens=True, limit=max_tokens)
        vectors = self._mean_hidden(ids, 0, batch_size)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: Sequence[str], layer: int = -2) -> np.ndarray:
        if layer not in (-1, -2):
            raise ValueError("the ONNX encoder exports the last two hidden layers only")
        return self._mean_hidden(self.token_ids(texts), 0 if layer == -1 else 1)

    def _mean_hidden(self, ids: list[list[int]], output: int, batch_size: int = MAX_BATCH) -> np.ndarray:
        session = self.session

        def pooled(batch: dict[str, np.ndarray]) -> np.ndarray:
            states = session.run(None, batch)[output]
            return masked_mean(states, batch["attention_mask"].astype(np.float32))

        groups = batches([len(i) for i in ids], max_rows=batch_size)
        return mean_pool(ids, self.pad_id, self.hidden_size, groups, pooled, self.runs_at_once)


class FastReader:
    """torch_backend.Reader's interface on ONNX Runtime (CPU): the same windows (the Rust
    tokenizer with the truncation and stride transformers asks of it) and the same logits."""

    def __init__(self, model: ResolvedModel, folder: Path, precision: str):
        import tokenizers

        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        self.name = model.name
        self.precision = precision
        self.model_max_length = int(meta["max_tokens"])
        self.pad_id = int(meta["pad_token_id"])
        self.cls_id = meta.get("cls_token_id")
        self.question_first = bool(meta["question_first"])
        self.truncation_side = meta.get("truncation_side") or "right"
        self.window_names = list(meta["window_names"])
        self.input_names = list(meta["input_names"])
        self.tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        # runs side by side (windows, and questions: bertcli.ordered.in_order), threads for each
        self.runs_at_once, threads = run_layout()
        self._loader = _SessionLoader(folder / onnx_file(precision, READER), threads)
        # the questions read side by side share the tokenizer, whose truncation `encode` sets
        self._tokenizing = threading.Lock()

    @property
    def session(self):
        return self._loader.get()

    def encode(self, question: str, context: str, max_seq_len: int, doc_stride: int) -> list[Window]:
        """The windows torch_backend.Reader.encode makes (transformers' fast tokenizer calls
        the same Rust tokenizer with these settings)."""
        first, second = (question, context) if self.question_first else (context, question)
        with self._tokenizing:
            self.tokenizer.enable_truncation(
                max_seq_len, stride=doc_stride,
                strategy="only_second" if self.question_first else "only_first",
                direction=self.truncation_side)
            try:
                encoding = self.tokenizer.encode(first, second)
            finally:
                self.tokenizer.no_truncation()
        windows = []
        for enc in [encoding, *encoding.overflowing]:
            columns = {"input_ids": enc.ids, "attention_mask": enc.attention_mask,
                       "token_type_ids": enc.type_ids}
            windows.append(Window({k: columns[k] for k in self.window_names if k in columns},
                                  enc.sequence_ids, enc))
        return windows

    def question_tokens(self, question: str) -> int:
        with self._tokenizing:
            return len(self.tokenizer.encode(question, add_special_tokens=False).ids)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        with self._tokenizing:
            encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]

    def logits(self, windows: list[dict[str, list[int]]], batch_size: int = 1):
        """Start and end logits (float32 numpy) for each window, one window a run (no padding)."""
        session = self.session
        fills = {key: self.pad_id if key == "input_ids" else 0 for key in self.input_names}

        def forward(batch: dict[str, np.ndarray]):
            start, end = session.run(None, batch)
            return list(zip(start, end))

        lengths = [len(w["input_ids"]) for w in windows]
        padded = run_batches(windows, batches(lengths, max_tokens=None, max_rows=batch_size),
                             fills, forward, self.runs_at_once)
        return [(start[:n], end[:n]) for (start, end), n in zip(padded, lengths)]


# A `.prepare-*` folder older than this was left by a run that was killed: removed.
