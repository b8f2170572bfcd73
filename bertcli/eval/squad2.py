"""SQuAD 2.0's official metrics, and how well `ask`'s scores are calibrated.

As the official evaluate-v2.0.py: exact match and F1 over all questions (an unanswerable
question is right only when nothing is answered), HasAns and NoAns figures, and the best F1 any
no-answer threshold would give (`best_f1`, `best_threshold`: answer when the score is at least
it). Calibration: a score is meant as the probability that the answer is right (token F1 >= 0.5
against a reference); `calibration` bins the best guesses' scores (10 equal bins) and reports
the expected calibration error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .squad import Question, best_over, exact_match, f1_score

RIGHT_F1 = 0.5  # an answer with token F1 at least this is "right" for calibration


def squad2_metrics(questions: Sequence[Question], predictions: dict[str, str],
                   details: dict[str, tuple[str, float]]) -> dict[str, float]:
    """Percentages as the official script: exact, f1, HasAns_*, NoAns_*, best_f1."""
    has = [q for q in questions if q.answers]
    nil = [q for q in questions if not q.answers]
    out: dict[str, float] = {"questions": len(questions)}

    def mean(values: list[float]) -> float:
        return 100.0 * sum(values) / max(len(values), 1)

    em = {q.id: best_over(exact_match, predictions.get(q.id, ""), q.answers) for q in questions}
    f1 = {q.id: best_over(f1_score, predictions.get(q.id, ""), q.answers) for q in questions}
    out["exact"], out["f1"] = mean(list(em.values())), mean(list(f1.values()))
    if has:
        out["HasAns_exact"] = mean([em[q.id] for q in has])
        out["HasAns_f1"] = mean([f1[q.id] for q in has])
    if nil:
        out["NoAns_accuracy"] = mean([em[q.id] for q in nil])
    # best threshold over the best guesses' scores (answer when score >= threshold)
    gain = {q.id: (best_over(f1_score, details.get(q.id, ("", 0.0))[0], q.answers) if q.answers
                   else 0.0) for q in questions}
    score_at = {q.id: details.get(q.id, ("", 0.0))[1] for q in questions}
    unanswerable = {q.id for q in nil}
    total = float(len(nil))  # threshold above every score: nothing answered
    best, best_threshold = total, 1.01
    for qid in sorted(score_at, key=lambda i: -score_at[i]):
        # answering this question too: its F1 gained, or a right "no answer" lost
        total += gain[qid] - (1.0 if qid in unanswerable else 0.0)
        if total > best:
            best, best_threshold = total, score_at[qid]
    out["best_f1"] = 100.0 * best / max(len(questions), 1)
    out["best_threshold"] = round(best_threshold, 4)
    return out


def calibration(questions: Sequence[Question], details: dict[str, tuple[str, float]],
                bins: int = 10) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error of the best guesses' scores, and the reliability table."""
    pairs = []
    for q in questions:
        guess, score = details.get(q.id, ("", 0.0))
        right = bool(q.answers) and best_over(f1_score, guess, q.answers) >= RIGHT_F1
        pairs.append((score, float(right)))
    table: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(p, y) for p, y in pairs if lo <= p < hi or (b == bins - 1 and p == hi)]
        if not inside:
            continue
        conf = sum(p for p, _ in inside) / len(inside)
        acc = sum(y for _, y in inside) / len(inside)
        ece += len(inside) / len(pairs) * abs(conf - acc)
        table.append({"bin": f"{lo:.1f}-{hi:.1f}", "answers": len(inside),
                      "mean_score": round(conf, 3), "right": round(acc, 3)})
    return ece, table


def coverage(questions: Sequence[Question], predictions: dict[str, str]) -> tuple[float, float]:
    """Percent of questions answered, and percent of those answers that are right."""
    answered = [q for q in questions if predictions.get(q.id)]
    right = [q for q in answered if q.answers
             and best_over(f1_score, predictions[q.id], q.answers) >= RIGHT_F1]
    return (100.0 * len(answered) / max(len(questions), 1),
            100.0 * len(right) / max(len(answered), 1))
