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
    with pytest.raises(UsageError):
        check_lang("qq")
