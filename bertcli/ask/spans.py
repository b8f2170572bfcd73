"""Reading spans: the reader's windows over passages and the choice of answer spans.

`read_passages` is what `ask` uses: one ranking across every window and passage read. (The
per-window ranking of transformers' pipeline, reproduced for the parity tests, is in
bertcli.ask.parity.)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..backends.base import Reader

MAX_SEQ_LEN = 384
DOC_STRIDE = 128
MAX_ANSWER_LEN = 15
# read_passages(sure=...): contexts read per step, best retrieval rank first.
READ_STEP = 3


def _word_span(enc, s: int, e: int, sequence_index: int) -> tuple[int, int]:
    """Widen a token span to whole words, as the pipeline's align_to_words does."""
    try:
        start_word = enc.token_to_word(s)
        end_word = enc.token_to_word(e)
        return (enc.word_to_chars(start_word, sequence_index=sequence_index)[0],
                enc.word_to_chars(end_word, sequence_index=sequence_index)[1])
    except Exception:  # tokenizers without words: keep to offsets
        return enc.offsets[s][0], enc.offsets[e][1]


def tidy_span(context: str, start: int, end: int) -> tuple[int, int]:
    """A word span as a reader should show it: without the whitespace that some sentencepiece
    tokenizers count into a word (Metaspace without WhitespaceSplit, as transformers converts
    an XLM-R `sentencepiece.bpe.model`: " Paris"), and with the combining marks after its last
    character (NFKC composes "e" + U+0301 and the offsets then stop before the accent)."""
    while start < end and context[start].isspace():
        start += 1
    while end > start and context[end - 1].isspace():
        end -= 1
    while start < end < len(context) and unicodedata.combining(context[end]):
        end += 1
    return start, end


def window_tokens(reader: Reader) -> int:
    """Tokens in one of the reader's windows: the pipeline's 384, or less if the model takes less."""
    return min(reader.model_max_length, MAX_SEQ_LEN)


def make_windows(reader: Reader, question: str, contexts: Sequence[tuple[int, str]],
                 max_seq_len: int | None = None, doc_stride: int | None = None) -> list[dict]:
    """The reader's windows over `contexts` (pairs of offset into the document, text), exactly
    as the pipeline makes them: inputs, p_mask, the tokenizer's encoding, which context."""
    if max_seq_len is None:
        max_seq_len = window_tokens(reader)
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, DOC_STRIDE)
    question_first = reader.question_first
    windows: list[dict] = []
    for number, (offset, context) in enumerate(contexts):
        for window in reader.encode(question, context, max_seq_len, doc_stride):
            ids = window.inputs["input_ids"]
            p_mask = [tok != 1 if question_first else 0 for tok in window.sequence_ids]
            if reader.cls_id is not None:  # the CLS token stays a candidate: it marks "no answer"
                for i in np.nonzero(np.array(ids) == reader.cls_id)[0]:
                    p_mask[i] = 0
            windows.append({"inputs": window.inputs, "p_mask": p_mask, "encoding": window.encoding,
                            "offset": offset, "context": context, "context_index": number})
    return windows


# --- document-level selection: one normalisation over everything read ----------------------


@dataclass(frozen=True)
class Span:
    """A candidate answer: character offsets into the document and its probability."""

    start: int
    end: int
    text: str
    score: float
    # What the answerability check reads (bertcli.verify): the span's start + end logit over
    # its window's "no answer" logit (no prior), the context it was read in (an index into
    # `contexts`), the probability left on "no answer", and how many windows were read.
    margin: float = 0.0
    context_index: int = 0
    null: float = 0.0
    windows: int = 1


def _span_logits(start: np.ndarray, end: np.ndarray, allowed: np.ndarray,
                 max_answer_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every span of allowed tokens up to `max_answer_len` long: (starts, ends, start + end logit)."""
    n = len(start)
    starts, ends, values = [], [], []
    for length in range(min(max_answer_len, n)):
        ok = allowed[: n - length] & allowed[length:]
        i = np.nonzero(ok)[0]
        starts.append(i)
        ends.append(i + length)
        values.append(start[i] + end[i + length])
    if not starts:
        empty = np.zeros(0)
        return empty.astype(int), empty.astype(int), empty
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(values)


def _logsumexp(values: np.ndarray) -> float:
    if values.size == 0:
        return -np.inf
    top = float(values.max())
    return top + float(np.log(np.exp(values - top).sum()))


def read_passages(
    reader: Reader,
    question: str,
    contexts: Sequence[tuple[int, str]],
    top_k: int = 1,
    max_answer_len: int = MAX_ANSWER_LEN,
    abstain: bool = True,
    priors: Sequence[float] | None = None,
    sure: float | None = None,
    step: int = READ_STEP,
) -> list[Span]:
    """The best `top_k` distinct answers to `question` in `contexts`, ranked across all of them.

    Each window's spans are scored by start + end logit relative to that window's own
    no-answer logit ([CLS] start + end): how much more the reader believes in the span than in
    "there is no answer here". That difference compares across windows and passages, unlike
    the pipeline's per-window softmax (a window without the answer still offers a confident
    span there). `score` is a softmax over every span of every window read plus one "no answer"
    (value 0): the reader's probability that this span is the answer, in [0, 1]; spans of the
    same text add up, as in the pipeline. With `abstain`, an empty list means that no window
    preferred a span to "no answer". Answers never overlap one another. `priors` holds a log
    prior per context (the retriever's rank: `rank_prior`), added to its spans' values.
    On a single window the ranking of spans is the pipeline's (same top answer). Spans are
    widened to whole words as in the pipeline, then tidied (`tidy_span`): never an edge of
    whitespace, never an accent cut off.

    With `sure` (and `priors`), contexts are read `step` at a time, best prior first, and
    reading stops once a span offered so far has a value (logits over "no answer", plus
    prior) of at least `sure`: the reader is then sure enough that the passages ranked lower
    would not change the top answer (`SURE_MARGIN`); `score` is then a softmax over the
    windows read.
    """
    sequence_index = 1 if reader.question_first else 0
    per_window = top_k * 2 + 10  # the pipeline's candidates per window
    windows = make_windows(reader, question, contexts)
    order = list(range(len(contexts)))
    if sure is not None and priors is not None:
        order.sort(key=lambda i: -priors[i])  # stable: equal priors keep document order
        step = max(step, 1)
        stages = [set(order[i:i + step]) for i in range(0, len(order), step)]
    else:
        stages = [set(order)]
    totals: list[float] = [0.0]  # log-sum-exp terms; 0.0 is "no answer"
    # (start, end) in the document -> {window: values of the token spans that widen to it}
    candidates: dict[tuple[int, int], dict[int, list[float]]] = {}
    best_offered = -np.inf
    read = 0
    for stage in stages:
        numbers = [n for n, w in enumerate(windows) if w["context_index"] in stage]
        logits = reader.logits([windows[n]["inputs"] for n in numbers])
        best_offered = max(best_offered, _score_windows(
            [(n, windows[n], lg) for n, lg in zip(numbers, logits)], totals, candidates,
            per_window, max_answer_len, abstain, priors, sequence_index))
        read += len(numbers)
        if sure is not None and best_offered >= sure:
            break
    context_of = [w["context_index"] for w in windows]
    return _choose(candidates, totals, contexts, top_k, context_of, priors, read)


def _score_windows(read: Sequence[tuple[int, dict, tuple[np.ndarray, np.ndarray]]],
                   totals: list[float], candidates: dict[tuple[int, int], dict[int, list[float]]],
                   per_window: int, max_answer_len: int, abstain: bool,
                   priors: Sequence[float] | None, sequence_index: int) -> float:
    """Add the spans of the windows `read` (number, window, logits) to `totals` and
    `candidates` (read_passages); the best value of a span offered, -inf if none."""
    best_offered = -np.inf
    for number, window, (start_logits, end_logits) in read:
        allowed = np.array(window["p_mask"]) == 0
        attention = window["inputs"].get("attention_mask")
        if attention is not None:
            allowed &= np.array(attention) == 1
        null = float(start_logits[0] + end_logits[0])
        allowed[0] = False  # [CLS] is "no answer", not a span
        starts, ends, values = _span_logits(start_logits, end_logits, allowed, max_answer_len)
        if values.size == 0:
            continue
        values = values - null
        prior = priors[window["context_index"]] if priors is not None else 0.0
        best = np.argsort(-values, kind="stable")[:per_window]
        if abstain:  # spans this window likes less than "no answer" are not offered
            best = best[values[best] > 0]
        values = values + prior
        totals.append(_logsumexp(values))
        if best.size:
            best_offered = max(best_offered, float(values[best[0]]))
        for i in best:
            a, b = _word_span(window["encoding"], int(starts[i]), int(ends[i]), sequence_index)
            a, b = tidy_span(window["context"], a, b)
            if a == b:
                continue  # whitespace only
            seen = candidates.setdefault((a + window["offset"], b + window["offset"]), {})
            seen.setdefault(number, []).append(float(values[i]))
    return best_offered


def _choose(candidates: dict[tuple[int, int], dict[int, list[float]]], totals: list[float],
            contexts: Sequence[tuple[int, str]], top_k: int, context_of: Sequence[int],
            priors: Sequence[float] | None, read: int) -> list[Span]:
    """read_passages' answers from its candidates: one softmax over everything read."""
    if not candidates:
        return []
    norm = _logsumexp(np.array(totals))
    null = float(np.exp(-norm))
    by_text: dict[str, dict] = {}
    text_of = {}
    for (a, b), readings in candidates.items():
        # Token spans that widen to the same words add up (as in the pipeline); overlapping
        # windows see the same span twice: keep its best reading, not both.
        p = max(float(np.exp(np.array(v) - norm).sum()) for v in readings.values())
        window, value = max(((n, max(v)) for n, v in readings.items()), key=lambda nv: nv[1])
        where = context_of[window]
        text = _text_at(contexts, a, b)
        text_of[(a, b)] = text
        key = text.lower()
        entry = by_text.get(key)
        if entry is None:
            by_text[key] = {"span": (a, b), "best": value, "score": p, "context": where}
        else:
            entry["score"] += p
            if value > entry["best"]:
                entry["span"], entry["best"], entry["context"] = (a, b), value, where
    ranked = sorted(by_text.values(), key=lambda e: (-e["score"], e["span"]))
    chosen: list[Span] = []
    for entry in ranked:
        a, b = entry["span"]
        if any(a < c.end and c.start < b for c in chosen):
            continue  # overlaps (or contains) a better answer
        where = entry["context"]
        margin = entry["best"] - (priors[where] if priors is not None else 0.0)
        chosen.append(Span(a, b, text_of[(a, b)], min(entry["score"], 1.0), margin, where, null,
                           read))
        if len(chosen) == top_k:
            break
    return chosen


def rank_prior(rank: int) -> float:
    """Log prior of a passage the retriever ranked `rank` (0 = best): probability ∝ 1 / (1 + rank).

    The reader's own evidence decides between passages it is sure of, and the retriever's
    order decides among the rest: on held-out training articles this gave +3 F1 over reader
    scores alone (benchmarks/ask_selection.py); weights from 0.5 to 5 were within a point.
    """
    return -float(np.log1p(rank))


def _text_at(contexts: Sequence[tuple[int, str]], start: int, end: int) -> str:
    for offset, context in contexts:
        if offset <= start and end <= offset + len(context):
            return context[start - offset:end - offset]
    raise ValueError(f"span {start}:{end} lies in no context")
