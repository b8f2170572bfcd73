import numpy as np
import pytest

from bertcli.errors import UsageError
from bertcli.summarize.summarizer import Summarizer, cluster_select, sentence_count

from ..conftest import cnndm_articles


def test_cluster_select_returns_exactly_k_even_with_duplicate_rows():
    rng = np.random.default_rng(0)
    features = np.repeat(rng.normal(size=(3, 8)), 4, axis=0)  # 12 rows, 3 distinct
    for k in range(1, 13):
        picked = cluster_select(features, k)
        assert len(picked) == k == len(set(picked))
        assert picked == sorted(picked) and picked[0] == 0


def test_cluster_select_matches_bert_extractive_summarizer():
    ClusterFeatures = pytest.importorskip("summarizer.cluster_features").ClusterFeatures
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(5, 40))
        features = rng.normal(size=(n, 16)).astype(np.float32)
        k = int(rng.integers(2, min(n, 6)))
        # The library keeps the first sentence and clusters the rest into k - 1 groups.
        expected = [0] + [i + 1 for i in ClusterFeatures(features[1:]).cluster(num_sentences=k - 1)]
        assert cluster_select(features, k) == expected


@pytest.mark.parametrize("n,ratio,available,expected", [(None, None, 10, 3), (5, None, 10, 5),
                                                         (None, 0.2, 10, 2), (None, 0.01, 10, 1),
                                                         (None, 1.0, 7, 7)])
def test_sentence_count(n, ratio, available, expected):
    assert sentence_count(available, n, ratio) == expected


@pytest.mark.parametrize("n,ratio,message", [(0, None, "at least 1"), (-2, None, "at least 1"),
                                             (None, 0.0, "(0, 1]"), (None, 1.5, "(0, 1]"),
                                             (3, 0.5, "cannot be used together")])
def test_sentence_count_rejects(n, ratio, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("]", r"\]")):
        sentence_count(10, n, ratio)


@pytest.fixture(scope="module")
def tiny_summarizer(tiny_encoder_dir):
    return Summarizer(model=str(tiny_encoder_dir), device="cpu")


def test_exactly_n_sentences_in_document_order(tiny_summarizer):
    article = cnndm_articles(1)[0]["article"]
    for n in (1, 2, 3, 5):
        summary = tiny_summarizer(article, num_sentences=n)
        assert len(summary.sentences) == n
        starts = [s.start for s in summary.sentences]
        assert starts == sorted(starts)
        for s in summary.sentences:
            assert article[s.start:s.end] == s.text


def test_more_than_the_clean_sentences_returns_them_all(tiny_summarizer):
    article = cnndm_articles(1)[0]["article"]  # five clean sentences, the rest bylines/captions
    summary = tiny_summarizer(article, num_sentences=8)
    assert len(summary.sentences) == summary.candidates == 5
    assert "fewer than the 8" in summary.notes[0]


def test_same_input_same_output(tiny_summarizer):
    article = cnndm_articles(2)[1]["article"]
    first = tiny_summarizer(article, num_sentences=3)
    second = tiny_summarizer(article, num_sentences=3)
    assert first.sentences == second.sentences


def test_fewer_sentences_than_asked(tiny_summarizer):
    summary = tiny_summarizer("Only one sentence here. And a second.", num_sentences=3)
    assert [s.text for s in summary.sentences] == ["Only one sentence here.", "And a second."]
    assert summary.notes and "fewer than the 3" in summary.notes[0]


def test_over_long_sentence_is_truncated_not_a_crash(tiny_summarizer):
    huge = " ".join(["word"] * 3000) + "."
    text = "A first short sentence that is long enough to count. " + huge + (
        " Another ordinary sentence that is long enough to count here. A last ordinary sentence"
        " that closes this rather odd document.")
    summary = tiny_summarizer(text, num_sentences=3)
    assert len(summary.sentences) == 3


def test_ratio(tiny_summarizer):
    article = cnndm_articles(1)[0]["article"]
    summary = tiny_summarizer(article, ratio=0.5)
    assert len(summary.sentences) == round(0.5 * summary.candidates)


@pytest.mark.parametrize("text", [
    "By . Associated Press .",
    "PUBLISHED: . 14:11 EST, 25 October 2013 .",
    "| . UPDATED: . 15:36 EST, 25 October 2013 .",
    "Bishop John Folda (pictured) of the Fargo Catholic Diocese has exposed hundreds of members .",
    "Click here to read the full report on the council's decision.",
    "Scroll down for video of the dramatic rescue at the harbour.",
    "By Daniel Bates .",
    "Too short to count.",
])
def test_boilerplate_is_never_a_candidate(text):
    from bertcli.sentences import Sentence
    from bertcli.summarize.candidates import is_boilerplate

    assert is_boilerplate(Sentence(0, 0, len(text), text))


@pytest.mark.parametrize("text", [
    "By the end of the year the council had approved the new harbour plan.",
    "The bishop was diagnosed with hepatitis A after a conference in Italy last month.",
    "Officials published the figures at 9:30 on Monday, a day later than planned.",
])
def test_real_sentences_are_candidates(text):
    from bertcli.sentences import Sentence
    from bertcli.summarize.candidates import is_boilerplate

    assert not is_boilerplate(Sentence(0, 0, len(text), text))


@pytest.mark.parametrize("text, kept", [
    ("(CNN) -- One can hardly read the news these days.", "One can hardly read the news these days."),
    ("WASHINGTON (CNN)  -- Terrorists are likely to use a weapon.", "Terrorists are likely to use a weapon."),
    ("Kabul, Afghanistan (CNN) -- China's top official paid a visit.", "China's top official paid a visit."),
    ("LONDON (Reuters) - Shares fell sharply in early trading.", "Shares fell sharply in early trading."),
    ("The council (pictured) met on Monday -- and again on Tuesday.", None),
    ("CNN -- the network -- said it would appeal.", None),
])
def test_a_dateline_is_cut_from_its_sentence(text, kept):
    from bertcli.sentences import Sentence
    from bertcli.summarize.candidates import without_dateline

    document = "Intro. " + text
    sentence = without_dateline(Sentence(1, 7, len(document), text))
    assert sentence.text == (kept or text)
    assert document[sentence.start:sentence.end] == sentence.text


def test_summaries_carry_no_datelines(tiny_summarizer):
    article = ("(CNN) -- The river burst its banks on Monday and flooded the old town centre. "
               "Hundreds of residents were moved to schools and sports halls overnight. "
               "The mayor said the clean-up would take weeks and cost millions of pounds. "
               "Forecasters expect more heavy rain across the region later this week.")
    summary = tiny_summarizer(article, num_sentences=3, strategy="lead")
    assert summary.sentences[0].text.startswith("The river burst")
    assert all(article[s.start:s.end] == s.text for s in summary.sentences)


@pytest.mark.parametrize("strategy", ["learned", "central", "cluster", "lead"])
def test_every_strategy_skips_bylines_and_returns_n(tiny_summarizer, strategy):
    article = cnndm_articles(1)[0]["article"]
    assert article.startswith("By . Associated Press . PUBLISHED")
    summary = tiny_summarizer(article, num_sentences=3, strategy=strategy)
    assert summary.strategy == strategy and len(summary.sentences) == 3
    assert not any("PUBLISHED" in s.text or s.text.startswith("By .") for s in summary.sentences)


def test_lead_is_the_first_clean_sentences(tiny_summarizer):
    from bertcli.sentences import split_sentences
    from bertcli.summarize.candidates import length_filtered

    article = cnndm_articles(1)[0]["article"]
    expected = length_filtered(split_sentences(article))[:3]
    assert tiny_summarizer(article, num_sentences=3, strategy="lead").sentences == expected


def test_central_select_prefers_central_and_diverse_rows():
    from bertcli.summarize.select import central_select

    rng = np.random.default_rng(3)
    topic = rng.normal(size=16)
    rows = [topic + 0.3 * rng.normal(size=16) for _ in range(6)] + [rng.normal(size=16) for _ in range(6)]
    vectors = np.array(rows)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picked = central_select(vectors[::-1].copy(), 3)  # on-topic rows last: position cannot explain it
    assert len(picked) == 3 and all(i >= 6 for i in picked)


# ---- the learned strategy -------------------------------------------------------------------

def _random_scorer(dim=384, hidden=4, seed=0):
    from bertcli.summarize.scorer import FEATURE_VERSION, Scorer

    rng = np.random.default_rng(seed)
    width = 13 + dim
    return Scorer({"mean": np.zeros(width), "scale": np.ones(width),
                   "w1": rng.normal(size=(hidden, width)), "b1": np.zeros(hidden),
                   "w2": rng.normal(size=hidden), "b2": np.array(0.0),
                   "linear": rng.normal(size=width), "redundancy": np.array(0.2),
                   "dim": np.array(dim), "feature_version": np.array(FEATURE_VERSION)})


def _unit_rows(n, dim=384, seed=0):
    rows = np.random.default_rng(seed).normal(size=(n, dim))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_scorer_select_returns_k_distinct_rows_in_order():
    scorer = _random_scorer()
    for n in (1, 2, 3, 7, 30):
        vectors = _unit_rows(n, seed=n)
        lengths = np.arange(n) + 10.0
        for k in (1, 3, 5):
            picked = scorer.select(vectors, lengths, k)
            assert len(picked) == min(k, n) == len(set(picked))
            assert picked == sorted(picked)
            assert picked == scorer.select(vectors, lengths, k)  # deterministic


def test_scorer_prefers_its_highest_score():
    scorer = _random_scorer()
    vectors, lengths = _unit_rows(12, seed=3), np.full(12, 20.0)
    assert scorer.select(vectors, lengths, 1) == [int(np.argmax(scorer.scores(vectors, lengths)))]


def test_shipped_scorer_loads_and_matches_the_encoder():
    from bertcli.summarize.scorer import SCORER_FILE, Scorer

    scorer = Scorer.load(SCORER_FILE)
    assert scorer.hidden_size == 384 and SCORER_FILE.stat().st_size < 200_000
    picked = scorer.select(_unit_rows(20), np.full(20, 15.0), 3)
    assert len(picked) == 3


@pytest.mark.parametrize("content", [None, b"not a zip file", b"PK\x03\x04 truncated"])
def test_missing_or_corrupt_scorer_uses_central(content, tmp_path, monkeypatch):
    import bertcli.summarize.scorer as scorer_module
    from bertcli.models import bundled_encoder_path

    path = tmp_path / "scorer.npz"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setattr(scorer_module, "SCORER_FILE", path)
    monkeypatch.setattr(scorer_module, "_LOADED", {})
    notices = []
    summarizer = Summarizer(model=str(bundled_encoder_path()), device="cpu", strategy="learned",
                            notice=notices.append)
    article = cnndm_articles(3)[2]["article"]
    learned = summarizer(article, num_sentences=3)
    central = summarizer(article, num_sentences=3, strategy="central")
    assert learned.sentences == central.sentences and len(learned.sentences) == 3
    summarizer(article, num_sentences=2)  # said once, not per document
    said = [n for n in notices if "scorer" in n]
    assert len(said) == 1 and "using central" in said[0] and "\n" not in said[0]


def test_learned_with_another_model_uses_central(tiny_encoder_dir):
    notices = []
    summarizer = Summarizer(model=str(tiny_encoder_dir), device="cpu", strategy="learned",
                            notice=notices.append)
    article = cnndm_articles(1)[0]["article"]
    learned = summarizer(article, num_sentences=3)
    assert learned.sentences == summarizer(article, num_sentences=3, strategy="central").sentences
    assert any("using central" in n for n in notices)


@pytest.fixture(scope="module")
def learned_summarizer():
    from bertcli.models import bundled_encoder_path

    return Summarizer(model=str(bundled_encoder_path()), device="cpu", strategy="learned")


def test_learned_exactly_n_sentences_in_document_order(learned_summarizer):
    for record in cnndm_articles(4):
        article = record["article"]
        for n in (1, 3, 5):
            summary = learned_summarizer(article, num_sentences=n)
            assert summary.strategy == "learned"
            assert len(summary.sentences) == min(n, summary.candidates)
            starts = [s.start for s in summary.sentences]
            assert starts == sorted(starts) and len(set(starts)) == len(starts)
            for s in summary.sentences:
                assert article[s.start:s.end] == s.text
            again = learned_summarizer(article, num_sentences=n)
            assert again.sentences == summary.sentences


def test_learned_bad_input_behaves_as_before(learned_summarizer):
    one = learned_summarizer("Only one sentence here, and nothing else to say.", num_sentences=3)
    assert [s.text for s in one.sentences] == ["Only one sentence here, and nothing else to say."]
    assert "fewer than the 3" in one.notes[0]
    fragments = learned_summarizer("Hi. Yes. Fine.", num_sentences=2)  # fragments only
    assert fragments.sentences == learned_summarizer("Hi. Yes. Fine.", num_sentences=2,
                                                     strategy="central").sentences
    assert len(fragments.sentences) == 2
    from bertcli.errors import InputError

    for strategy in ("learned", "central"):  # no sentences: the same error as before
        with pytest.raises(InputError, match="empty document"):
            learned_summarizer("  \n", num_sentences=3, strategy=strategy)
