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
    ("(CNN)Robin Thicke and Pharrell Williams lost.", "Robin Thicke and Pharrell Williams lost."),
    ('(CNN)"It is a hard pill to swallow," the chief said.', '"It is a hard pill to swallow," the chief said.'),
    ("(CNN)iReporters sent in dozens of photos of the storm.", None),
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

def _random_scorer(dim=384, width=16, heads=2, layers=2, seed=0):
    """A DocScorer with random weights of the shipped format (numpy only)."""
    from bertcli.summarize.doc_scorer import FORMAT_VERSION, DocScorer

    rng = np.random.default_rng(seed)
    n_in = 13 + dim
    w = {"mean": np.zeros(n_in), "scale": np.ones(n_in), "in_w": rng.normal(size=(width, n_in)) / 20,
         "in_b": np.zeros(width), "ln_g": np.ones(width), "ln_b": np.zeros(width),
         "head_w": rng.normal(size=(1, width)), "head_b": np.zeros(1), "heads": np.array(heads),
         "layers": np.array(layers), "embedding_size": np.array(dim),
         "format_version": np.array(FORMAT_VERSION)}
    for i in range(layers):
        w.update({f"l{i}_ln1_g": np.ones(width), f"l{i}_ln1_b": np.zeros(width),
                  f"l{i}_ln2_g": np.ones(width), f"l{i}_ln2_b": np.zeros(width),
                  f"l{i}_qkv_w": rng.normal(size=(3 * width, width)) / 4,
                  f"l{i}_qkv_b": np.zeros(3 * width),
                  f"l{i}_out_w": rng.normal(size=(width, width)) / 4, f"l{i}_out_b": np.zeros(width),
                  f"l{i}_ff1_w": rng.normal(size=(2 * width, width)) / 4,
                  f"l{i}_ff1_b": np.zeros(2 * width),
                  f"l{i}_ff2_w": rng.normal(size=(width, 2 * width)) / 4, f"l{i}_ff2_b": np.zeros(width)})
    return DocScorer(w)


def _unit_rows(n, dim=384, seed=0):
    rows = np.random.default_rng(seed).normal(size=(n, dim))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_scorer_select_returns_k_distinct_rows_in_order():
    scorer = _random_scorer()
    for n in (1, 2, 3, 7, 30):
        vectors = _unit_rows(n, seed=n)
        lengths = np.arange(n) + 10.0
        texts = ["the same words again and again"] * n  # every row blocks every other
        for k in (1, 3, 5):
            for given in (None, texts):
                picked = scorer.select(vectors, lengths, k, given)
                assert len(picked) == min(k, n) == len(set(picked))
                assert picked == sorted(picked)
                assert picked == scorer.select(vectors, lengths, k, given)  # deterministic


def test_scorer_prefers_its_highest_score_and_blocks_repeated_trigrams():
    scorer = _random_scorer()
    vectors, lengths = _unit_rows(12, seed=3), np.full(12, 20.0)
    scores = scorer.scores(vectors, lengths)
    order = [int(i) for i in np.argsort(-scores)]
    assert scorer.select(vectors, lengths, 1) == [order[0]]
    texts = [f"alpha{i} beta{i} gamma{i} delta{i}" for i in range(12)]  # no trigram shared
    texts[order[1]] = texts[order[0]].upper()  # the second best repeats the best (any case)
    assert scorer.select(vectors, lengths, 2, texts) == sorted([order[0], order[2]])
    assert scorer.select(vectors, lengths, 2) == sorted(order[:2])


def test_scores_do_not_depend_on_the_attention_block(monkeypatch):
    """Attention is computed a block of rows at a time (memory); the scores are the same."""
    from bertcli.summarize import doc_scorer

    scorer = _random_scorer()
    vectors, lengths = _unit_rows(300, seed=5), np.full(300, 12.0)
    whole = scorer.scores(vectors, lengths)
    monkeypatch.setattr(doc_scorer, "ATTENTION_BLOCK", 7)
    np.testing.assert_allclose(scorer.scores(vectors, lengths), whole, rtol=1e-5, atol=1e-5)


def test_shipped_scorer_loads_and_matches_the_encoder():
    from bertcli.summarize.doc_scorer import DOC_SCORER_FILE, DocScorer

    scorer = DocScorer.load(DOC_SCORER_FILE)
    assert scorer.embedding_size == 384 and DOC_SCORER_FILE.stat().st_size < 1_000_000
    texts = [f"sentence {i} about topic {i % 4}" for i in range(20)]
    picked = scorer.select(_unit_rows(20), np.full(20, 15.0), 3, texts)
    assert len(picked) == 3
    with pytest.raises(ValueError, match="pass texts"):  # it reads the words: never silently
        scorer.select(_unit_rows(20), np.full(20, 15.0), 3)


@pytest.mark.parametrize("content", [None, b"not a zip file", b"PK\x03\x04 truncated"])
def test_missing_or_corrupt_scorer_uses_central(content, tmp_path, monkeypatch):
    import bertcli.summarize.doc_scorer as scorer_module
    from bertcli.models import bundled_encoder_path

    path = tmp_path / "doc_scorer.npz"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setattr(scorer_module, "DOC_SCORER_FILE", path)
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
    starts = [s.start for s in fragments.sentences]
    assert len(set(starts)) == 2 and starts == sorted(starts)
    from bertcli.errors import InputError

    for strategy in ("learned", "central"):  # no sentences: the same error as before
        with pytest.raises(InputError, match="empty document"):
            learned_summarizer("  \n", num_sentences=3, strategy=strategy)


def test_learned_on_very_long_tiny_and_foreign_documents(learned_summarizer):
    """Issue #29's bad input: 2,000 sentences, one-word sentences, a language the scorer was
    not trained on: a summary of distinct sentences in document order, never an error."""
    words = ["river", "market", "council", "storm", "budget", "school", "bridge", "harvest"]
    long = " ".join(f"The {words[i % 8]} report number {i} was filed by clerk {i * 7} today."
                    for i in range(2000))
    foreign = ("Der Stadtrat hat am Montag den neuen Haushalt beschlossen. Die Schulen bekommen "
               "mehr Geld für Lehrer. Die Brücke über den Fluss wird im Sommer repariert. "
               "Der Bürgermeister sprach von einem guten Tag für die Stadt. Die Opposition "
               "stimmte dagegen und kritisierte die hohen Schulden.")
    for text, n in ((long, 5), ("Yes. No. Maybe. Later. Never. Always.", 3), (foreign, 2)):
        summary = learned_summarizer(text, num_sentences=n)
        starts = [s.start for s in summary.sentences]
        assert len(starts) == n == len(set(starts)) and starts == sorted(starts)
        assert all(text[s.start:s.end] == s.text for s in summary.sentences)
