from bertcli.languages import check_lang, detect_language, english_only


def test_detects_languages_by_script_and_model():
    assert detect_language("连续三天降雨后，河水漫过了老城区。") == "zh"
    assert detect_language("三日間の雨の後、川が旧市街にあふれた。") == "ja"
    assert detect_language("Der Fluss trat nach drei Tagen Regen über die Ufer.") == "de"
    assert detect_language("The river flooded the old town after three days of rain.") == "en"
    assert detect_language("12345 --- 678") is None


def test_english_only_models():
    assert english_only("all-MiniLM-L6-v2") and english_only("bertcli-reader-minilm")
    assert not english_only("deepset/xlm-roberta-base-squad2")


def test_unknown_lang_is_a_usage_error():
    import pytest

    from bertcli.errors import UsageError

    assert check_lang("DE") == "de" and check_lang("auto") == "auto"
    for code in ("qq", "xx", ""):  # xx is spaCy's multilingual pipeline, not a language
        with pytest.raises(UsageError):
            check_lang(code)


# --- detection shortcuts ------------------------------------------------------------------

ENGLISH = ("The river flooded the old town after three days of rain, and the mayor said that "
           "the bridge would stay closed until Monday. Nobody was hurt, but many of the shops "
           "on the high street lost their stock to the water.")


def test_clear_english_is_decided_without_loading_the_model():
    """A cold process must not pay langid's model load for plain English (most input)."""
    import subprocess
    import sys

    code = (f"import bertcli.languages as L; print(L.detect_language({ENGLISH!r})); "
            "print(L._identifier is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["en", "True"]


def test_other_latin_languages_are_not_taken_for_english():
    from bertcli.languages import _clearly_english

    german = ("Der Fluss trat nach drei Tagen Regen über die Ufer, und die Bürgermeisterin sagte, "
              "dass die Brücke bis Montag gesperrt bleibt. Verletzt wurde niemand, aber viele "
              "Geschäfte in der Hauptstraße verloren ihre Waren an das Wasser.")
    spanish = ("El río se desbordó después de tres días de lluvia y la alcaldesa dijo que el puente "
               "seguirá cerrado hasta el lunes. Nadie resultó herido, pero muchas tiendas de la "
               "calle mayor perdieron su mercancía por el agua.")
    assert _clearly_english(ENGLISH)
    assert not _clearly_english(german) and not _clearly_english(spanish)
    assert detect_language(german) == "de" and detect_language(spanish) == "es"


# --- the commands ------------------------------------------------------------------------

CHINESE = ("连续三天降雨后，河水漫过了老城区。市长说，大桥将关闭到星期一！有人受伤吗？"
           "没有，但许多商店失去了货物。修复费用约为两百五十万元。")
ARABIC = ("فاض النهر بعد ثلاثة أيام من المطر. هل أصيب أحد؟ "
          "لم يصب أحد، لكن متاجر كثيرة فقدت بضائعها. ستكلف الإصلاحات نحو مليوني دينار.")
GERMAN = ("Der Fluss trat nach drei Tagen Regen über die Ufer. Die Brücke bleibt laut "
          "Bürgermeisterin Dr. Weber bis Montag gesperrt. Verletzt wurde niemand, aber viele "
          "Geschäfte verloren ihre Waren. Die Reparaturen kosten etwa 2,5 Mio. Euro.")
JAPANESE = ("三日間の雨の後、川が旧市街にあふれた。市長は橋を月曜日まで閉鎖すると述べた！"
            "けが人はいたのか？いなかったが、多くの店が商品を失った。")

WARNING = "reads English only"


def _summary(run_cli, tmp_path, text: str, *extra: str, name: str = "doc.txt"):
    import json

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    proc = run_cli("summarize", path, "-n", "9", "-f", "json", "--offline", *extra)
    assert proc.returncode == 0, proc.err
    return json.loads(proc.out), proc.err


def test_summarize_splits_other_scripts_and_reports_the_language(run_cli, tmp_path):
    cases = {
        "zh": (CHINESE, ["连续三天降雨后，河水漫过了老城区。", "市长说，大桥将关闭到星期一！", "有人受伤吗？",
                         "没有，但许多商店失去了货物。", "修复费用约为两百五十万元。"]),
        "ja": (JAPANESE, ["三日間の雨の後、川が旧市街にあふれた。", "市長は橋を月曜日まで閉鎖すると述べた！",
                          "けが人はいたのか？", "いなかったが、多くの店が商品を失った。"]),
        "ar": (ARABIC, ["فاض النهر بعد ثلاثة أيام من المطر.", "هل أصيب أحد؟",
                        "لم يصب أحد، لكن متاجر كثيرة فقدت بضائعها.", "ستكلف الإصلاحات نحو مليوني دينار."]),
        "de": (GERMAN, ["Der Fluss trat nach drei Tagen Regen über die Ufer.",
                        "Die Brücke bleibt laut Bürgermeisterin Dr. Weber bis Montag gesperrt.",
                        "Verletzt wurde niemand, aber viele Geschäfte verloren ihre Waren.",
                        "Die Reparaturen kosten etwa 2,5 Mio. Euro."]),
    }
    for code, (text, sentences) in cases.items():
        from bertcli.sentences import split_sentences

        assert [s.text for s in split_sentences(text, detect_language(text))] == sentences
        result, err = _summary(run_cli, tmp_path, text)
        assert result["language"] == code
        # the summary picks some of those sentences (short ones are not candidates)
        assert result["sentences"] and all(s["text"] in sentences for s in result["sentences"])
        assert all(text[s["start"]:s["end"]] == s["text"] for s in result["sentences"])
        # one line: the bundled encoder is English, and what to use instead
        assert err.count(WARNING) == 1 and "-m sentence-transformers/paraphrase-multilingual" in err


def test_the_warning_comes_once_per_run(run_cli, tmp_path):
    (tmp_path / "a.txt").write_text(CHINESE, encoding="utf-8")
    (tmp_path / "b.txt").write_text(JAPANESE, encoding="utf-8")
    proc = run_cli("summarize", tmp_path / "a.txt", tmp_path / "b.txt", "-n", "1", "--offline")
    assert proc.returncode == 0, proc.err
    assert proc.err.count(WARNING) == 1


def test_english_gets_no_warning_and_lang_overrides_detection(run_cli, tmp_path):
    result, err = _summary(run_cli, tmp_path, ENGLISH)
    assert result["language"] == "en" and WARNING not in err
    result, err = _summary(run_cli, tmp_path, GERMAN, "--lang", "en")
    assert result["language"] == "en" and WARNING not in err
    result, _ = _summary(run_cli, tmp_path, GERMAN, "--lang", "DE")
    assert result["language"] == "de"


def test_text_without_letters_and_mixed_text_do_not_fail(run_cli, tmp_path):
    result, err = _summary(run_cli, tmp_path, "12345. 678 — 90! 3.14?")
    assert result["language"] is None and WARNING not in err
    from bertcli.sentences import split_sentences

    mixed = GERMAN + " " + CHINESE + " " + ENGLISH
    result, _ = _summary(run_cli, tmp_path, mixed)
    assert result["language"] in {"de", "en", "zh"}
    assert all(mixed[s["start"]:s["end"]] == s["text"] for s in result["sentences"])
    # every script's sentence ends are found, whichever language the whole is taken for
    assert len(split_sentences(mixed, "de")) == 4 + 5 + 2
    for lang in ("en", "zh"):  # (without German's rules, "Mio." ends a sentence)
        chinese = [s for s in split_sentences(mixed, lang) if s.text[-1] in "。！？"]
        assert len(chinese) == 5


def test_unknown_lang_code_is_one_line_and_exit_2(run_cli, tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(ENGLISH, encoding="utf-8")
    for command in (["summarize", path], ["ask", "Who?", path]):
        proc = run_cli(*command, "--lang", "klingon", "--offline")
        assert proc.returncode == 2
        assert proc.err.strip().count("\n") == 0 and "--lang klingon" in proc.err
        assert proc.out == ""


def test_ask_reports_the_language_and_warns(run_cli, tmp_path):
    import json

    path = tmp_path / "ar.txt"
    path.write_text(ARABIC, encoding="utf-8")
    proc = run_cli("ask", "هل أصيب أحد؟", path, "-f", "json", "--offline", "--always-answer",
                   env={"BERTCLI_MODELS": "bundled"})
    assert proc.returncode == 0, proc.err
    result = json.loads(proc.out)
    assert result["language"] == "ar"
    answer = result["answers"][0]
    assert ARABIC[answer["start"]:answer["end"]] == answer["text"]
    assert proc.err.count(WARNING) == 1 and "-m deepset/xlm-roberta-base-squad2" in proc.err


# --- retrieval in scripts without spaces ----------------------------------------------------

def test_bm25_terms_of_unspaced_scripts_are_character_pairs():
    from bertcli.ask.retrieve import terms

    assert terms("大桥关闭") == ["大桥", "桥关", "关闭"]
    assert terms("The bridge of Paris 2024年") == ["bridge", "paris", "2024", "年"]
    # a word does not break at combining marks (Hindi vowel signs, Arabic harakat)
    assert terms("हिन्दी भाषा।") == ["हिन्दी", "भाषा"]
    assert terms("الْعَرَبِيَّة") == ["الْعَرَبِيَّة"]


def test_bm25_finds_the_chinese_passage_that_answers():
    from bertcli.ask.retrieve import BM25, terms

    passages = ["连续三天降雨后，河水漫过了老城区。", "市长说，大桥将关闭到星期一。",
                "许多商店失去了货物，修复费用约为两百万元。", "学校明天照常上课，公交车恢复运行。"]
    bm25 = BM25.build([terms(p) for p in passages])
    scores = bm25.get_scores(terms("大桥什么时候关闭？"))
    assert int(scores.argmax()) == 1
    scores = bm25.get_scores(terms("修复需要多少钱？"))
    assert int(scores.argmax()) == 2


def test_passages_of_unspaced_text_stay_within_a_reader_window():
    from bertcli.ask.retrieve import PASSAGE_WORDS, make_passages
    from bertcli.sentences import split_sentences

    text = "这是一个没有标点的很长的句子" * 200
    passages = make_passages(split_sentences(text, "zh"))
    assert len(passages) > 1
    assert all(p.end - p.start <= PASSAGE_WORDS for p in passages)
    assert passages[0].start == 0 and passages[-1].end == len(text)


def test_other_languages_are_ranked_by_bm25_alone():
    """The bundled retriever's encoder reads English: its vectors would only add noise."""
    from bertcli.ask.retrieve import Retriever
    from bertcli.sentences import split_sentences

    retriever = Retriever()
    german = " ".join([GERMAN] * 3 + ["Die Feuerwehr pumpte zwei Tage lang Wasser aus den Kellern."])
    index = retriever.index(german, split_sentences(german, "de"), "sentence", language="de")
    assert index.encoder is None
    best = index.top("Wie lange pumpte die Feuerwehr Wasser?", 1)[0]
    assert german[best.start:best.end].startswith("Die Feuerwehr")
    assert index.vectors.shape == (len(index.units), 0)  # nothing embedded for it
    english = retriever.index(ENGLISH, split_sentences(ENGLISH), "sentence", language="en")
    english.top("What happened?", 1)
    assert english.vectors.shape[1] > 0


def test_hard_cases_found_by_a_new_user():
    from bertcli.sentences import split_sentences

    def split(text, lang):
        return [s.text for s in split_sentences(text, lang)]

    # Chinese: numbers, versions and dotted abbreviations are not sentence ends
    assert split("软件的版本号为 3.14 的开源软件，已经发布。例如 U.S.A. 是一个国家。", "zh") == [
        "软件的版本号为 3.14 的开源软件，已经发布。", "例如 U.S.A. 是一个国家。"]
    # Japanese: a quotation closed and followed by と goes on
    assert split("「今日は雨だ。」と彼は言った。傘を持った。", "ja") == [
        "「今日は雨だ。」と彼は言った。", "傘を持った。"]
    # Greek ";" ends a question after a Greek word, not inside code
    assert split("Τι κάνεις; Καλά. Γράψε for((i=a; i<=b; i++)) εδώ.", "el") == [
        "Τι κάνεις;", "Καλά.", "Γράψε for((i=a; i<=b; i++)) εδώ."]


def test_chinese_sentences_are_summary_candidates():
    from bertcli.sentences import split_sentences, word_count
    from bertcli.summarize.candidates import length_filtered

    text = ("如果你对前端开发完全陌生，可以先从基础知识开始学习，再回到这里阅读后面的章节。"
            "这个框架的核心是一套声明式的渲染系统，它让你用模板描述界面应该是什么样子。短句。")
    sentences = split_sentences(text, "zh")
    assert [word_count(s.text) for s in sentences][2] == 2
    assert [s.text for s in length_filtered(sentences)] == [s.text for s in sentences[:2]]
    assert word_count("The river flooded https://example.com/" + "a" * 40 + " again") == 5
