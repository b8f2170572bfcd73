import json

import numpy as np
import pytest

from bertcli.errors import InputError
from bertcli.eval.rouge import bootstrap_interval, load_jsonl, rouge_scores, shuffle_sentences


def test_rouge_on_hand_checked_pair():
    # Reference "the cat sat on the mat" (6 tokens), summary "the cat sat" (3 tokens):
    # ROUGE-1 P = 3/3, R = 3/6, F1 = 2/3; ROUGE-2 bigrams 2/2 and 2/5, F1 = 4/7.
    scores = rouge_scores(["the cat sat"], ["the cat sat on the mat"])
    assert scores["rouge1"][0] == pytest.approx(100 * 2 / 3)
    assert scores["rouge2"][0] == pytest.approx(100 * 4 / 7)
    assert scores["rougeLsum"][0] == pytest.approx(100 * 2 / 3)


def test_bootstrap_interval_brackets_the_mean():
    values = np.arange(100, dtype=float)
    low, high = bootstrap_interval(values)
    assert low < values.mean() < high


def test_load_jsonl_validates(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"article": "A.", "highlights": "B."}) + "\n\n")
    assert len(load_jsonl(str(good))) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article": "A."}\n')
    with pytest.raises(InputError, match="bad.jsonl:1"):
        load_jsonl(str(bad))


def test_load_jsonl_reads_gzip(tmp_path):
    import gzip

    path = tmp_path / "records.jsonl.gz"
    rows = [{"article": f"A{i}.", "highlights": "B."} for i in range(3)]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(r) for r in rows) + "\n")
    assert load_jsonl(str(path)) == rows
    assert load_jsonl(str(path), limit=2) == rows[:2]
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="broken.jsonl.gz"):
        load_jsonl(str(broken))


def test_shuffle_keeps_the_sentences():
    text = "One is here. Two is there. Three is everywhere. Four is nowhere."
    shuffled = shuffle_sentences(text, seed=1)
    assert shuffled != text
    assert sorted(s.strip(".") for s in shuffled.split(". ")) == sorted(s.strip(".") for s in text.split(". "))


def test_eval_cli(run_cli, tmp_path):
    from ..conftest import cnndm_articles

    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in cnndm_articles(3)))
    proc = run_cli("eval", "summarize", data, "--baseline", "lead", "--format", "json")
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert result["articles"] == 3 and result["strategy"] == "learned"
    for m in ("rouge1", "rouge2", "rougeLsum"):
        e = result["metrics"][m]
        assert 0 < e["f1"] < 100 and e["ci95"][0] <= e["f1"] <= e["ci95"][1]
        assert 0 <= e["vs_baseline"]["win_rate"] <= 1
