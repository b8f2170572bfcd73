"""The fast CPU path for sentence encoders: ONNX Runtime + the Rust tokenizers, no torch.

A cold `bertcli summarize` spends most of its time importing torch and transformers. So the
first time a model is used on CPU, bertcli exports it to ONNX (with torch, in bertcli.hf) and
caches it, in float32 and in int8; later runs load only numpy, onnxruntime and tokenizers.
torch stays the fallback: when onnxruntime is missing, the export fails, a GPU is wanted, or
BERTCLI_NO_ONNX=1.

int8 is block-wise: weights in blocks of INT8_BLOCK values with one scale each, and the
activations quantized the same way on the fly (ONNX Runtime's MatMulNBits, 8 bits, int8
compute). Per-tensor dynamic quantization was 2.4x faster than float32 but changed the picked
sentences for 22% of CNN/DailyMail articles; blocks of 32 are ~1.3x faster and keep the
picks of 94-96% (benchmarks/precision.py; blocks of 64/128 were barely faster and kept fewer
on held-out text).

Cache: $BERTCLI_CACHE, else $XDG_CACHE_HOME/bertcli, else ~/.cache/bertcli; one folder per model
and version of its files, so an updated model is prepared again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .models import WEIGHT_FILES, ResolvedModel

PRECISIONS = ("auto", "fp32", "int8")
STORED = ("fp32", "int8")  # the copies prepare() writes
DEFAULT_PRECISION = "auto"
# What `auto` means per strategy: int8 where the numerics change is safe for a default (same
# sentences as float32 for at least 90% of articles, ROUGE within 0.3: central 94%, -0.13).
# `cluster` is the tutorial's method, kept exact so it reproduces the tutorial: k-means turns
# small differences into other picks (int8: 92%).
AUTO_PRECISION = {"central": "int8", "cluster": "fp32", "learned": "int8"}  # `lead` embeds nothing
INT8_BLOCK = 32
# Sentences per forward pass are capped by padded tokens, not by count: length-sorted batches
# of ~200 tokens waste little on padding and keep activations in cache (1.5x faster than 32
# sentences a batch on CNN/DailyMail).
BATCH_TOKENS = 192
MAX_BATCH = 64


def check_precision(precision: str) -> None:
    from .errors import UsageError

    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")


def effective_precision(precision: str, strategy: str) -> str:
    """`auto` resolved for a summary strategy; fp32 and int8 are taken as asked."""
    return AUTO_PRECISION.get(strategy, "fp32") if precision == "auto" else precision


# Bump when the exported graph or the folder layout changes: old copies are then ignored.
FORMAT_VERSION = 3
META = "meta.json"


def cache_root() -> Path:
    if os.environ.get("BERTCLI_CACHE"):
        return Path(os.environ["BERTCLI_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bertcli"


def onnx_file(precision: str) -> str:
    return f"encoder.{precision}.onnx"


def model_key(model: ResolvedModel) -> str:
    """Changes whenever the model's config or weights change (size and mtime)."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION}-int8b{INT8_BLOCK}\0{model.path}".encode())
    config = model.path / "config.json"
    digest.update(config.read_bytes() if config.is_file() else b"")
    for name in sorted(WEIGHT_FILES):
        path = model.path / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def prepared_dir(model: ResolvedModel) -> Path:
    # A directory's own name (however the user spelt its path); a hub id as it is.
    label = model.path.name if model.origin == "directory" else model.name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", label.strip("/"))[-60:] or "model"
    return cache_root() / "onnx" / f"{slug}-{model_key(model)}"


def is_prepared(folder: Path) -> bool:
    return (folder / META).is_file() and all((folder / onnx_file(p)).is_file() for p in STORED)


def runtime_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers"))


def gpu_present() -> bool:
    """An NVIDIA driver is loaded: `--device auto` then prefers torch on the GPU."""
    return os.path.exists("/proc/driver/nvidia/version")


def prepare(model: ResolvedModel, notice: Callable[[str], None]) -> Path:
    """Export `model` to ONNX (float32 and int8) into the cache, once. Needs torch."""
    folder = prepared_dir(model)
    if is_prepared(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    notice(f"preparing a fast CPU copy of {model.name} (once; cached in {folder.parent})")
    began = time.perf_counter()
    from . import hf

    work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=folder.parent))
    try:
        meta = hf.export_encoder_onnx(model, work / onnx_file("fp32"), work / "tokenizer.json")
        quantize_int8(work / onnx_file("fp32"), work / onnx_file("int8"))
        meta.update(format=FORMAT_VERSION, model=model.name, source=str(model.path),
                    seconds=round(time.perf_counter() - began, 1))
        (work / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            os.rename(work, folder)  # atomic: readers never see half a folder
        except OSError:
            if not is_prepared(folder):  # not a lost race with another process: a real error
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return folder


def quantize_int8(source: Path, target: Path) -> None:
    """Block-wise int8 copy of the float32 graph: every MatMul with constant weights becomes
    MatMulNBits (8 bits, symmetric, INT8_BLOCK per block, accuracy level 4 = int8 compute)."""
    import logging

    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quiet = [logging.getLogger(), logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.ERROR)  # the quantizer reports every node it visits
    try:
        quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=INT8_BLOCK,
                                         is_symmetric=True, accuracy_level=4)
        quantizer.process()
        quantizer.model.save_model_to_file(str(target), use_external_data_format=False)
    finally:
        for log, level in zip(quiet, levels):
            log.setLevel(level)


def batches(lengths: Sequence[int], max_tokens: int = BATCH_TOKENS,
            max_rows: int = MAX_BATCH) -> List[List[int]]:
    """Indices grouped for forward passes: sorted by length, each group at most `max_rows`
    sequences and `max_tokens` tokens once padded to its longest (one sequence always fits)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: List[List[int]] = []
    current: List[int] = []
    for i in order:  # ascending, so the newcomer sets the padded width
        if current and ((len(current) + 1) * lengths[i] > max_tokens or len(current) >= max_rows):
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


class _SessionLoader:
    """Opens an ONNX Runtime session on a thread: reading and optimising the graph releases
    the GIL, so it overlaps the spaCy import and the reading of the first document."""

    def __init__(self, path: Path):
        self._result: Dict[str, Any] = {}
        self._thread = threading.Thread(target=self._load, args=(path,), daemon=True)
        self._thread.start()

    def _load(self, path: Path) -> None:
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            # One tiny run: some builds load 8-bit MatMulNBits but cannot run it (e.g. on ARM).
            ids = np.ones((1, 4), dtype=np.int64)
            session.run(None, {"input_ids": ids, "attention_mask": ids})
            self._result["session"] = session
        except BaseException as err:  # re-raised in the caller's thread
            self._result["error"] = err

    def get(self):
        self._thread.join()
        if "error" in self._result:
            raise self._result["error"]
        return self._result["session"]


class FastEncoder:
    """bertcli.hf.Encoder's interface on ONNX Runtime (CPU), same tokenization and pooling.
    The session opens in the background; the first use waits for it."""

    def __init__(self, model: ResolvedModel, folder: Path, precision: str):
        import tokenizers

        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        self.name = model.name
        self.precision = precision
        self.max_tokens = int(meta["max_tokens"])
        self.pad_id = int(meta["pad_token_id"])
        self.unk_id = int(meta["unk_token_id"])
        self.hidden_size = int(meta["hidden_size"])
        self.tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self._loader = _SessionLoader(folder / onnx_file(precision))

    @property
    def session(self):
        """The ONNX Runtime session, once its loading thread is done (errors surface here)."""
        return self._loader.get()

    def token_ids(self, texts: Sequence[str], special_tokens: bool = False, limit: int = 0) -> List[List[int]]:
        self.tokenizer.enable_truncation(min(limit or self.max_tokens, self.max_tokens))
        encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=special_tokens)
        return [e.ids if e.ids else [self.unk_id] for e in encoded]

    def embed_normalized(self, texts: Sequence[str], max_tokens: int = 256) -> np.ndarray:
        vectors = self._mean_hidden(self.token_ids(texts, special_tokens=True, limit=max_tokens), 0)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: Sequence[str], layer: int = -2) -> np.ndarray:
        if layer not in (-1, -2):
            raise ValueError("the ONNX encoder exports the last two hidden layers only")
        return self._mean_hidden(self.token_ids(texts), 0 if layer == -1 else 1)

    def _mean_hidden(self, ids: List[List[int]], output: int) -> np.ndarray:
        out = np.zeros((len(ids), self.hidden_size), dtype=np.float32)
        session = self.session
        for chunk in batches([len(i) for i in ids]):
            width = max(len(ids[i]) for i in chunk)
            input_ids = np.full((len(chunk), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, :len(ids[i])] = ids[i]
                mask[row, :len(ids[i])] = 1
            states = session.run(None, {"input_ids": input_ids, "attention_mask": mask})[output]
            weights = mask[:, :, None].astype(np.float32)
            out[chunk] = (states * weights).sum(axis=1) / weights.sum(axis=1)
        return out


def load_fast_encoder(model: ResolvedModel, precision: str,
                      notice: Callable[[str], None]) -> Optional[FastEncoder]:
    """The ONNX encoder for `model`, preparing it on first use; None means: use torch."""
    if os.environ.get("BERTCLI_NO_ONNX") or not runtime_available():
        return None
    try:
        folder = prepare(model, notice)
        return FastEncoder(model, folder, precision)
    except Exception as err:  # any export failure: torch still works
        notice(f"no fast CPU copy of {model.name} ({first_line(err)}); using torch")
        return None


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
