"""Sentence segmentation with character offsets.

spaCy's rule-based sentencizer, with the language's own tokenizer rules where spaCy has them
without extra packages (spacy.blank(code)), else its multilingual `xx` rules; then bertcli's own
rules on top: blank lines, full stops of scripts written without spaces (CJK) or that spaCy's
tokenizers leave attached to a word (Armenian ։, Hindi ।, Arabic ؟, Urdu ۔, Ethiopic ።), the
Greek question mark, Thai's spaces, and repairs of spaCy's splits at abbreviations ("etc.",
"e.g.", "Dr.", "U.S."), initials, and citation markers ("Hinton.[1] It", "(Smith et al., 2019)").
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .progress import ProgressCallback


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: `text == document_text[start:end]`."""

    index: int  # position among all sentences of the document, from 0
    start: int
    end: int
    text: str


# spaCy's language data that needs packages bertcli does not install (SudachiPy, mecab-ko,
# PyThaiNLP, pyvi), that takes seconds to load (French, Indonesian and Malay compile
# tokenizer-exception regexes of 1.6-6.4 s at import), or that cuts text into single
# characters without jieba (Chinese: "3.14" and "U.S." became sentence ends): these use the
# multilingual rules. bertcli's own rules find the CJK sentence ends.
_NEEDS_EXTRA = frozenset({"ja", "ko", "th", "vi", "zh"})
_SLOW_TO_LOAD = frozenset({"fr", "id", "ms"})
DEFAULT_LANGUAGE = "en"  # text with no letters, or in a language nothing says

# Scripts written without spaces between words: Han and kana (a character is about a word, or
# a reader token), and Thai, Lao, Khmer, Myanmar (a few characters per word).
HAN_KANA = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002ffff"
SOUTHEAST_ASIAN = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
UNSPACED = re.compile(f"[{HAN_KANA}{SOUTHEAST_ASIAN}]+")
# One word of those scripts, as word counts and passage sizes (bertcli.retrieve) take it.
UNSPACED_WORD = f"[{HAN_KANA}]|[{SOUTHEAST_ASIAN}]{{1,4}}"
_UNSPACED_WORD = re.compile(f"{UNSPACED_WORD}|[^\\W{HAN_KANA}{SOUTHEAST_ASIAN}]+")
_HAN_KANA_CHAR = re.compile(f"[{HAN_KANA}]")


def word_count(text: str) -> int:
    """Words as spaces separate them; in a script without spaces, a Han or kana character
    or four Thai-like characters count as a word (so a Chinese sentence is not "one word")."""
    return sum(len(_UNSPACED_WORD.findall(token)) if UNSPACED.search(token) else 1
               for token in text.split())


def latin_length(text: str) -> int:
    """Length in characters, a Han or kana character counting as 3: about what the same
    words take in a language written with Latin letters and spaces."""
    return len(text) + 2 * len(_HAN_KANA_CHAR.findall(text))


@lru_cache(maxsize=1)
def spacy_languages() -> frozenset[str]:
    """Language codes spaCy has rules for (found without importing spaCy)."""
    spec = importlib.util.find_spec("spacy")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    lang_dir = Path(next(iter(spec.submodule_search_locations))) / "lang"
    return frozenset(p.name for p in lang_dir.iterdir() if (p / "__init__.py").is_file())


def _import_spacy():
    import sys

    if "spacy" in sys.modules:
        return sys.modules["spacy"]
    # Two imports that `import spacy` makes and the sentencizer never uses: torch (thinc
    # imports it whenever it is installed: 1 s) and spacy.cli (its `info` command pulls in
    # weasel, requests and typer's CLI machinery: a quarter of spaCy's import). Both are
    # hidden during the import only; a later `import torch` or `import spacy.cli` is real.
    hidden = {"torch": None, "spacy.cli": _cli_stub(), "spacy.cli.info": _cli_stub()}
    if "torch" in sys.modules:
        del hidden["torch"]
    sys.modules.update(hidden)  # type: ignore[arg-type]
    try:
        import spacy
    finally:
        for name in hidden:
            del sys.modules[name]
    if getattr(spacy, "cli", None) is hidden["spacy.cli"]:
        delattr(spacy, "cli")
    return spacy


def _cli_stub():
    import types

    stub = types.ModuleType("spacy.cli")

    def info(*args, **kwargs):  # `spacy.info`: import the real one when it is called
        from spacy.cli.info import info as real

        return real(*args, **kwargs)

    stub.info = info  # type: ignore[attr-defined]
    stub.__path__ = []  # a package, so that "spacy.cli.info" can be found under it
    return stub


def pipeline_language(lang: str | None) -> str:
    """The spaCy language whose rules split `lang` text: its own, or `xx` (multilingual)."""
    lang = lang or DEFAULT_LANGUAGE
    if lang in spacy_languages() and lang not in _NEEDS_EXTRA | _SLOW_TO_LOAD:
        return lang
    return "xx"


@lru_cache(maxsize=8)
def _nlp(lang: str = DEFAULT_LANGUAGE):
    spacy = _import_spacy()
    try:
        nlp = spacy.blank(lang)
    except Exception:  # language data that wants a package this install lacks
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    # Long documents are fine for the sentencizer: it keeps no per-token parse state.
    nlp.max_length = 10**9
    return nlp


# A blank line ends a sentence whatever the punctuation: titles, headings, list items and
# paragraphs without a final full stop stay separate.
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n\s*")

_CLOSERS = "」』”’）)】〕》\"'»"
# Chinese and Japanese full stops (with any closing quotes or brackets after them) end a
# sentence: text without spaces is one long token to spaCy's tokenizer, so its sentencizer
# never sees them. ASCII ! and ? after a CJK character too (often typed that way).
# A quotation closed and followed by Japanese と or って (「…。」と彼は言った) goes on.
_CJK_END = re.compile(r"(?:[。！？｡]++|(?<=[\u3040-\u30ff\u3400-\u9fff])[!?]++)[」』”’）)】〕》]*+(?![とっ])")
# Full stops that spaCy's tokenizers leave glued to the word before (Armenian ։, Devanagari
# । ॥, Arabic ؟, Urdu ۔, Ethiopic ። ፧, the Greek question mark ;), then a space.
_SCRIPT_END = re.compile(r"[։।॥؟۔።፧\u037e][" + re.escape(_CLOSERS) + r"]*(?=\s)")
# Greek writes its question mark as ";" (U+037E normalises to it): with --lang el it ends a
# sentence when a space follows.
_GREEK_END = re.compile(r"(?<=[\u0370-\u03ff\u1f00-\u1fff]);(?=\s)")  # after a Greek letter: not code
# Thai is written without spaces between words; a space separates sentences (and sometimes
# clauses, which then become sentences of their own: the usual rule, and the best without a
# Thai model).
_THAI_SPACE = re.compile(r"(?<=[\u0e00-\u0e7f])[ \t]+(?=[\u0e00-\u0e7f])")


def _cut(pieces: list[tuple[int, str]], pattern: re.Pattern, keep_match: bool = True) -> list[tuple[int, str]]:
    """Cut each (offset, text) piece after every match of `pattern` (or at it, dropping the
    match, when `keep_match` is False: separators such as Thai spaces)."""
    out = []
    for offset, piece in pieces:
        start = 0
        for match in pattern.finditer(piece):
            out.append((offset + start, piece[start:match.end() if keep_match else match.start()]))
            start = match.end()
        out.append((offset + start, piece[start:]))
    return out


def blocks(text: str, lang: str | None = None) -> list[tuple[int, str]]:
    """(offset, block) pairs of the text between blank lines, cut after the full stops that
    spaCy cannot see (CJK, other scripts' marks; Thai spaces with lang "th")."""
    pieces, begin = [], 0
    for match in _BLOCK_BREAK.finditer(text):
        pieces.append((begin, text[begin:match.start()]))
        begin = match.end()
    pieces.append((begin, text[begin:]))
    pieces = _cut(_cut(pieces, _CJK_END), _SCRIPT_END)
    if lang == "el":
        pieces = _cut(pieces, _GREEK_END)
    if lang == "th":
        pieces = _cut(pieces, _THAI_SPACE, keep_match=False)
    return [(offset, block) for offset, block in pieces if block.strip()]


# spaCy's sentencizer keeps a quote mark after a full stop with the sentence it ends, which is
# right for a closing quote ("no." Then) but not for one that opens the next sentence
# (fine. "We ...): a quote mark after whitespace opens. So does a bracket ("taxes. (Officials
# say ...)").
_OPENING_QUOTE = re.compile(r"\s([\"'‘“(\[]+)$")


def _spans(block: str, doc) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `block`, whitespace stripped, opening quotes moved on."""
    spans: list[tuple[int, int]] = []
    carry = None  # where a quote moved from the sentence before begins
    for span in doc.sents:
        start = span.start_char if carry is None else carry
        end, carry = span.end_char, None
        raw = block[start:end]  # not doc.text: spaCy rebuilds that string on every access
        stripped = raw.strip()
        if not stripped:
            continue
        start += len(raw) - len(raw.lstrip())
        end = start + len(stripped)
        quote = _OPENING_QUOTE.search(block, start, end)
        if quote and quote.start() > start:
            carry = quote.start(1)
            end = start + len(block[start:quote.start()].rstrip())
        spans.append((start, end))
    if carry is not None and spans:  # a quote that opens nothing: it stays where it was
        spans[-1] = (spans[-1][0], carry + 1)
    return spans


# --- repairs: abbreviations, initials, citation markers --------------------------------------

# Words that often open a sentence: after an abbreviation that can also end one ("the U.S.",
# "11 a.m.", "MG Aviation Inc."), one of these means the sentence did end there.
_STARTERS = frozenset(
    """The A An He She It They We I You But And Or So Yet In On At As By For From To With This
    That These Those There Here His Her Its Their Our My Your When While If After Before
    Although Though However Meanwhile According Now Then Some Many Most All No Not One Two
    Three Police Officials What Who Why How Where Also Still Instead Last Next Today Yesterday
    Earlier Later""".split()
)
# Abbreviations that never end a sentence in practice: titles, "e.g.", "vs.", months.
_NEVER_FINAL = frozenset(
    """Dr Mr Mrs Ms Mme Mlle Prof St Sen Rep Gov Gen Maj Lt Col Capt Cmdr Sgt Rev Hon Pres Fr Mt
    Ft Messrs vs v e.g i.e cf viz approx ca Fig fig Figs Eq Eqs Nos pp Vol vol Ch ch Sec sec
    Jan Feb Apr Jun Jul Aug Sep Sept Oct Nov Dec z.B d.h u.a bzw Nr ggf""".split()
)
# Abbreviations that end a sentence when a usual sentence opener follows, else go on
# ("the U.S. Supreme Court", "9 a.m. Thursday", "Schuenemann et al. concluded").
_USUALLY_INSIDE = frozenset("U.S U.K U.N E.U U.S.A a.m p.m A.M P.M al Jr Sr".split())
# Abbreviations that go on only before a number, or a word that is not capitalised ("Inc. for
# $20 million", "No. 7", but "Companies, Inc. Woods retained ...", "No. Absolutely not.").
_SOMETIMES_FINAL = frozenset("etc Inc Ltd Co Corp Bros Pty LLC No".split())

_LAST_WORD = re.compile(r"(?:^|[\s(\[{\"'“‘])((?:[^\W\d_]\.){2,}|[^\W\d_][\w]*\.)[\"'”’)\]]*$")
_MARKER_ONLY = re.compile(r"\[[^\[\]]{1,20}\][\"'”’)]*[.!?]?[\"'”’)]*$")
_FIRST_WORD = re.compile(r"[\"'“‘(\[]*(\S+)")
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")
_FINAL_PUNCT = re.compile(r"[.!?…։।॥؟۔።፧。！？｡\u037e][\"'”’»)\]」』）】〕》]*$|[.!?][\"'”’)]*(?:\[[^\]]{1,20}\])+$")


def _goes_on(before: str, after: str) -> bool:
    """Whether a sentence break that spaCy put between `before` and `after` is wrong."""
    first = _FIRST_WORD.match(after)
    if first is None:
        return False
    head = first.group(1)
    opener = head.rstrip(".,;:!?\"'”’)").strip()
    starter = opener in _STARTERS
    if not _FINAL_PUNCT.search(before):  # "…et al.," | "2017)." : no full stop, no end
        return True
    if _MARKER_ONLY.match(after):  # "… they own her!! [sic]'."
        return True
    if head[0].islower() or head[0] in ",;:)]}":  # "etc. and", "U.S. was", "et al., 2019"
        return before.endswith(".")
    match = _LAST_WORD.search(before)
    if match is None:
        return False
    word = match.group(1)[:-1]
    if word in _NEVER_FINAL:
        return True
    if word in _USUALLY_INSIDE or _INITIAL.search(before):
        return not starter and (head[0].isupper() or head[0].isdigit())
    if word in _SOMETIMES_FINAL:
        return head[0].isdigit()
    return False


# A full stop, then citation markers ([1], [2][3], [citation needed], [b]) glued to it, then
# the next sentence: spaCy sees one token ("Hinton.[1") and no break.
_CITATION_END = re.compile(r"[.!?][\"'”’)]*(?:\[[^\[\]\n]{1,20}\])+(?=\s+[\"'“‘(]?[A-Z0-9])")
# An abbreviation that can end a sentence, then a usual sentence opener: spaCy's tokenizer keeps
# "U.S." and "a.m." whole and sees no break ("… and the U.S. The plane …").
_ABBREVIATION_END = re.compile(
    r"(?:^|(?<=[\s(]))(?:U\.S|U\.K|U\.N|E\.U|U\.S\.A|a\.m|p\.m|A\.M|P\.M|Inc|Ltd|Corp|Co|Jr|Sr|etc)\."
    r"(?=\s+(\w+))"
)


def _missed_breaks(block: str, start: int, end: int) -> list[int]:
    """Ends of sentences inside block[start:end] that spaCy did not see."""
    cuts = [m.end() for m in _CITATION_END.finditer(block, start, end)]
    for m in _ABBREVIATION_END.finditer(block, start, end):
        word = m.group(1)
        if word in _STARTERS or (m.group(0)[:-1] in _SOMETIMES_FINAL and word[0].isupper()
                                 and not word.isupper()):
            cuts.append(m.end())
    return sorted(set(cuts))


def _repaired(block: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """spaCy's spans with the breaks it missed added and its breaks at abbreviations removed."""
    split: list[tuple[int, int]] = []
    for start, end in spans:
        for cut in _missed_breaks(block, start, end):
            rest = block[cut:end]
            split.append((start, cut))
            start = cut + len(rest) - len(rest.lstrip())
        split.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in split:
        if merged and _goes_on(block[merged[-1][0]:merged[-1][1]], block[start:end]):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def split_sentences(text: str, lang: str | None = None,
                    progress: ProgressCallback | None = None) -> list[Sentence]:
    """Split `text` into sentences, stripped of surrounding whitespace, with offsets.

    `lang` (ISO 639-1) picks the language's rules; None: English's, as for text with no letters.
    `progress` hears of the paragraphs done (a book takes seconds).
    """
    sentences: list[Sentence] = []
    parts = blocks(text, lang)
    nlp = _nlp(pipeline_language(lang))
    for i, ((offset, block), doc) in enumerate(zip(parts, nlp.pipe(block for _, block in parts)), 1):
        for start, end in _repaired(block, _spans(block, doc)):
            sentences.append(Sentence(len(sentences), offset + start, offset + end, block[start:end]))
        if progress is not None and (i % 256 == 0 or i == len(parts)):
            progress("paragraphs", 256 if i % 256 == 0 else i % 256, len(parts))
    return sentences
