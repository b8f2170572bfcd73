"""The reader's cost levers (issue 15): int8 variants of the bundled reader and reading in steps.

    python benchmarks/reader_precision.py speed      # ms per window of each variant, ~2 min
    python benchmarks/reader_precision.py f1 NAME... # SQuAD F1 of variants, ~5 min each
    python benchmarks/reader_precision.py steps      # the stop rule's sweep (float32), ~8 min

Variants are made from the bundled reader's cached float32 ONNX copy into benchmarks/.cache.
F1 is measured on the 12 articles at the end of the SQuAD 1.1 training file (held out from the
bundled reader's training): paragraph mode on all their questions, whole-article mode on 16 per
article. Results and the choice: benchmarks/README.md, "Reader precision and reading less".
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from run import CACHE, DATA

OUT = CACHE / "reader-variants"


def fp32_copy() -> Path:
    from bertcli.backends.onnx_backend import READER, onnx_file, prepared_copy
    from bertcli.models import bundled_reader

    folder = prepared_copy(bundled_reader(), print, READER)
    assert folder is not None, "no ONNX copy of the bundled reader"
    return folder / onnx_file("fp32", READER)


def variants() -> dict[str, Path]:
    """name -> ONNX file (made once)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    from bertcli.backends.int8 import quantize_per_token

    source = fp32_copy()
    OUT.mkdir(parents=True, exist_ok=True)
    names = [n.name for n in onnx.load(str(source)).graph.node if n.op_type == "MatMul"]
    head = [n for n in names if "qa_outputs" in n]

    def layer(*k):
        return [n for n in names if any(f"layer.{i}/" in n for i in k)]

    def nbits(path, exclude=(), level=4, block=32):
        q = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=block, is_symmetric=True,
                                 accuracy_level=level, nodes_to_exclude=list(exclude))
        q.process()
        q.model.save_model_to_file(str(path), use_external_data_format=False)

    def dynamic(path, exclude=(), per_channel=True):
        quantize_dynamic(str(source), str(path), per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_quantize=[n for n in names if n not in head + list(exclude)])

    recipes = {
        "blockwise-b32": lambda p: nbits(p),
        "blockwise-b32-head-edges-float": lambda p: nbits(p, head + layer(0, 5)),
        "blockwise-b32-weights-only": lambda p: nbits(p, level=1),
        "blockwise-b128": lambda p: nbits(p, block=128),
        "dynamic-per-channel": lambda p: dynamic(p),
        "dynamic-per-tensor": lambda p: dynamic(p, per_channel=False),
        "dynamic-layer0-float": lambda p: dynamic(p, layer(0)),
        "dynamic-layer5-float": lambda p: dynamic(p, layer(5)),
        "dynamic-layers05-float": lambda p: dynamic(p, layer(0, 5)),
        "per-token": lambda p: quantize_per_token(source, p, keep_float=lambda n: n in head),
    }
    files = {"fp32": source}
    for name, make in recipes.items():
        path = OUT / f"{name}.onnx"
        if not path.is_file():
            make(path)
        files[name] = path
    return files


def speed(files: dict[str, Path]) -> None:
    import onnxruntime as ort
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(str(files["fp32"].parent / "tokenizer.json"))
    article = held_out()[0]
    text = "\n\n".join(p["context"] for p in article["paragraphs"])
    tok.enable_truncation(384, stride=128, strategy="only_second")
    enc = tok.encode(article["paragraphs"][0]["qas"][0]["question"], text)
    feeds = [{"input_ids": np.array([e.ids]), "token_type_ids": np.array([e.type_ids]),
              "attention_mask": np.array([e.attention_mask])} for e in [enc, *enc.overflowing][:10]]
    sessions = {name: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                for name, path in files.items()}
    times: dict[str, list[float]] = {name: [] for name in files}
    for round_ in range(4):  # interleaved: a change of load hits every variant alike
        for name in (list(files) if round_ % 2 else list(files)[::-1]):
            began = time.perf_counter()
            for feed in feeds:
                sessions[name].run(None, feed)
            times[name].append((time.perf_counter() - began) * 1000 / len(feeds))
    base = statistics.median(times["fp32"])
    for name, values in times.items():
        ms = statistics.median(values)
        print(f"{name:34s} {ms:7.1f} ms/window  {base / ms:.2f}x")


def held_out() -> list[dict]:
    with gzip.open(DATA / "squad1.1-train.json.gz", "rt", encoding="utf-8") as handle:
        return json.load(handle)["data"][-12:]


def f1(files: dict[str, Path], names: list[str], steps: list[tuple[float, int]] | None = None) -> None:
    from bertcli.ask import asker as qa
    from bertcli.backends.onnx_backend import _SessionLoader
    from bertcli.eval import squad

    path = CACHE / "held-out-12.json"
    path.write_text(json.dumps({"version": "1.1", "data": held_out()}), encoding="utf-8")
    articles = squad.load_articles(path)
    every = list(squad.iter_questions(articles))
    spread = squad.spread(articles, 16)
    keep = {q.id for q in spread}
    whole = [squad.Article(a.title, a.text, tuple(q for q in a.questions if q.id in keep))
             for a in squad.whole_articles(articles)]
    asker = qa.Asker(offline=True, precision="fp32")
    for name in names:
        asker.reader._loader = _SessionLoader(files[name])
        for sure, step in steps or [(qa.SURE_MARGIN, qa.READ_STEP)]:
            setattr(qa, "SURE_MARGIN", sure)  # noqa: B010 - the constants ask reads per call
            setattr(qa, "READ_STEP", step)  # noqa: B010
            predictions, _ = squad.predict_whole(asker, [a for a in whole if a.questions], False)
            score = squad.score(spread, predictions)
            print(f"{name} step {step} margin {sure}: whole-article EM {score['exact_match']:.2f} "
                  f"F1 {score['f1']:.2f} ({len(spread)} questions)", flush=True)
        if steps is None:
            predictions, _ = squad.predict(asker, every, False)
            score = squad.score(every, predictions)
            print(f"{name}: paragraph EM {score['exact_match']:.2f} F1 {score['f1']:.2f} "
                  f"({len(every)} questions)", flush=True)


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "speed"
    files = variants()
    if what == "speed":
        speed(files)
    elif what == "f1":
        f1(files, sys.argv[2:] or ["fp32", "dynamic-per-channel"])
    elif what == "steps":
        f1(files, ["fp32"], [(1e9, 10), (20.0, 3), (12.0, 3), (20.0, 2), (12.0, 4), (20.0, 4)])
    else:
        raise SystemExit(f"unknown: {what} (speed, f1, steps)")


if __name__ == "__main__":
    main()
