"""Sentence splitting on hard cases from real text (issue 17) and in many languages (issue 18)."""

from __future__ import annotations

import pytest

from bertcli.sentences import split_sentences
from tests.sentence_cases import CASES


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_hard_cases(name, text, expected):
    got = split_sentences(text)
    assert [s.text for s in got] == expected
    assert all(text[s.start:s.end] == s.text for s in got)


LANGUAGES = {
    "zh": ("连续三天降雨后，河水漫过了老城区。市长说，这座桥将关闭到星期一。有人受伤吗？", 3),
    "ja": ("三日間の雨の後、川が旧市街にあふれた。けが人はいなかった!", 2),
    "ar": ("فاض النهر على المدينة القديمة. هل أصيب أحد؟ لم يصب أحد.", 3),
    "ur": ("تین دن کی بارش کے بعد دریا بہہ نکلا۔ کیا کوئی زخمی ہوا؟ میئر نے کہا کہ پل بند رہے گا۔", 3),
    "hi": ("तीन दिन की बारिश के बाद नदी भर गई। क्या कोई घायल हुआ? पुल बंद रहेगा।", 3),
    "hy": ("Երեք օր անձրևից հետո գետը հեղեղեց քաղաքը։ Ոչ ոք չի տուժել։", 2),
    "am": ("ከሦስት ቀን ዝናብ በኋላ ወንዙ ከተማ አጥለቀለቀው። ማንም አልተጎዳም።", 2),
    "el": ("Ο ποταμός πλημμύρισε. Πότε θα ανοίξει η γέφυρα; Μέχρι τη Δευτέρα.", 3),
    "th": ("แม่น้ำล้นตลิ่งเข้าท่วมเมืองเก่า นายกเทศมนตรีกล่าวว่าสะพานจะปิด", 2),
    "de": ("Der Fluss trat über die Ufer, z.B. am Markt. Die Brücke bleibt gesperrt.", 2),
    "ru": ("Река вышла из берегов. По словам мэра, мост будет закрыт.", 2),
    "es": ("¿Hubo heridos? No, pero muchas tiendas perdieron su mercancía.", 2),
    "ko": ("강물이 넘쳤다. 다친 사람은 없었다.", 2),
    "en": ("Dr. Smith said the bridge would stay closed. Nobody was hurt.", 2),
}


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_languages_split_with_exact_offsets(lang):
    text, count = LANGUAGES[lang]
    got = split_sentences(text, lang)
    assert len(got) == count, [s.text for s in got]
    assert all(text[s.start:s.end] == s.text for s in got)


@pytest.mark.parametrize("text", ["12345 678.90 ---", "!!! ??? ...", "Mixed 中文。And English. Русский текст."])
def test_odd_text_never_crashes(text):
    for s in split_sentences(text):
        assert text[s.start:s.end] == s.text
