"""The ONNX Runtime encoder: same numbers as torch, prepared once, torch as the fallback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from bertcli.backends import onnx_backend as fast
from bertcli.backends.pooling import MIN_BATCH
from bertcli.models import ResolvedModel
from bertcli.summarize.summarizer import effective_precision

from ..conftest import cnndm_articles


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTCLI_NO_ONNX", raising=False)
    return tmp_path / "cache"


@pytest.fixture()
def tiny(tiny_encoder_dir):
    return ResolvedModel(str(tiny_encoder_dir), tiny_encoder_dir, "directory")


def test_fp32_onnx_matches_torch(cache, tiny):
    from bertcli.backends import torch_backend as hf

    notices = []
    onnx = fast.load_fast_encoder(tiny, "fp32", notices.append)
    assert onnx is not None and len(notices) == 1 and "preparing a fast CPU copy" in notices[0]
    torch_encoder = hf.Encoder(tiny, "cpu")
    texts = ["The river rose three metres overnight.", "Short.", "x " * 700,  # truncated
             "Hundreds of residents were moved to shelters as the water reached the quays."]
    assert onnx.token_ids(texts) == torch_encoder.token_ids(texts)
    assert onnx.token_ids(texts, True, 256) == torch_encoder.token_ids(texts, True, 256)
    np.testing.assert_allclose(onnx.embed(texts), torch_encoder.embed(texts), atol=1e-4)
    np.testing.assert_allclose(onnx.embed_normalized(texts), torch_encoder.embed_normalized(texts),
                               atol=1e-4)


def test_prepared_once_and_keyed_to_the_model_files(cache, tiny, tmp_path):
    notices = []
    fast.load_fast_encoder(tiny, "fp32", notices.append)
    fast.load_fast_encoder(tiny, "int8", notices.append)
    assert len(notices) == 1  # the second load found the cached copy
    folder = fast.prepared_dir(tiny)
    assert fast.is_prepared(folder) and folder.parent == cache / "onnx"
    assert not list(folder.parent.glob(".prepare-*"))  # no half-written leftovers
    # a changed model is another key, so it is prepared again
    import shutil

    changed = tmp_path / "changed"
    shutil.copytree(tiny.path, changed)
    config = json.loads((changed / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (changed / "config.json").write_text(json.dumps(config))
    assert fast.prepared_dir(ResolvedModel(tiny.name, changed, "directory")) != folder


def test_summaries_match_torch(cache, tiny_encoder_dir, monkeypatch):
    from bertcli.summarize.summarizer import Summarizer

    articles = [a["article"] for a in cnndm_articles(4)]
    quiet = lambda message: None  # noqa: E731
    onnx = Summarizer(model=str(tiny_encoder_dir), device="cpu", notice=quiet, precision="fp32")
    assert isinstance(onnx.encoder, fast.FastEncoder) and onnx.encoder.precision == "fp32"
    monkeypatch.setenv("BERTCLI_NO_ONNX", "1")
    reference = Summarizer(model=str(tiny_encoder_dir), device="cpu", notice=quiet, precision="fp32")
    assert not isinstance(reference.encoder, fast.FastEncoder)
    for strategy in ("central", "cluster"):
        for article in articles:
            a = onnx(article, num_sentences=3, strategy=strategy)
            b = reference(article, num_sentences=3, strategy=strategy)
            assert [s.index for s in a.sentences] == [s.index for s in b.sentences]


def test_batches_cover_every_sequence_within_the_token_budget():
    lengths = [30, 5, 200, 31, 12, 12, 64, 7, 400, 29, 28, 33] * 5
    groups = fast.batches(lengths, max_tokens=100, max_rows=4)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        widest = max(lengths[i] for i in group)
        assert len(group) <= 4
        # past MIN_BATCH sequences, the padded tokens stay within the budget
        assert len(group) <= MIN_BATCH or widest * len(group) <= 100
    # length-sorted: padding stays small
    padded = sum(max(lengths[i] for i in g) * len(g) for g in groups)
    assert padded < 1.25 * sum(lengths)


def test_long_sequences_share_a_forward_pass():
    # retrieval passages of ~200 tokens: MIN_BATCH a pass, not one each under the token cap
    groups = fast.batches([200] * 10, max_tokens=192, max_rows=64)
    assert [len(g) for g in groups] == [MIN_BATCH, MIN_BATCH, 2]
    assert [len(g) for g in fast.batches([200] * 10, max_tokens=192, max_rows=2)] == [2] * 5


def test_auto_precision_is_int8_for_learned_only(cache, tiny_encoder_dir, monkeypatch):
    from bertcli.summarize.summarizer import Summarizer

    monkeypatch.setattr(fast, "int8_dot_products", lambda: True)
    assert effective_precision("auto", "learned") == "int8"
    assert effective_precision("auto", "central") == "fp32"
    assert effective_precision("auto", "cluster") == "fp32"
    assert effective_precision("fp32", "learned") == "fp32"
    assert effective_precision("int8", "cluster") == "int8"
    summarizer = Summarizer(model=str(tiny_encoder_dir), device="cpu", notice=lambda m: None)
    assert summarizer.encoder_for("learned").precision == "int8"
    assert summarizer.encoder_for("central").precision == "fp32"


def test_auto_precision_is_fp32_without_int8_dot_products(monkeypatch):
    """Without VNNI/AMX (x86) int8 products can saturate: `auto` stays exact there."""
    monkeypatch.setattr(fast, "int8_dot_products", lambda: False)
    assert effective_precision("auto", "learned") == "fp32"
    assert effective_precision("int8", "learned") == "int8"  # asked for: taken as asked


def test_int8_dot_products_reads_the_cpu_flags(monkeypatch, tmp_path):
    import builtins
    import platform

    fast.int8_dot_products.cache_clear()
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    real_open = builtins.open
    flags = {"now": "fpu avx2 avx512f"}

    def fake_open(path, *args, **kwargs):
        if path == "/proc/cpuinfo":
            info = tmp_path / "cpuinfo"
            info.write_text(f"processor: 0\nflags\t\t: {flags['now']}\n")
            return real_open(info, *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    try:
        assert fast.int8_dot_products() is False
        for vnni in ("avx512_vnni", "avx_vnni", "amx_int8"):
            fast.int8_dot_products.cache_clear()
            flags["now"] = f"fpu avx2 {vnni}"
            assert fast.int8_dot_products() is True
        fast.int8_dot_products.cache_clear()
        monkeypatch.setattr(platform, "machine", lambda: "aarch64")
        assert fast.int8_dot_products() is True
    finally:
        fast.int8_dot_products.cache_clear()


def test_int8_is_per_token_and_close_to_fp32(cache, tiny):
    import onnx

    quiet = lambda message: None  # noqa: E731
    exact = fast.load_fast_encoder(tiny, "fp32", quiet)
    int8 = fast.load_fast_encoder(tiny, "int8", quiet)
    graph = onnx.load(str(fast.prepared_dir(tiny) / fast.onnx_file("int8"))).graph
    constants = {i.name for i in graph.initializer}
    integer = [n for n in graph.node if n.op_type == "MatMulIntegerToFloat"]
    assert integer and not [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in constants]
    # activations are quantized row by row: one scale per token, per-axis QuantizeLinear
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    texts = [a["article"][:300] for a in cnndm_articles(6)]
    a, b = exact.embed_normalized(texts), int8.embed_normalized(texts)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() > 0.999, cosine


def test_int8_picks_the_same_sentences_as_fp32_with_minilm(onnx_cache, monkeypatch):
    """The bar for int8 as the default: same picks for at least 90% of articles (20 here)."""
    from bertcli.models import bundled_encoder_path
    from bertcli.summarize.summarizer import Summarizer

    monkeypatch.setenv("BERTCLI_CACHE", str(onnx_cache))
    monkeypatch.delenv("BERTCLI_NO_ONNX", raising=False)
    model, quiet = str(bundled_encoder_path()), lambda message: None
    exact = Summarizer(model=model, device="cpu", notice=quiet, precision="fp32")
    int8 = Summarizer(model=model, device="cpu", notice=quiet, precision="int8")
    same = 0
    for record in cnndm_articles(20):
        picks = [[s.index for s in summarizer(record["article"], num_sentences=3).sentences]
                 for summarizer in (exact, int8)]
        same += picks[0] == picks[1]
    assert same >= 18


def test_unloadable_int8_copy_falls_back_to_fp32(cache, tiny_encoder_dir, monkeypatch):
    from bertcli.summarize.summarizer import Summarizer

    quiet = lambda message: None  # noqa: E731
    Summarizer(model=str(tiny_encoder_dir), device="cpu", notice=quiet,  # noqa: B018
               strategy="central", precision="int8").encoder
    # A copy that cannot run on this machine (e.g. a build without the int8 kernels); a
    # damaged file would be prepared again instead (tests/test_hostile.py).
    unrunnable = set()
    load = fast._SessionLoader._load

    def fail_some(self, path):
        if path.name in unrunnable:
            self._result["error"] = RuntimeError(f"{path.name} cannot run here")
        else:
            load(self, path)

    monkeypatch.setattr(fast._SessionLoader, "_load", fail_some)
    unrunnable.add(fast.onnx_file("int8"))
    notices = []
    summarizer = Summarizer(model=str(tiny_encoder_dir), device="cpu", notice=notices.append,
                            strategy="central", precision="int8")
    article = cnndm_articles(1)[0]["article"]
    result = summarizer(article, num_sentences=3)
    assert len(result.sentences) == 3
    assert summarizer.encoder.precision == "fp32"
    assert len(notices) == 1 and "cannot load the int8 fast CPU copy" in notices[0]
    assert notices[0].endswith("using float32")
    # and with the float32 copy broken too, torch
    unrunnable.add(fast.onnx_file("fp32"))
    notices.clear()
    summarizer = Summarizer(model=str(tiny_encoder_dir), device="cpu", notice=notices.append,
                            strategy="central")
    assert len(summarizer(article, num_sentences=3).sentences) == 3
    assert not isinstance(summarizer.encoder, fast.FastEncoder)
    assert notices[-1].endswith("using torch")


def test_export_failure_falls_back_to_torch(cache, tiny_encoder_dir, monkeypatch):
    from bertcli.backends import torch_backend, torch_export
    from bertcli.summarize.summarizer import Summarizer

    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(torch_export, "export_encoder_onnx", broken)
    notices = []
    summarizer = Summarizer(model=str(tiny_encoder_dir), device="cpu", notice=notices.append)
    assert isinstance(summarizer.encoder, torch_backend.Encoder)
    assert any("exporter exploded" in n and "using torch" in n for n in notices)
    assert not list((cache / "onnx").glob("*"))  # nothing half-prepared left behind


def test_cold_summarize_does_not_import_torch(run_cli, tiny_encoder_dir, new_user_env, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text(cnndm_articles(1)[0]["article"], encoding="utf-8")
    first = run_cli("summarize", article, "--model", tiny_encoder_dir, "--format", "json")
    assert first.returncode == 0, first.err
    probe = (
        "import sys\n"
        "from bertcli.cli import app\n"  # main() would end the process at once
        "sys.argv = ['bertcli', 'summarize', sys.argv[1], '--model', sys.argv[2], '-f', 'json']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print('IMPORTED', sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, str(article), str(tiny_encoder_dir)],
                          capture_output=True, text=True, env=new_user_env, timeout=120)
    assert "IMPORTED []" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout) == json.loads(first.stdout.decode())


def test_precision_option(run_cli, tiny_encoder_dir):
    proc = run_cli("summarize", "-", "--precision", "fp16", "--model", tiny_encoder_dir, input="x. y.")
    assert proc.returncode == 2 and "fp16: choose one of auto, fp32, int8" in proc.err
    text = " ".join(a["article"] for a in cnndm_articles(1))
    proc = run_cli("summarize", "-", "--precision", "int8", "-n", "3", "--model", tiny_encoder_dir,
                   "--format", "json", input=text)
    assert proc.returncode == 0, proc.err
    assert len(json.loads(proc.out)["sentences"]) == 3


def test_default_learned_summarize_does_not_import_torch(run_cli, new_user_env, tmp_path):
    """The default strategy (learned: bundled encoder + numpy scorer) stays off torch."""
    article = tmp_path / "a.txt"
    article.write_text(cnndm_articles(3)[2]["article"], encoding="utf-8")
    first = run_cli("summarize", article, "-s", "learned", "--offline", "--format", "json")
    assert first.returncode == 0, first.err
    probe = (
        "import sys\n"
        "from bertcli.cli import app\n"
        "sys.argv = ['bertcli', 'summarize', sys.argv[1], '-s', 'learned', '--offline', '-f', 'json']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print('IMPORTED', sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, str(article)],
                          capture_output=True, text=True, env=new_user_env, timeout=120)
    assert "IMPORTED []" in proc.stderr, proc.stderr
    result = json.loads(proc.stdout)
    assert result["strategy"] == "learned" and len(result["sentences"]) == 3
    assert result == json.loads(first.stdout.decode())


def test_per_token_int8_keeps_small_rows_exact_beside_huge_ones(tmp_path):
    """One scale per token: a [SEP]-like row a thousand times larger does not flatten the
    others (one scale per batch would round them to nothing)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from bertcli.backends.int8 import quantize_per_token

    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="proj")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None, 32])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "fp32.onnx")
    assert quantize_per_token(tmp_path / "fp32.onnx", tmp_path / "int8.onnx") == 1
    x = rng.normal(size=(2, 5, 64)).astype(np.float32)
    x[0, 0] *= 1000  # one huge token
    session = ort.InferenceSession(str(tmp_path / "int8.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    want = x @ w
    assert got.shape == want.shape == (2, 5, 32)
    error = np.linalg.norm(got - want, axis=-1) / np.linalg.norm(want, axis=-1)
    assert error.max() < 0.02, error
    # the answer head of a reader (the last weighted MatMul) can stay float32
    assert quantize_per_token(tmp_path / "fp32.onnx", tmp_path / "kept.onnx", keep_last=True) == 0


def test_retriever_falls_back_to_the_float32_copy(onnx_cache, monkeypatch):
    """The retriever's int8 copy that cannot run here gives way to the float32 copy, not to
    torch (as summarize's encoder does)."""
    from bertcli.ask.retrieve import RETRIEVER_NAME, Retriever

    monkeypatch.setenv("BERTCLI_CACHE", str(onnx_cache))
    monkeypatch.delenv("BERTCLI_NO_ONNX", raising=False)
    load = fast._SessionLoader._load

    def fail_int8(self, path):
        if path.name == fast.onnx_file("int8"):
            self._result["error"] = RuntimeError("int8 cannot run here")
        else:
            load(self, path)

    monkeypatch.setattr(fast._SessionLoader, "_load", fail_int8)
    notices = []
    retriever = Retriever(notice=notices.append, precision="int8")
    assert isinstance(retriever.encoder, fast.FastEncoder)
    assert retriever.encoder.precision == "fp32" and retriever.name == RETRIEVER_NAME
    assert [n for n in notices if n.startswith("cannot load")] == [
        "cannot load the int8 fast CPU copy of all-MiniLM-L6-v2 (int8 cannot run here); using float32"]



def test_batches_run_side_by_side_come_back_in_input_order():
    from bertcli.backends.pooling import batches, run_batches

    rows = [{"input_ids": list(range(n))} for n in (5, 1, 9, 3, 7, 2, 8)]
    groups = batches([len(r["input_ids"]) for r in rows], max_tokens=None, max_rows=2)
    seen = []

    def forward(batch):
        seen.append(threading.current_thread().name)
        return [int(row.sum()) for row in batch["input_ids"]]

    want = [sum(range(len(r["input_ids"]))) for r in rows]
    assert run_batches(rows, groups, {"input_ids": 0}, forward) == want
    assert run_batches(rows, groups, {"input_ids": 0}, forward, workers=2) == want
    assert any(name.startswith("bertcli-run") for name in seen)

    def failing(batch):
        raise RuntimeError("the model failed")

    with pytest.raises(RuntimeError, match="the model failed"):
        run_batches(rows, groups, {"input_ids": 0}, failing, workers=2)


@pytest.mark.parametrize(("threads", "cores", "layout"), [
    ("", 2, (2, 1)), ("", 1, (1, 1)), ("", 3, (2, 1)), ("", 8, (2, 4)),
    ("1", 2, (1, 1)), ("3", 8, (1, 3)),
])
def test_runs_at_once_and_threads_per_run(monkeypatch, threads, cores, layout):
    from bertcli.backends import onnx_models

    monkeypatch.setenv("BERTCLI_THREADS", threads)
    monkeypatch.setattr(onnx_models.os, "sched_getaffinity", lambda pid: set(range(cores)),
                        raising=False)
    assert onnx_models.run_layout() == layout


def test_the_reader_tokenizer_gives_each_thread_its_own_windows(tiny_qa_dir, tmp_path, monkeypatch):
    """`encode` switches truncation on and off: threads reading side by side must not see
    another's settings (the windows of each equal those made one at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path / "cache"))
    reader = fast.load_fast_reader(ResolvedModel("tiny", tiny_qa_dir, "directory"), "fp32",
                                   lambda _: None)
    texts = [" ".join(f"word{i}x{j}" for j in range(40 + 37 * i)) for i in range(12)]

    def windows(text):
        return ([w.inputs["input_ids"] for w in reader.encode("which word?", text, 64, 16)],
                reader.token_counts([text, text[:50]]))

    alone = [windows(t) for t in texts]
    with ThreadPoolExecutor(6) as pool:
        for _ in range(5):
            assert list(pool.map(windows, texts)) == alone


def _runs_side_by_side_in_a_child() -> None:
    from bertcli.backends.pooling import run_batches

    rows = [{"input_ids": [1] * n} for n in range(1, 6)]
    got = run_batches(rows, [[0, 1], [2], [3, 4]], {"input_ids": 0},
                      lambda batch: [int(r.sum()) for r in batch["input_ids"]], workers=2)
    sys.exit(0 if got == [1, 2, 3, 4, 5] else 1)


def test_a_forked_child_gets_its_own_pool_not_the_parents_dead_one():
    import multiprocessing

    from bertcli.backends.pooling import run_batches

    def slow(batch):  # long enough that both of the pool's threads start
        time.sleep(0.05)
        return list(batch["input_ids"])

    rows = [{"input_ids": [i]} for i in range(4)]
    run_batches(rows, [[0], [1], [2], [3]], {"input_ids": 0}, slow, workers=2)
    time.sleep(0.5)  # both idle: a copied pool would hand the child's work to them
    child = multiprocessing.get_context("fork").Process(target=_runs_side_by_side_in_a_child)
    child.start()
    child.join(timeout=30)
    if child.exitcode is None:  # waiting on threads that the fork did not copy
        child.kill()
    assert child.exitcode == 0


def test_threads_sharing_an_encoder_get_their_own_token_ids(cache, tiny):
    """`token_ids` sets the tokenizer's truncation: without the lock, threads sharing the
    encoder (a library user's) raised "Already borrowed" or got another's limit."""
    from concurrent.futures import ThreadPoolExecutor

    encoder = fast.load_fast_encoder(tiny, "fp32", lambda _: None)
    texts = [" ".join(f"w{i}x{j}" for j in range(30 + 41 * i)) for i in range(10)]
    calls = [(texts[i:i + 3], i % 2 == 0, 8 + 9 * i) for i in range(len(texts))]
    alone = [encoder.token_ids(*call) for call in calls]
    with ThreadPoolExecutor(6) as pool:
        for _ in range(5):
            assert list(pool.map(lambda call: encoder.token_ids(*call), calls)) == alone
