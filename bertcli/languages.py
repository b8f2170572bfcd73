"""Which language a document is in, and whether the model about to read it knows that language.

Detection: the letters' Unicode scripts first (Hangul, kana, Han, Thai, Greek, Armenian,
Ethiopic, ... name their language outright), then py3langid (langid.py's naive Bayes over byte
n-grams, 97 languages, 4.5 MB, no download) for the scripts that many languages share. It was
measured against langdetect and lingua (benchmarks/langid_choice.py): most accurate on one-line
texts here, fastest per text, and its 0.6 s model load runs on a thread while the encoder loads.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import notices
from .errors import UsageError

AUTO = "auto"
# Characters read for detection: a few pages are plenty, and the cost stays flat for books.
SAMPLE_CHARS = 4000

# Scripts that name one language (of those bertcli tells apart). Han alone is Chinese;
# Han with kana is Japanese, with Hangul Korean (see _by_script).
_SCRIPT_LANGUAGE = {
    "HANGUL": "ko", "HIRAGANA": "ja", "KATAKANA": "ja", "THAI": "th", "GREEK": "el",
    "ARMENIAN": "hy", "ETHIOPIC": "am", "GEORGIAN": "ka", "HEBREW": "he", "LAO": "lo",
    "KHMER": "km", "MYANMAR": "my", "TIBETAN": "bo", "SINHALA": "si", "TAMIL": "ta",
    "TELUGU": "te", "KANNADA": "kn", "MALAYALAM": "ml", "GUJARATI": "gu", "GURMUKHI": "pa",
    "ORIYA": "or",
}
# langid's codes that are not ISO 639-1, mapped to the ISO 639-1 code of their macrolanguage.
_TO_639_1 = {"ary": "ar", "arz": "ar", "wuu": "zh", "yue": "zh", "gug": "gn", "uzs": "uz",
             "gcf": "fr", "gcr": "fr", "sdh": "ku", "ltg": "lv"}

# Models that read English only: the bundled ones and the usual English defaults. A local
# directory is judged by the name it was given.
ENGLISH_ONLY = frozenset(
    """all-MiniLM-L6-v2 all-MiniLM-L12-v2 all-mpnet-base-v2 all-distilroberta-v1
    bertcli-reader-minilm distilbert-base-uncased distilbert-base-cased
    distilbert-base-cased-distilled-squad distilbert-base-uncased-distilled-squad
    bert-base-uncased bert-base-cased bert-large-uncased bert-large-cased
    bert-large-uncased-whole-word-masking-finetuned-squad roberta-base roberta-large
    deepset/roberta-base-squad2 deepset/minilm-uncased-squad2 deepset/tinyroberta-squad2
    deepset/bert-base-cased-squad2 deepset/deberta-v3-base-squad2""".split()
)
MULTILINGUAL_SUGGESTION = {
    # -s central: the learned strategy's scorer reads the bundled encoder's embeddings only
    "summarize": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2 -s central",
    # BM25 alone ranks other languages well (README, "Other languages"): offline, the best
    # sentence is a better answer than an English reader's guess
    "ask": "deepset/xlm-roberta-base-squad2 (or --retrieval-only)",
}
# Names for the warning; other codes are shown as they are.
LANGUAGE_NAMES = dict(item.split(":") for item in (
    "ar:Arabic bg:Bulgarian ca:Catalan cs:Czech da:Danish de:German el:Greek en:English "
    "es:Spanish et:Estonian fa:Persian fi:Finnish fr:French he:Hebrew hi:Hindi hr:Croatian "
    "hu:Hungarian hy:Armenian id:Indonesian it:Italian ja:Japanese ko:Korean lt:Lithuanian "
    "lv:Latvian nl:Dutch no:Norwegian pl:Polish pt:Portuguese ro:Romanian ru:Russian "
    "sk:Slovak sl:Slovenian sr:Serbian sv:Swedish th:Thai tr:Turkish uk:Ukrainian ur:Urdu "
    "vi:Vietnamese zh:Chinese am:Amharic ka:Georgian bn:Bengali ta:Tamil ms:Malay").split())


def language_name(code: str) -> str:
    return f"{LANGUAGE_NAMES[code]} ({code})" if code in LANGUAGE_NAMES else repr(code)


def english_only(model_name: str) -> bool:
    name = model_name.rstrip("/")
    for prefix in ("sentence-transformers/", "google-bert/", "distilbert/", "FacebookAI/"):
        if name.startswith(prefix) and name[len(prefix):] in ENGLISH_ONLY:
            return True
    return name in ENGLISH_ONLY


_warned: set[tuple[str, str]] = set()


def new_run() -> None:
    """A new command run (bertcli.cli.run): each warning may be said once again."""
    _warned.clear()


def warn_if_english_only(model_name: str, language: str | None, task: str,
                         notice: Callable[[str], None] = notices.notice) -> None:
    """One notice per run and model when an English-only model meets another language."""
    if language in (None, "en") or not english_only(model_name) or (model_name, task) in _warned:
        return
    _warned.add((model_name, task))
    notice(f"{model_name} reads English only, but the text looks {language_name(language)}; "
           f"for better results: -m {MULTILINGUAL_SUGGESTION[task]}")


# --- detection ---------------------------------------------------------------------------

_identifier: Any = None
_lock = threading.Lock()  # one load, even when a server's threads detect at once


def _get_identifier():
    """The detector's model, loaded once (0.6 s, mostly LZMA)."""
    global _identifier
    with _lock:
        if _identifier is None:
            import py3langid.langid as langid

            _identifier = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE)
    return _identifier


def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split(" ", 1)[0]
    except ValueError:
        return ""


_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def _by_script(sample: str) -> tuple[str | None, bool]:
    """(language, decided): the language that the letters' script names, or (None, True)
    when there are no letters, or (None, False) when a statistical model must decide."""
    scripts = Counter(_script(ch) for ch in _LETTER.findall(sample))
    if not scripts:
        return None, True
    total = sum(scripts.values())
    if scripts["HIRAGANA"] + scripts["KATAKANA"] > 0.05 * total:
        return "ja", True
    if scripts["HANGUL"] > 0.3 * total:
        return "ko", True
    top, count = scripts.most_common(1)[0]
    if count < 0.5 * total:  # no script dominates: mixed text, the model decides
        return None, False
    if top == "CJK":
        return "zh", True
    if top in _SCRIPT_LANGUAGE:
        return _SCRIPT_LANGUAGE[top], True
    return None, False


# Words that are common in English and rare as words in other languages written in Latin
# letters (no "a", "in", "on", "die", "was"-like overlaps that German, Spanish or Italian share).
_ENGLISH_WORDS = frozenset(
    "the of and to is that with for are this from have has were which their been would "
    "there will about they should could what when".split())
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _clearly_english(sample: str) -> bool:
    """English text spends about a fifth of its words on these; other languages almost none.
    Deciding here spares a cold process langid's 0.6 s model load for most English input."""
    words = _WORD.findall(sample.lower())
    if len(words) < 20:
        return False  # too little to count on: the model decides
    return sum(w in _ENGLISH_WORDS for w in words) >= ENGLISH_SHARE * len(words)


ENGLISH_SHARE = 0.12


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's main language (ISO 639-3 where the language has no
    two-letter code), or None when the text has no letters."""
    sample = text[:SAMPLE_CHARS]
    language, decided = _by_script(sample)
    if decided:
        return language
    if _clearly_english(sample):
        return "en"
    code = _get_identifier().classify(sample)[0]
    if code == "zxx":  # "no linguistic content"
        return None
    return _TO_639_1.get(code, code)


def check_lang(lang: str) -> str:
    """A --lang value, lowercased: "auto" or a language code bertcli knows (else exit 2)."""
    value = lang.strip().lower().replace("_", "-")
    if value == AUTO:
        return value
    base = value.split("-", 1)[0]
    if base not in known_languages():
        raise UsageError(f"--lang {lang}: unknown language code (use auto, or an ISO 639-1 "
                         "code such as en, de, zh, ar)")
    return base


def known_languages() -> frozenset[str]:
    from .sentences import spacy_languages

    # "xx" is spaCy's multilingual pipeline, not a language
    return (spacy_languages() - {"xx"}) | frozenset(_SCRIPT_LANGUAGE.values()) | frozenset(
        "ar de el en es fa fr he hi hy id it ja ka ko ms nl no pl pt ru sv th tr uk ur vi zh"
        .split())


def resolve_language(text: str, lang: str = AUTO) -> str | None:
    """The language to treat `text` as: the one given, or the one detected."""
    return detect_language(text) if lang == AUTO else lang
