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
