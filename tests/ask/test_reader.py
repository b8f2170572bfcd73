"""bertcli's bundled reader, its int8 storage, and `bertcli eval ask` with the SQuAD metric."""

from __future__ import annotations

import json

import pytest

from bertcli.eval import squad
from bertcli.models import BUNDLED_READER, bundled_reader

from ..conftest import DATA, EXAMPLE

# --- the official SQuAD v1.1 metric, hand-checked -------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("The  Cat, sat!", "cat sat"),
    ("an apple a day", "apple day"),
    ("Theory of the State", "theory of state"),  # articles go only as whole words
    ("  ", ""),
])
def test_normalize_answer(text, expected):
    assert squad.normalize_answer(text) == expected


def test_f1_and_exact_match_by_hand():
    # "cat sat" vs "cat sat down": precision 1, recall 2/3 -> F1 0.8
    assert squad.f1_score("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert squad.exact_match("The Cat sat.", "cat sat") == 1.0
    assert squad.f1_score("dog", "cat") == 0.0
    # max over the reference answers
    assert squad.best_over(squad.f1_score, "Paris", ["France", "in Paris"]) == pytest.approx(2 / 3)
    # SQuAD 2.0: an unanswerable question is right only when nothing is predicted
    assert squad.best_over(squad.exact_match, "", []) == 1.0
    assert squad.best_over(squad.exact_match, "Paris", []) == 0.0


def test_score_counts_missing_predictions_as_wrong():
    qs = [squad.Question("a", "t", "ctx", "q1", ("Paris",), (0,)),
          squad.Question("b", "t", "ctx", "q2", ("ten apples",), (0,))]
    result = squad.score(qs, {"a": "paris", "c": "x"})
    assert result == {"exact_match": 50.0, "f1": 50.0, "questions": 2}
    result = squad.score(qs, {"a": "Rome", "b": "apples"})  # b: P 1, R 1/2 -> F1 2/3
    assert result["exact_match"] == 0.0 and result["f1"] == pytest.approx(100 / 3)


# --- int8 storage ---------------------------------------------------------------------------


def test_int8_rows_roundtrip_within_half_a_step():
    import torch

    from bertcli.backends.torch_backend import SCALE_SUFFIX, dequantize_rows, quantize_rows

    torch.manual_seed(0)
    state = {"w": torch.randn(64, 128) * torch.linspace(0.01, 3, 64)[:, None],
             "b": torch.randn(128), "ids": torch.arange(5)}
    stored = quantize_rows(state)
    assert stored["w"].dtype == torch.int8 and stored["w" + SCALE_SUFFIX].shape == (64,)
    assert stored["b"].dtype == torch.float16 and stored["ids"].dtype == torch.int64
    back = dequantize_rows(stored)
    assert set(back) == {"w", "b", "ids"}
    step = stored["w" + SCALE_SUFFIX].float()[:, None]
    # half a quantization step, plus float16 rounding of the scale itself
    assert torch.all((back["w"] - state["w"]).abs() <= step * 0.5 + state["w"].abs() * 1e-3)
    assert torch.equal(back["ids"], state["ids"])


# --- the bundled reader ---------------------------------------------------------------------


def test_bundled_reader_is_in_the_package():
    model = bundled_reader()
    assert model is not None and model.name == BUNDLED_READER and model.origin == "bundled"
    assert (model.path / "model.int8.safetensors").stat().st_size < 30_000_000


@pytest.fixture(scope="module")
def offline_asker():
    from bertcli.ask.asker import Asker

    notices = []
    asker = Asker(device="cpu", offline=True, notice=notices.append)
    return asker, notices


def test_without_the_hub_reader_ask_falls_back_to_the_bundled_one(offline_asker):
    asker, notices = offline_asker
    assert asker.mode == "reader" and asker.model_name == BUNDLED_READER
    fallbacks = [n for n in notices if "preparing a fast CPU copy" not in n]  # once per cache
    assert len(fallbacks) == 1 and BUNDLED_READER in fallbacks[0]
    assert "bertcli models pull distilbert-base-cased-distilled-squad" in fallbacks[0]


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "squad1.1-dev.json").exists(), reason="needs ../shared/data")
def test_bundled_reader_answers_real_squad_questions(offline_asker):
    asker, _ = offline_asker
    questions = squad.load_questions(DATA / "squad1.1-dev.json")[:80]
    predictions, refused = squad.predict(asker, questions, abstain=False)
    result = squad.score(questions, predictions)
    # Measured on the whole file: EM 74 / F1 82 (README). A broken reader scores near 0.
    assert refused == 0
    assert result["exact_match"] >= 60 and result["f1"] >= 70, result


def test_bundled_reader_offsets_and_context_on_the_example(offline_asker):
    asker, _ = offline_asker
    text = EXAMPLE.read_text(encoding="utf-8")
    [result] = asker.ask(text, ["Who was the Norse leader who swore fealty to King Charles III?"],
                         top_k=3)
    assert result.answers, "the bundled reader should answer this"
    assert "Rollo" in result.answers[0].text
    for a in result.answers:
        assert text[a.start:a.end] == a.text
        assert a.context_start <= a.start and a.end <= a.context_start + len(a.context)


# --- the CLI --------------------------------------------------------------------------------


def test_cli_ask_offline_uses_the_bundled_reader(run_cli):
    proc = run_cli("ask", "Who was the Norse leader who agreed to swear fealty to King Charles III?",
                   EXAMPLE, "--format", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert result["mode"] == "reader" and result["model"] == BUNDLED_READER
    assert "Rollo" in result["answers"][0]["text"]
    notices = [line for line in proc.err.splitlines() if line.strip()]
    assert len(notices) == 1 and BUNDLED_READER in notices[0]


def _tiny_squad(tmp_path):
    data = {"version": "1.1", "data": [{"title": "T", "paragraphs": [
        {"context": "The capital of France is Paris. The Loire is the longest river in France.",
         "qas": [{"id": "q1", "question": "What is the capital of France?",
                  "answers": [{"text": "Paris", "answer_start": 25}]},
                 {"id": "q2", "question": "What is the longest river in France?",
                  "answers": [{"text": "The Loire", "answer_start": 32},
                              {"text": "Loire river", "answer_start": 36}]}]}]}]}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, data


def test_cli_eval_ask_scores_and_writes_predictions(run_cli, tmp_path):
    path, data = _tiny_squad(tmp_path)
    out = tmp_path / "pred.json"
    proc = run_cli("eval", "ask", path, "--predictions", out, "--format", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    predictions = json.loads(out.read_text(encoding="utf-8"))
    assert set(predictions) == {"q1", "q2"} and result["questions"] == 2
    assert result["model"] == BUNDLED_READER and result["abstain"] is False
    # The printed scores are the official metric over the written predictions.
    qs = list(squad.iter_questions(data["data"]))
    expected = squad.score(qs, predictions)
    assert result["exact_match"] == round(expected["exact_match"], 2)
    assert result["f1"] == round(expected["f1"], 2)
    assert squad.normalize_answer(predictions["q1"]) == "paris"


def test_cli_eval_ask_bad_inputs(run_cli, tmp_path):
    proc = run_cli("eval", "ask", tmp_path / "missing.json")
    assert proc.returncode == 3 and "no such file" in proc.err and "Traceback" not in proc.err
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}', encoding="utf-8")
    proc = run_cli("eval", "ask", bad)
    assert proc.returncode == 3 and "not a SQuAD JSON file" in proc.err
    assert len(proc.err.strip().splitlines()) == 1
    path, _ = _tiny_squad(tmp_path)
    out = tmp_path / "no-such-dir" / "pred.json"
    proc = run_cli("eval", "ask", path, "--predictions", out)
    assert proc.returncode == 3 and "cannot write" in proc.err and not out.exists()
