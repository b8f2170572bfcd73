"""A million real passages with their embeddings, for the corpus index benchmarks.

    python benchmarks/corpus_data.py [--rows 1000000]

Writes benchmarks/.cache/corpus-ROWS/ (git-ignored): rows.parquet (id, text), vectors.npy
(float32, L2-normalized, the bundled encoder's int8 ONNX embeddings) and questions.json (500
SQuAD 1.1 dev questions with their embeddings and the id of the passage that answers them).

Where the rows come from, in order:
  1. every SQuAD 1.1 dev paragraph (2,067; embedded here, ~2 minutes on 2 cores), so that
     each question has a passage that holds its answer;
  2. the sentences of the 39,558 CNN/DailyMail training articles that the summary scorer's
     training embedded (training/embed_cache.py train: ~945k real sentences and their
     vectors), when that cache is there;
  3. synthetic rows to reach ROWS if the two fall short: a real row's vector with Gaussian
     noise (sigma 0.05 per dimension, normalized again) and its text. Stated in the results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = HERE.parents[1] / "shared" / "data"
TRAIN_CACHE = HERE.parent / "training" / ".cache" / "train"


def cache_dir(rows: int) -> Path:
    return HERE / ".cache" / f"corpus-{rows}"


def squad_dev() -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(paragraph ids, texts, (question, paragraph id)) of SQuAD 1.1 dev."""
    data = json.loads((DATA / "squad1.1-dev.json").read_text(encoding="utf-8"))["data"]
    ids, texts, questions = [], [], []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            pid = f"squad-{a}-{p}"
            ids.append(pid)
            texts.append(paragraph["context"])
            questions.extend((qa["question"], pid) for qa in paragraph["qas"])
    return ids, texts, questions


def build(rows: int, questions_kept: int = 500) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bertcli.ask.retrieve import Retriever

    out = cache_dir(rows)
    out.mkdir(parents=True, exist_ok=True)
    encoder = Retriever(device="cpu").encoder
    ids, texts, questions = squad_dev()
    vectors = np.lib.format.open_memmap(out / "vectors.tmp.npy", mode="w+", dtype=np.float32,
                                        shape=(rows, 384))
    print(f"embedding {len(texts)} SQuAD dev paragraphs", file=sys.stderr)
    vectors[:len(texts)] = encoder.embed_normalized(texts, batch_size=16)
    filled = len(texts)
    sources = {"squad-dev": len(texts), "cnndm-train-sentences": 0, "synthetic": 0}
    for chunk in sorted(TRAIN_CACHE.glob("chunk*.npz")):
        if filled >= rows:
            break
        z = np.load(chunk)
        chunk_texts = json.loads(str(z["texts"]))
        take = min(rows - filled, len(chunk_texts))
        v = z["vectors"][:take].astype(np.float32)
        vectors[filled:filled + take] = v / np.linalg.norm(v, axis=1, keepdims=True)
        ids.extend(f"{chunk.stem}-{i}" for i in range(take))
        texts.extend(chunk_texts[:take])
        filled += take
        sources["cnndm-train-sentences"] += take
    rng = np.random.default_rng(0)
    real = filled
    while filled < rows:
        take = min(rows - filled, 50_000)
        pick = rng.integers(0, real, take)
        v = vectors[np.sort(pick)] + rng.normal(0, 0.05, (take, 384)).astype(np.float32)
        vectors[filled:filled + take] = v / np.linalg.norm(v, axis=1, keepdims=True)
        ids.extend(f"synthetic-{filled + i}" for i in range(take))
        texts.extend(texts[i] for i in np.sort(pick))
        filled += take
        sources["synthetic"] += take
    vectors.flush()
    del vectors
    (out / "vectors.tmp.npy").rename(out / "vectors.npy")
    pq.write_table(pa.table({"id": ids, "text": texts}), out / "rows.parquet")
    picked = np.random.default_rng(1).permutation(len(questions))[:questions_kept]
    asked = [questions[i] for i in sorted(picked)]
    qv = encoder.embed_normalized([q for q, _ in asked], batch_size=32)
    (out / "questions.json").write_text(json.dumps(
        {"sources": sources, "questions": [{"question": q, "answer_id": pid, "vector": v.tolist()}
                                           for (q, pid), v in zip(asked, qv)]}), encoding="utf-8")
    print(f"{out}: {sources}", file=sys.stderr)
    return out


def load(rows: int) -> tuple[Path, dict]:
    """The cached corpus of `rows` rows (built first when missing)."""
    out = cache_dir(rows)
    if not (out / "questions.json").exists():
        build(rows)
    return out, json.loads((out / "questions.json").read_text(encoding="utf-8"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    build(args.rows)
