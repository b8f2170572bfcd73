"""Candidates and their embeddings, cached on disk, for training and tuning the summary scorer.

    python training/embed_cache.py val   [--limit N]      # ../shared/data/cnndm-val.jsonl.gz
    python training/embed_cache.py dev                    # ../shared/data/cnndm-dev.jsonl
    python training/embed_cache.py train [--limit N]      # ../shared/data/cnndm-train-tok.jsonl.gz
    python training/embed_cache.py val --shuffle 1        # each article's sentences shuffled

Each article goes through what `bertcli summarize` does before it scores anything (sentence
splitting, datelines cut, the boilerplate and length filter), and its candidates are embedded
with the encoder the `learned` strategy runs on (bundled all-MiniLM-L6-v2, ONNX Runtime, the
precision given, int8 by default as under `--precision auto`). Training text is tokenised and
lower-cased; `--detok` (default on for train) undoes the tokenisation first (see README).

Resumable: articles are done in chunks of 250, each written atomically to
training/.cache/NAME/chunkNNNN.npz; a rerun skips finished chunks. Sentences are embedded once:
a text already embedded in this run is reused. Keep it to one thread: OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = HERE.parents[1] / "shared" / "data"
CACHE = HERE / ".cache"
FILES = {"val": "cnndm-val.jsonl.gz", "dev": "cnndm-dev.jsonl", "train": "cnndm-train-tok.jsonl.gz"}
CHUNK = 250


def read_records(path: Path, limit=None):
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
                if limit and len(out) >= limit:
                    break
    return out


_CONTRACTION = re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b")
_BEFORE = re.compile(r" ([,.;:?!%)\]])")
_AFTER = re.compile(r"([(\[$]) ")


def detokenize(text: str) -> str:
    """PTB-tokenised text back to ordinary spacing ('do n't' -> "don't", 'a , b' -> 'a, b');
    straight double quotes alternate open/close; '(cnn)' -> '(CNN)' and sentence-initial
    letters upper-cased, so the dateline and boilerplate rules see what raw news looks like."""
    text = _CONTRACTION.sub(r"\1", text)
    text = _BEFORE.sub(r"\1", text)
    text = _AFTER.sub(r"\1", text)
    parts = text.split('"')
    if len(parts) > 1:
        out = parts[0]
        for i, part in enumerate(parts[1:], 1):
            if i % 2:  # opening quote: glue to the next word
                out = out + '"' + part.lstrip()
            else:  # closing quote: glue to the previous word
                out = out.rstrip() + '"' + part
        text = out
    text = re.sub(r"((?:^|(?<=[.?!] ))[a-z][a-z ,.'-]{0,40}?)?\s*\((cnn|ap|afp|reuters|upi)\)",
                  lambda m: (m.group(1) or "").title().strip() + (" " if m.group(1) else "")
                  + "(" + (m.group(2).title() if m.group(2) == "reuters" else m.group(2).upper()) + ")", text)
    text = re.sub(r"(^|[.?!]\"? )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text


def candidates_of(article: str, wanted: int = 3):
    """The candidate sentences `Summarizer.__call__` would score (same rules)."""
    from bertcli.sentences import split_sentences
    from bertcli.summarize.candidates import is_boilerplate, length_filtered, without_dateline

    sentences = [without_dateline(s) for s in split_sentences(article)]
    kept = length_filtered(sentences)
    if len(kept) < wanted:
        kept = [s for s in sentences if not is_boilerplate(s)] or list(sentences)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(FILES))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--shuffle", type=int, default=None)
    parser.add_argument("--precision", default="int8", choices=("int8", "fp32"))
    parser.add_argument("--detok", type=int, default=None, help="1/0; default: 1 for train")
    parser.add_argument("--tok", action="store_true", help="tokenise and lower-case (simulate train)")
    parser.add_argument("--reverse", action="store_true",
                        help="last chunk first (a second process can share the work)")
    args = parser.parse_args()
    detok = args.detok if args.detok is not None else int(args.name == "train")

    from bertcli.backends.onnx_backend import load_fast_encoder
    from bertcli.eval.rouge import shuffle_sentences
    from bertcli.models import bundled_encoder

    records = read_records(DATA / FILES[args.name], args.limit)
    if args.name == "train":  # a fixed random order, so any prefix is a random sample
        order = np.random.default_rng(0).permutation(len(records))
        records = [records[i] for i in order]
    tag = args.name + (f"-shuf{args.shuffle}" if args.shuffle is not None else "") \
        + ("-raw" if args.name == "train" and not detok else "") + ("-tok" if args.tok else "") \
        + ("" if args.precision == "int8" else "-" + args.precision)
    folder = CACHE / tag
    folder.mkdir(parents=True, exist_ok=True)
    encoder = load_fast_encoder(bundled_encoder(), args.precision, lambda m: print(m, file=sys.stderr))
    seen = already_embedded(args.precision)
    starts = list(range(0, len(records), CHUNK))
    for begin in reversed(starts) if args.reverse else starts:
        target = folder / f"chunk{begin // CHUNK:04d}.npz"
        if target.exists():
            continue
        texts, offsets, meta = [], [0], []
        for i, record in enumerate(records[begin:begin + CHUNK], begin):
            article = record["article"]
            if detok:
                article = detokenize(article)
            if args.tok:
                article = tokenize_lower(article)
            if args.shuffle is not None:
                article = shuffle_sentences(article, args.shuffle + i)
            cands = candidates_of(article)
            texts.extend(s.text for s in cands)
            offsets.append(len(texts))
            meta.append({"id": record.get("id", str(i)), "highlights": record["highlights"],
                         "index": [s.index for s in cands]})
        missing = [t for t in dict.fromkeys(texts) if t not in seen]
        if missing:
            for t, v in zip(missing, encoder.embed_normalized(missing)):
                seen[t] = v.astype(np.float32)
        vectors = np.stack([seen[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
        tmp = folder / f".tmp{os.getpid()}.npz"
        np.savez(tmp, vectors=vectors.astype(np.float16), offsets=np.array(offsets),
                 texts=np.array(json.dumps(texts)), meta=np.array(json.dumps(meta)))
        os.replace(tmp, target)
        print(f"{tag}: {begin + len(meta)} articles", file=sys.stderr, flush=True)


def already_embedded(precision: str) -> dict:
    """text -> vector for every sentence already in the cache at this precision."""
    seen: dict = {}
    for folder in CACHE.iterdir() if CACHE.is_dir() else []:
        if not folder.is_dir() or folder.name.endswith("-fp32") != (precision == "fp32"):
            continue
        for path in folder.glob("chunk*.npz"):
            with np.load(path) as data:
                texts = json.loads(str(data["texts"]))
                for t, v in zip(texts, data["vectors"]):
                    seen[t] = v.astype(np.float32)
    return seen


def tokenize_lower(text: str) -> str:
    """A rough PTB-style tokenisation and lower-casing, to measure what the training text's
    form costs on raw text."""
    text = re.sub(r"(n't|'s|'re|'ve|'ll|'d|'m)\b", r" \1", text)
    text = re.sub(r"([,.;:?!\"()%$])", r" \1 ", text)
    return re.sub(r"[ \t]+", " ", text).lower()


if __name__ == "__main__":
    main()
