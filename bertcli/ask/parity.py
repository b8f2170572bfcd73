"""transformers 4's `QuestionAnsweringPipeline`, reproduced without it.

`read_contexts` gives the pipeline's answers (max_seq_len 384, doc_stride 128, max_answer_len
15, word-aligned spans, duplicate answers' scores summed) on top of
`AutoModelForQuestionAnswering` and the fast tokenizer's offsets, so bertcli does not depend on
the pipeline that transformers 5.3 removed; tests/test_qa_parity.py holds it to that. `ask`
ranks with bertcli.ask.spans.read_passages instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .spans import MAX_ANSWER_LEN, _word_span, make_windows

# --- span decoding (numpy only; mirrors transformers.pipelines.question_answering) ---------


def decode_spans(start, end, topk: int, max_answer_len: int, undesired_tokens):
    if start.ndim == 1:
        start = start[None]
    if end.ndim == 1:
        end = end[None]
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    scores_flat = candidates.flatten()
    if topk == 1:
        idx_sort = np.array([np.argmax(scores_flat)])
    elif len(scores_flat) < topk:
        idx_sort = np.argsort(-scores_flat)
    else:
        idx = np.argpartition(-scores_flat, topk)[0:topk]
        idx_sort = idx[np.argsort(-scores_flat[idx])]
    starts, ends = np.unravel_index(idx_sort, candidates.shape)[1:]
    desired = np.isin(starts, undesired_tokens.nonzero()) & np.isin(ends, undesired_tokens.nonzero())
    starts, ends = starts[desired], ends[desired]
    return starts, ends, candidates[0, starts, ends]


def select_starts_ends(start, end, p_mask, attention_mask, min_null_score, top_k,
                       handle_impossible_answer, max_answer_len):
    """Softmax over the context tokens of one window, then the best spans."""
    undesired_tokens = np.abs(np.array(p_mask) - 1)
    if attention_mask is not None:
        undesired_tokens = undesired_tokens & attention_mask
    undesired_mask = undesired_tokens == 0.0
    start = np.where(undesired_mask, -10000.0, start)[None]
    end = np.where(undesired_mask, -10000.0, end)[None]
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, (start[0, 0] * end[0, 0]).item())
    start[0, 0] = end[0, 0] = 0.0
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, undesired_tokens)
    return starts, ends, scores, min_null_score


def read_contexts(
    reader,
    question: str,
    contexts: Sequence[tuple[int, str]],
    top_k: int = 1,
    max_answer_len: int = MAX_ANSWER_LEN,
    max_seq_len: int | None = None,
    doc_stride: int | None = None,
    handle_impossible_answer: bool = False,
) -> tuple[list[dict], float]:
    """transformers 4's question-answering pipeline, reproduced (tests/test_qa_parity.py).

    Returns the pipeline's answer dicts (`score`, `start`, `end`, `answer`; offsets shifted into
    the document), best first, at most `top_k` plus the null answer when
    `handle_impossible_answer` (answer "" with start = end = 0), and the null score. Its
    scores are normalised per window, so they do not compare across windows: `ask` ranks
    with `read_passages` instead.
    """
    sequence_index = 1 if reader.question_first else 0
    windows = make_windows(reader, question, contexts, max_seq_len, doc_stride)
    logits = reader.logits([w["inputs"] for w in windows])
    pre_topk = top_k * 2 + 10
    min_null_score = 1000000.0
    answers: list[dict] = []
    for window, (start_logits, end_logits) in zip(windows, logits):
        attention = window["inputs"].get("attention_mask")
        attention = np.array(attention) if attention is not None else None
        starts, ends, scores, min_null_score = select_starts_ends(
            start_logits, end_logits, window["p_mask"], attention, min_null_score, pre_topk,
            handle_impossible_answer, max_answer_len,
        )
        context, offset = window["context"], window["offset"]
        for s, e, score in zip(starts, ends, scores):
            start_index, end_index = _word_span(window["encoding"], int(s), int(e), sequence_index)
            target = context[start_index:end_index]
            same = next((a for a in answers if a["answer"].lower() == target.lower()), None)
            if same is not None:
                same["score"] += score.item()
            else:
                answers.append({"score": score.item(), "start": start_index + offset,
                                "end": end_index + offset, "answer": target})
    if handle_impossible_answer:
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
    answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
    return answers, min_null_score
