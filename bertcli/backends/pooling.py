"""The one batching routine of both backends, and the masked mean they pool with. numpy only.

Sequences are sorted by length and grouped (`batches`), each group padded into int64 arrays
(`run_batches`), and the model's results handed back in input order. The torch backend turns
the arrays into tensors; ONNX Runtime takes them as they are.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

# Sentences per forward pass are capped by padded tokens, not by count: length-sorted batches
# of ~200 tokens waste little on padding and keep activations in cache (1.5x faster than 32
# sentences a batch on CNN/DailyMail).
BATCH_TOKENS = 192
MAX_BATCH = 64
# Sequences a batch may hold whatever the token cap: long ones (a retrieval passage runs to 256
# tokens) went one per forward pass under it; four a pass embed a passage in 7.5 ms instead of
# 9.2 on 2 cores (benchmarks/passage_batching.py). Sentences of up to 48 tokens batch as before.
MIN_BATCH = 4

Batch = dict[str, np.ndarray]


class Window(NamedTuple):
    """One reader window over a question and a context, as both backends' `encode` make it:
    the model inputs, which sequence each token belongs to (None: special token), and the
    tokenizer's `tokenizers.Encoding` (word and character offsets)."""

    inputs: dict[str, list[int]]
    sequence_ids: list[int | None]
    encoding: Any


def batches(lengths: Sequence[int], max_tokens: int | None = BATCH_TOKENS,
            max_rows: int = MAX_BATCH) -> list[list[int]]:
    """Indices grouped for forward passes: sorted by length, each group at most `max_rows`
    sequences, and past MIN_BATCH sequences at most `max_tokens` tokens once padded to its
    longest (None: no cap on tokens)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:  # ascending, so the newcomer sets the padded width
        if current and ((max_tokens is not None and len(current) >= MIN_BATCH
                         and (len(current) + 1) * lengths[i] > max_tokens)
                        or len(current) >= max_rows):
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def run_batches(rows: Sequence[Mapping[str, Sequence[int]]], groups: Sequence[Sequence[int]],
                fills: Mapping[str, int], forward: Callable[[Batch], Any],
                workers: int = 1) -> list[Any]:
    """`forward` over each group of `rows`, padded; its results for each row, in input order.

    Each row maps input names (`input_ids` among them) to token-level ints. A batch holds, for
    each name of `fills` that the group's rows have, an int64 array [rows, longest input_ids]
    padded with that name's fill value. `forward(batch)` returns one result per row of the
    batch, in the batch's order. With `workers` > 1, that many groups run at once on threads
    (`forward` must be thread-safe: an ONNX Runtime session is).
    """
    results: list[Any] = [None] * len(rows)

    def run(chunk: Sequence[int]) -> None:
        first = rows[chunk[0]]
        width = max(len(rows[i]["input_ids"]) for i in chunk)
        batch: Batch = {}
        for key, fill in fills.items():
            if key not in first:
                continue
            array = np.full((len(chunk), width), fill, dtype=np.int64)
            for row, i in enumerate(chunk):
                seq = rows[i][key]
                array[row, : len(seq)] = seq
            batch[key] = array
        for i, result in zip(chunk, forward(batch)):
            results[i] = result

    if workers > 1 and len(groups) > 1:
        list(_pool(workers).map(run, groups))  # list(): re-raises a worker's error here
    else:
        for chunk in groups:
            run(chunk)
    return results


_pools: dict[int, Any] = {}
_making_pool = threading.Lock()


def _forget_pools() -> None:
    """In a forked child: the parent's pool threads are not there, so its pools would hang."""
    global _making_pool
    _pools.clear()
    _making_pool = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(workers: int):
    """The process's thread pool of that many workers for model runs, made once."""
    with _making_pool:
        if workers not in _pools:
            from concurrent.futures import ThreadPoolExecutor

            _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="bertcli-run")
        return _pools[workers]


def masked_mean(states, mask):
    """The mean over each row's unmasked tokens of `states` [rows, tokens, features]; `mask`
    [rows, tokens] in float32. numpy arrays or torch tensors alike (no conversion, so each
    backend averages in its own arithmetic)."""
    weights = mask[:, :, None]
    return (states * weights).sum(1) / weights.sum(1)


def mean_pool(ids: Sequence[Sequence[int]], pad_id: int, size: int, groups: Sequence[Sequence[int]],
              pooled: Callable[[Batch], np.ndarray], workers: int = 1) -> np.ndarray:
    """One row per token sequence, in input order: `pooled(batch)` of the group it ran in.

    A batch holds `input_ids` (padded with `pad_id`) and `attention_mask`; `pooled` runs the
    model and returns `masked_mean` of the hidden states as a float32 array [rows, size].
    """
    out = np.zeros((len(ids), size), dtype=np.float32)
    rows = [{"input_ids": seq, "attention_mask": [1] * len(seq)} for seq in ids]
    for i, row in enumerate(run_batches(rows, groups, {"input_ids": pad_id, "attention_mask": 0},
                                        pooled, workers)):
        out[i] = row
    return out
