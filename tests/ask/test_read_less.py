"""Reading less per question: `read_passages(sure=...)` stops once the reader is sure, and the
reader's int8 copy (`ask --precision int8`) is per-token int8 (backends/int8.py)."""

import numpy as np
import pytest

from bertcli.ask import asker as qa
from bertcli.ask.asker import Asker
from bertcli.ask.spans import rank_prior, read_passages
from bertcli.backends import onnx_backend as fast
from bertcli.models import ResolvedModel

PASSAGES = [
    "Bread is baked in ovens in many villages of the valley.",
    "The Norse leader was Rollo, who swore fealty to the king.",
    "Rivers run through the valley to the sea in the west.",
    "Sheep graze on the hills above the villages in summer.",
    "Markets open on Tuesdays and sell cheese and wool there.",
    "The old mill stands by the bridge over the second river.",
    "Snow covers the passes from November until the spring.",
]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTCLI_NO_ONNX", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def reader(tiny_qa_dir):
    return Asker(model=str(tiny_qa_dir), device="cpu").reader


def contexts_of(passages):
    contexts, offset = [], 0
    for p in passages:
        contexts.append((offset, p))
        offset += len(p) + 2
    return contexts


def scripted_logits(reader, sure_word: str, sure_value: float, seen: list[str]):
    """Logits that put an answer of `sure_value` (start + end over "no answer") on
    `sure_word` and a weak one on the first word of every other passage; `seen` records the
    first context word of each window read."""

    def logits(windows, batch_size=1):
        out = []
        for w in windows:
            ids = w["input_ids"]
            tokens = [reader.tokenizer.id_to_token(i).lower() for i in ids]
            first = tokens.index("[sep]") + 1  # question first: the context follows [SEP]
            seen.append(tokens[first])
            start, end = np.full(len(ids), -8.0, np.float32), np.full(len(ids), -8.0, np.float32)
            start[0] = end[0] = 0.0
            k = next((i for i, t in enumerate(tokens) if i >= first and t.startswith(sure_word)), None)
            if k is not None:
                start[k] = end[k] = sure_value / 2
            else:
                start[first] = end[first] = 0.5  # a weak answer: value 1 over "no answer"
            out.append((start, end))
        return out

    return logits


def test_a_sure_answer_in_the_first_step_stops_reading_and_keeps_the_top_answer(reader, monkeypatch):
    contexts = contexts_of(PASSAGES)
    # the retriever ranked the Rollo passage first, then the others in document order
    ranks = [1, 0, 2, 3, 4, 5, 6]
    priors = [rank_prior(r) for r in ranks]
    seen: list[str] = []
    monkeypatch.setattr(reader, "logits", scripted_logits(reader, "roll", qa.SURE_MARGIN + 5, seen))
    everything = read_passages(reader, "Who was the leader?", contexts, priors=priors)
    assert len(seen) == len(PASSAGES)
    seen.clear()
    staged = read_passages(reader, "Who was the leader?", contexts, priors=priors,
                           sure=qa.SURE_MARGIN, step=2)
    # read best rank first, two at a time; Rollo (rank 0) is sure: the rest is not read
    assert sorted(seen) == ["bread", "the"]
    assert staged and staged[0].text == everything[0].text == "Rollo"
    assert (staged[0].start, staged[0].end) == (everything[0].start, everything[0].end)
    assert staged[0].score >= everything[0].score  # fewer windows share the probability


def test_without_a_sure_answer_everything_is_read_and_nothing_changes(reader, monkeypatch):
    contexts = contexts_of(PASSAGES)
    priors = [rank_prior(r) for r in range(len(PASSAGES))]
    seen: list[str] = []
    # "Rollo" is the best answer but not a sure one: every passage is read, as without `sure`
    monkeypatch.setattr(reader, "logits", scripted_logits(reader, "roll", 3.0, seen))
    everything = read_passages(reader, "Who was the leader?", contexts, top_k=3, priors=priors)
    seen.clear()
    staged = read_passages(reader, "Who was the leader?", contexts, top_k=3, priors=priors,
                           sure=qa.SURE_MARGIN, step=2)
    assert len(seen) == len(PASSAGES)
    assert staged == everything and staged[0].text == "Rollo"


def test_ask_reads_in_steps_by_default(tiny_qa_dir, monkeypatch):
    """`Asker.ask` on a long document hands read_passages the stop rule."""
    calls: list[dict] = []
    real = qa.read_passages

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(qa, "read_passages", spy)
    asker = Asker(model=str(tiny_qa_dir), device="cpu")
    text = "\n\n".join(PASSAGES * 60)  # beyond FULL_READ_TOKENS: retrieved passages
    asker.ask(text, ["Who was the leader?"])
    assert calls and calls[0]["sure"] == qa.SURE_MARGIN and calls[0]["priors"]


def test_the_readers_int8_copy_is_per_token_int8_and_auto_stays_fp32(cache, tiny_qa_dir):
    import onnx

    asker = Asker(model=str(tiny_qa_dir), device="cpu")
    assert isinstance(asker.reader, fast.FastReader) and asker.reader.precision == "fp32"
    assert Asker(model=str(tiny_qa_dir), device="cpu", precision="int8").reader.precision == "int8"
    model = ResolvedModel("tiny", tiny_qa_dir, "directory")
    folder = fast.prepared_dir(model, fast.READER)
    graph = onnx.load(str(folder / fast.onnx_file("int8", fast.READER))).graph
    ops = [n.op_type for n in graph.node]
    assert "MatMulNBits" not in ops and "MatMulIntegerToFloat" in ops
    # the answer head stays float32: the last MatMul of the graph is a plain one
    assert [n for n in graph.node if n.op_type.startswith("MatMul")][-1].op_type == "MatMul"
    # its cache key is not the encoder's: a new way of making the int8 copy prepares it again
    assert fast.model_key(model, fast.READER) != fast.model_key(model, fast.ENCODER)
