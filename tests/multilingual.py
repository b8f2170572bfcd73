# ruff: noqa: E501  (sentences, one a line)
"""Tiny multilingual models for tests: an XLM-RoBERTa-style reader and encoder (sentencepiece
Unigram tokenizer, <s>/</s>, no token_type_ids, positions offset by padding_idx) and an
mBERT-style reader (cased multilingual WordPiece). The tokenizers are made here from the
sentences below, offline, the same on every run, in well under a second; weights are random.
Used by fixtures in conftest.py.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections import Counter
from pathlib import Path

# A few plain sentences per language and script (written for these tests).
SENTENCES: dict[str, list[str]] = {
    "en": ["The Normans gave their name to Normandy, a region in northern France.",
           "Rollo was the first ruler of Normandy and swore fealty to King Charles III in 911.",
           "The river Seine flows through Paris before it reaches the sea at Le Havre."],
    "de": ["Die Normannen gaben der Normandie im Norden Frankreichs ihren Namen.",
           "Rollo schwor im Jahr 911 dem König Karl dem Einfältigen die Treue.",
           "Die Straße über die Brücke ist größer und übermäßig breit."],
    "fr": ["Les Normands ont donné leur nom à la Normandie, une région du nord de la France.",
           "La Seine traverse Paris avant d'arriver à la mer près du Havre.",
           "Où est né Guillaume le Conquérant ? À Falaise, en 1028."],
    "ru": ["Норманны дали своё имя Нормандии, области на севере Франции.",
           "Роллон был первым правителем Нормандии.",
           "Река Сена протекает через Париж."],
    "el": ["Οι Νορμανδοί έδωσαν το όνομά τους στη Νορμανδία.",
           "Ο Ρόλλων ήταν ο πρώτος ηγεμόνας της Νορμανδίας."],
    "ar": ["أعطى النورمان اسمهم لمنطقة نورماندي في شمال فرنسا.",
           "كان رولو أول حاكم لنورماندي في عام ٩١١.",
           "هل يمر نهر السين عبر باريس؟ نعم، يمر عبرها."],
    "hi": ["नॉर्मन लोगों ने नॉर्मंडी को अपना नाम दिया।",
           "रोलो नॉर्मंडी का पहला शासक था।"],
    "zh": ["诺曼人把他们的名字给了法国北部的诺曼底地区。",
           "罗洛是诺曼底的第一位统治者，他在911年向国王查理三世宣誓效忠。",
           "塞纳河流经巴黎，然后在勒阿弗尔附近入海。"],
    "ja": ["ノルマン人はフランス北部のノルマンディー地方にその名を与えた。",
           "ロロはノルマンディーの最初の支配者だった。",
           "セーヌ川はパリを流れて海に注ぐ。"],
    "ko": ["노르만족은 프랑스 북부의 노르망디 지역에 이름을 주었다.",
           "롤로는 노르망디의 첫 번째 통치자였다."],
    "th": ["ชาวนอร์มันตั้งชื่อให้แคว้นนอร์มังดีในภาคเหนือของฝรั่งเศส",
           "แม่น้ำแซนไหลผ่านกรุงปารีส"],
}
# Scripts written without spaces between words: random "words" are runs of characters.
UNSPACED = ("zh", "ja", "th")
# Odd characters for the offsets: full-width forms and ligatures change under NFKC, the
# combining accent and the emoji are several code points, the NBSP is a space.
ODD = ["ＡＢＣ１２３", "ﬁnal", "e\u0301te\u0301", "🙂", "x\u00a0y", "Ñoño", "½", "٣٤٥"]


def training_text() -> list[str]:
    return [s for group in SENTENCES.values() for s in group] + [" ".join(ODD)]


def words(language: str) -> list[str]:
    out: list[str] = []
    for sentence in SENTENCES[language]:
        if language in UNSPACED:
            out.extend(sentence[i:i + 3] for i in range(0, len(sentence), 3))
        else:
            out.extend(sentence.split())
    return out


def random_text(rng: random.Random, n_words: int, languages: list[str] | None = None) -> str:
    """Random words of one or two languages (and now and then an odd character), with varied
    whitespace and punctuation between them."""
    languages = languages or rng.sample(sorted(SENTENCES), rng.choice([1, 1, 2]))
    pool = [w for lang in languages for w in words(lang)]
    parts = []
    for _ in range(n_words):
        parts.append(rng.choice(ODD) if rng.random() < 0.03 else rng.choice(pool))
        glue = rng.choice([" ", " ", " ", "  ", "\n", ". ", ", ", "\n\n", "。", "، "])
        unspaced = any(lang in UNSPACED for lang in languages)
        parts.append("" if unspaced and rng.random() < 0.5 else glue)
    return "".join(parts).strip()


def unigram_pieces(size: int = 800) -> list[tuple[str, float]]:
    """A sentencepiece-style Unigram vocabulary from the sentences above, the same on every
    run (tokenizers' UnigramTrainer is not deterministic): every character, then the commonest
    pieces of up to 6 characters of "▁"-prefixed words; scores are log frequencies."""
    counts: Counter[str] = Counter()
    for sentence in training_text():
        for word in unicodedata.normalize("NFKC", sentence).split():
            word = "▁" + word
            for i in range(len(word)):
                for j in range(i + 1, min(len(word), i + 6) + 1):
                    counts[word[i:j]] += 1
    singles = sorted(p for p in counts if len(p) == 1)
    longer = sorted((p for p in counts if len(p) > 1 and counts[p] > 1),
                    key=lambda p: (-counts[p] * len(p), p))[:size]
    total = sum(counts.values())
    return [(p, math.log(counts[p] / total)) for p in singles + longer]


def unigram_tokenizer(legacy: bool = True):
    """An XLM-R-style fast tokenizer: sentencepiece Unigram, ids <s>=0 <pad>=1 </s>=2 <unk>=3,
    <mask> last, `<s> A </s></s> B </s>`. `legacy`: the pre-tokenizer of XLM-R checkpoints on
    the hub (WhitespaceSplit then Metaspace: words exclude the spaces); else Metaspace alone,
    as transformers converts a sentencepiece model today (words start with their space)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    tokenizer = Tokenizer(models.Unigram(specials + unigram_pieces(), unk_id=3))
    # sentencepiece's nmt_nfkc + XLM-R's collapsing of runs of spaces
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Replace(Regex(r"[\n\t\r]"), " "),
        normalizers.Replace(Regex(" {2,}"), " ")])
    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), metaspace]) \
        if legacy else metaspace
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    return XLMRobertaTokenizerFast(tokenizer_object=tokenizer, model_max_length=512)


def wordpiece_tokenizer(folder: Path, size: int = 800):
    """An mBERT-style tokenizer: cased WordPiece over many scripts, CJK characters apart.
    Its vocab.txt (the same on every run): every character, alone and as a "##" continuation,
    then the commonest words."""
    from tokenizers import normalizers, pre_tokenizers
    from transformers import BertTokenizerFast

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                            strip_accents=False, lowercase=False)
    counts: Counter[str] = Counter()
    for sentence in training_text():
        pieces = pre_tokenizers.BertPreTokenizer().pre_tokenize_str(normalizer.normalize_str(sentence))
        counts.update(piece for piece, _ in pieces)
    chars = sorted({c for word in counts for c in word})
    common = sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))[:size]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars), *common]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=False,
                             tokenize_chinese_chars=True, strip_accents=None, model_max_length=512)


def _xlmr_config(vocab_size: int):
    from transformers import XLMRobertaConfig

    # the shape of xlm-roberta-base's config, tiny: 514 positions (padding_idx 1 + 1 + 512)
    return XLMRobertaConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=64, max_position_embeddings=514,
                            type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)


def save(model, tokenizer, path: Path) -> Path:
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def xlmr_reader(path: Path, seed: int, legacy: bool = True) -> Path:
    import torch
    from transformers import XLMRobertaForQuestionAnswering

    torch.manual_seed(seed)
    tokenizer = unigram_tokenizer(legacy=legacy)
    model = XLMRobertaForQuestionAnswering(_xlmr_config(len(tokenizer)))
    with torch.no_grad():  # spread the logits so that spans are well separated
        model.qa_outputs.weight.mul_(20)
    return save(model, tokenizer, path)


def xlmr_encoder(path: Path, seed: int) -> Path:
    import torch
    from transformers import XLMRobertaModel

    torch.manual_seed(seed)
    tokenizer = unigram_tokenizer()
    return save(XLMRobertaModel(_xlmr_config(len(tokenizer)), add_pooling_layer=False), tokenizer, path)


def bert_encoder_with_unigram(path: Path, seed: int) -> Path:
    """paraphrase-multilingual-MiniLM-L12-v2's shape: a BertModel (absolute positions, token
    types) under an XLM-R sentencepiece tokenizer (pad id 1, <s>/</s>)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    tokenizer = unigram_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    return save(BertModel(config, add_pooling_layer=False), tokenizer, path)


def mbert_reader(path: Path, seed: int) -> Path:
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(seed)
    tokenizer = wordpiece_tokenizer(path)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    model = BertForQuestionAnswering(config)
    with torch.no_grad():
        model.qa_outputs.weight.mul_(20)
    return save(model, tokenizer, path)


def xlmr_sentencepiece_reader(path: Path, seed: int) -> Path:
    """An XLM-R reader as many hub checkpoints are: a `sentencepiece.bpe.model` and no
    tokenizer.json, so that transformers converts the tokenizer (needs `sentencepiece`).
    The sentencepiece model is trained here: ids as XLM-R's (<unk> 0, <s> 1, </s> 2; fairseq
    adds 1 and puts <pad> at 1), nmt_nfkc normalization."""
    import io

    import sentencepiece
    import torch
    from transformers import XLMRobertaForQuestionAnswering, XLMRobertaTokenizer

    path.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(training_text() * 4), model_writer=model, vocab_size=500,
        model_type="unigram", character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        normalization_rule_name="nmt_nfkc", hard_vocab_limit=False, num_threads=1, minloglevel=2)
    spm_file = path / "source.spm"
    spm_file.write_bytes(model.getvalue())
    tokenizer = XLMRobertaTokenizer(vocab_file=str(spm_file), model_max_length=512)  # the slow one
    torch.manual_seed(seed)
    reader = XLMRobertaForQuestionAnswering(_xlmr_config(len(tokenizer)))
    with torch.no_grad():
        reader.qa_outputs.weight.mul_(20)
    save(reader, tokenizer, path)
    spm_file.unlink()
    return path
