"""The fast CPU path for sentence encoders: ONNX Runtime + the Rust tokenizers, no torch.

A cold `bertcli summarize` spends most of its time importing torch and transformers. So the
first time a model is used on CPU, bertcli exports it to ONNX (with torch, in bertcli.hf) and
caches it, in float32 and in int8 (dynamic quantization of the Linear layers); later runs load
only numpy, onnxruntime and tokenizers. torch stays the fallback: when onnxruntime is missing,
the export fails, a GPU is wanted, or BERTCLI_NO_ONNX=1.

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
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

from .models import WEIGHT_FILES, ResolvedModel

PRECISIONS = ("fp32", "int8")
# int8 is opt-in: on CNN/DailyMail with MiniLM it picked other sentences for 42% of articles
# (benchmarks/precision.py), short of the 90% agreement a default needs.
DEFAULT_PRECISION = "fp32"


def check_precision(precision: str) -> None:
    from .errors import UsageError

    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
# Bump when the exported graph or the folder layout changes: old copies are then ignored.
FORMAT_VERSION = 2
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
    digest = hashlib.sha256(f"v{FORMAT_VERSION}\0{model.path}".encode())
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
    return (folder / META).is_file() and all((folder / onnx_file(p)).is_file() for p in PRECISIONS)


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
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer logs advice on the root logger
        try:
            quantize_dynamic(str(work / onnx_file("fp32")), str(work / onnx_file("int8")),
                                 weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
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


class FastEncoder:
    """bertcli.hf.Encoder's interface on ONNX Runtime (CPU), same tokenization and pooling."""

    def __init__(self, model: ResolvedModel, folder: Path, precision: str):
        import onnxruntime as ort
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
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / onnx_file(precision)), options,
                                            providers=["CPUExecutionProvider"])

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

    def _mean_hidden(self, ids: List[List[int]], output: int, batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(ids), self.hidden_size), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for begin in range(0, len(order), batch_size):
            chunk = order[begin:begin + batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = np.full((len(chunk), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, :len(ids[i])] = ids[i]
                mask[row, :len(ids[i])] = 1
            states = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[output]
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
    except Exception as err:  # any export or load failure: torch still works
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        notice(f"no fast CPU copy of {model.name} ({first}); using torch")
        return None
