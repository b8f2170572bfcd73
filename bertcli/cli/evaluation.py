"""`eval summarize` and `eval ask`: quality on labelled data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    pass

from ..errors import (
    InputError,
    UsageError,
)
from .core import check_output_path, eval_app, run_guarded
from .options import (
    DEVICE_OPT,
    FORMAT_OPT,
    MIN_SCORE_OPT,
    MODEL_HELP,
    OFFLINE_OPT,
    PRECISION_OPT,
    QUIET_OPT,
    READER_PRECISION_OPT,
    VERBOSE_OPT,
    Device,
    Format,
    Precision,
    Strategy,
)


@eval_app.command("summarize")
def eval_summarize(
    data: str = typer.Argument(..., help="JSON Lines with \"article\" and \"highlights\" fields."),
    strategy: Strategy = typer.Option(Strategy.learned, "--strategy", "-s", help="Strategy to score."),
    baseline: Strategy | None = typer.Option(
        None, "--baseline", help="Also score this strategy; report win rate."
    ),
    num_sentences: int = typer.Option(3, "--num-sentences", "-n", help="Sentences per summary."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N records."),
    shuffle: int | None = typer.Option(
        None, "--shuffle", help="Shuffle each article's sentences with this seed first."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    precision: Precision = PRECISION_OPT,
    offline: bool = OFFLINE_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """ROUGE-1/2/Lsum F1 (rouge-score, stemming) of a strategy against reference highlights."""

    def body() -> int:
        from ..eval.rouge import METRICS, EvalReport, evaluate_summaries, load_jsonl
        from ..summarize.summarizer import Summarizer, sentence_count

        sentence_count(10, num_sentences, None)
        if limit is not None and limit < 1:
            raise UsageError(f"--limit must be at least 1, got {limit}")
        records = load_jsonl(data, limit)
        summarizer = Summarizer(model=model, device=device.value, offline=offline,
                                precision=precision.value, strategy=strategy.value)
        report = EvalReport(strategy.value, summarizer.model_name, len(records),
                            evaluate_summaries(summarizer, records, strategy.value, num_sentences, shuffle))
        if baseline:
            report.baseline = baseline.value
            report.baseline_scores = evaluate_summaries(summarizer, records, baseline.value,
                                                        num_sentences, shuffle)
        result = report.summary()
        from ..render import Sink

        lines = []
        for m in METRICS:
            e = result["metrics"][m]
            line = f"{m:10} {e['f1']:6.2f}  [{e['ci95'][0]:.2f}, {e['ci95'][1]:.2f}]"
            if "vs_baseline" in e:
                v = e["vs_baseline"]
                line += (f"   {v['baseline']} {v['baseline_f1']:6.2f}  diff {v['difference']:+.2f} "
                         f"[{v['difference_ci95'][0]:+.2f}, {v['difference_ci95'][1]:+.2f}]  "
                         f"wins {100 * v['win_rate']:.0f}% losses {100 * v['loss_rate']:.0f}%")
            lines.append(line)
        head = f"{strategy.value} · {result['model']} · {result['articles']} articles"
        head += f" · shuffled (seed {shuffle})" if shuffle is not None else ""
        Sink(fmt.value).record(result, lines, title=head)
        return 0

    run_guarded(body, verbose)


@eval_app.command("ask")
def eval_ask(
    data: str = typer.Argument(..., help="SQuAD-layout JSON file (v1.1 or v2.0; .gz allowed)."),
    model: str | None = typer.Option(
        None, "--model", "-m", help=MODEL_HELP + " (default: as for ask)"
    ),
    whole_article: bool = typer.Option(
        False, "--whole-article", help="Ask each question of its whole article (paragraphs "
        "joined by a blank line) through ask's own path, instead of its own paragraph."
    ),
    passages: int = typer.Option(10, "--passages", help="With --whole-article: passages read."),
    full: bool = typer.Option(False, "--full", help="With --whole-article: read the whole article."),
    predictions_file: str | None = typer.Option(
        None, "--predictions", help="Write {question id: answer text} here (official format)."
    ),
    abstain: bool | None = typer.Option(
        None, "--abstain/--no-abstain",
        help="Let the reader answer nothing (default: only for SQuAD 2.0 files).",
    ),
    min_score: float | None = MIN_SCORE_OPT,
    max_answer_len: int = typer.Option(15, "--max-answer-len", help="Longest answer, in tokens."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N questions."),
    per_article: int | None = typer.Option(
        None, "--per-article", help="Only N questions of each article, spread over it."
    ),
    fmt: Format = FORMAT_OPT,
    device: Device = DEVICE_OPT,
    precision: Precision = READER_PRECISION_OPT,
    offline: bool = OFFLINE_OPT,
    verbose: bool = VERBOSE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """SQuAD exact match and F1 of a reader: each question asked against its own paragraph,
    or with --whole-article against its whole article, as a user asks a document."""

    def body() -> int:
        import json
        import time

        from ..ask.asker import Asker, check_options
        from ..eval import squad
        from ..eval.squad2 import calibration, coverage, squad2_metrics

        for name, value in (("--limit", limit), ("--per-article", per_article)):
            if value is not None and value < 1:
                raise UsageError(f"{name} must be at least 1, got {value}")
        check_options(1, max_answer_len, passages, min_score)
        check_output_path(predictions_file)
        articles = squad.load_articles(data)
        questions = list(squad.iter_questions(articles))
        if per_article:
            questions = squad.spread(articles, per_article)
        questions = questions[:limit]
        if not questions:
            raise InputError(f"{data}: holds no questions")
        allow_null = squad.has_unanswerable(articles) if abstain is None else abstain
        details: dict[str, tuple[str, float]] = {}
        began = time.perf_counter()
        asker = Asker(model=model, device=device.value, offline=offline,
                      precision=precision.value)
        if asker.reader is None:
            raise UsageError("eval ask needs a reader; none could be loaded")
        if whole_article:
            keep = {q.id for q in questions}
            whole = [squad.Article(a.title, a.text, tuple(q for q in a.questions if q.id in keep))
                     for a in squad.whole_articles(articles)]
            whole = [a for a in whole if a.questions]
            predictions, refused = squad.predict_whole(asker, whole, allow_null, max_answer_len,
                                                       passages=passages, full=full,
                                                       details=details, min_score=min_score)
        else:
            predictions, refused = squad.predict(asker, questions, allow_null, max_answer_len,
                                                 details=details, min_score=min_score)
        seconds = time.perf_counter() - began
        scores = squad.score(questions, predictions)
        unanswerable = [q for q in questions if not q.answers]
        answerable = [q for q in questions if q.answers]
        if predictions_file:
            from ..files import write_atomically

            write_atomically(predictions_file, json.dumps(predictions, ensure_ascii=False, indent=1) + "\n")
        result: dict[str, Any] = {"model": asker.model_name, "data": data, "questions": len(questions),
                  "mode": "whole article" if whole_article else "paragraph",
                  "exact_match": round(scores["exact_match"], 2), "f1": round(scores["f1"], 2),
                  "abstain": allow_null, "refused": refused,
                  "seconds": round(seconds, 1),
                  "seconds_per_question": round(seconds / len(questions), 3)}
        if whole_article:
            result["passages"] = "all" if full else passages
        if unanswerable and answerable:
            answered = squad.score(answerable, predictions)
            result["answerable_f1"] = round(answered["f1"], 2)
            result["answerable_exact_match"] = round(answered["exact_match"], 2)
            result["answerable_overlap"] = round(squad.overlap_rate(answerable, predictions), 2)
        if unanswerable:
            abstained = sum(1 for q in unanswerable if not predictions.get(q.id))
            result["unanswerable_abstained"] = round(100.0 * abstained / len(unanswerable), 2)
            official = squad2_metrics(questions, predictions, details)
            result["squad2"] = {k: round(v, 2) if isinstance(v, float) else v
                                for k, v in official.items()}
        covered, covered_right = coverage(questions, predictions)
        ece, table = calibration(questions, details)
        result.update({"coverage": round(covered, 2), "accuracy_answered": round(covered_right, 2),
                       "ece": round(ece, 4), "reliability": table,
                       "threshold": min_score if min_score is not None else (
                           asker.verifier.threshold if asker.verifier and allow_null else None)})
        lines = [f"exact match {result['exact_match']:6.2f}", f"F1          {result['f1']:6.2f}"]
        if "answerable_f1" in result:
            lines.append(f"answerable: exact match {result['answerable_exact_match']:.2f}, F1 "
                         f"{result['answerable_f1']:.2f}, top answer overlaps gold "
                         f"{result['answerable_overlap']:.1f}%")
        if "unanswerable_abstained" in result:
            lines.append(f"unanswerable: abstained on {result['unanswerable_abstained']:.1f}%")
        if "squad2" in result:
            o = result["squad2"]
            lines.append(f"SQuAD 2.0: EM {o['exact']:.2f}, F1 {o['f1']:.2f}, HasAns F1 "
                         f"{o.get('HasAns_f1', 0):.2f}, NoAns accuracy "
                         f"{o.get('NoAns_accuracy', 0):.1f}%, best F1 {o['best_f1']:.2f} "
                         f"(threshold {o['best_threshold']})")
        lines.append(f"answered {result['coverage']:.1f}% of the questions, "
                     f"{result['accuracy_answered']:.1f}% of them right (F1 >= 0.5); "
                     f"ECE {result['ece']:.3f} (10 bins)")
        lines.append(f"{result['seconds_per_question']:.3f} s per question ({result['seconds']} s)")
        if refused:
            lines.append(f"({refused} questions too long for the reader, counted wrong)")
        title = (f"{result['model']} · {data} · {result['questions']} questions · {result['mode']}"
                 + (" · abstention on" if allow_null else ""))
        from ..render import Sink

        Sink(fmt.value).record(result, lines, title=title)
        return 0

    run_guarded(body, verbose)
