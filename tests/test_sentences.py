from bertcli.sentences import split_sentences


def test_offsets_point_into_the_input():
    text = "  First sentence here.  Second one!\n\nThird?  \n"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == ["First sentence here.", "Second one!", "Third?"]
    for i, s in enumerate(sentences):
        assert s.index == i
        assert text[s.start:s.end] == s.text


def test_unicode_offsets_are_characters():
    text = "Café owners met. Ñoño said “yes” — twice. 東京 is far."
    for s in split_sentences(text):
        assert text[s.start:s.end] == s.text
    assert len(split_sentences(text)) == 3


def test_an_opening_quote_starts_the_next_sentence():
    text = 'The mayor said it was fine. "We will rebuild," she added. \'It will take years.\''
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "The mayor said it was fine.", '"We will rebuild," she added.', "'It will take years.'"]
    for s in sentences:
        assert text[s.start:s.end] == s.text


def test_a_closing_quote_stays_with_its_sentence():
    text = 'He answered "no." Then he left the room. She said \u201cyes.\u201d'
    assert [s.text for s in split_sentences(text)] == [
        'He answered "no."', "Then he left the room.", "She said \u201cyes.\u201d"]


def test_a_quote_that_opens_nothing_is_kept():
    text = "The report ends here. '"
    sentences = split_sentences(text)
    assert "".join(s.text for s in sentences).replace(" ", "") == text.replace(" ", "")
    for s in sentences:
        assert text[s.start:s.end] == s.text


def test_cjk_full_stops_end_sentences_with_exact_offsets():
    from bertcli.sentences import split_sentences

    text = "今天天气很好。我们去公园散步吧！你觉得怎么样？「好的。」他说。\n\n日本語の文です。二つ目の文。"
    got = split_sentences(text)
    assert [s.text for s in got] == ["今天天气很好。", "我们去公园散步吧！", "你觉得怎么样？", "「好的。」",
                                     "他说。", "日本語の文です。", "二つ目の文。"]
    assert all(text[s.start:s.end] == s.text for s in got)
