"""The fast CPU path for sentence encoders: ONNX Runtime + the Rust tokenizers, no torch.

A cold `bertcli summarize` spends most of its time importing torch and transformers. So the
first time a model is used on CPU, bertcli exports it to ONNX (with torch, in torch_backend) and
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

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..models import WEIGHT_FILES, ResolvedModel
from .pooling import batches, masked_mean, mean_pool

STORED = ("fp32", "int8")  # the copies prepare() writes; the precisions a FastEncoder runs in
INT8_BLOCK = 32


# Bump when the exported graph or the folder layout changes: old copies are then ignored.
FORMAT_VERSION = 4  # 4: meta.json records file sizes (a truncated copy is prepared again)
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
    from . import torch_backend

    remove_stale_work(folder.parent)
    work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=folder.parent))
    try:
        meta = torch_backend.export_encoder_onnx(model, work / onnx_file("fp32"),
                                                 work / "tokenizer.json")
        quantize_int8(work / onnx_file("fp32"), work / onnx_file("int8"))
        meta.update(format=FORMAT_VERSION, model=model.name, source=str(model.path),
                    seconds=round(time.perf_counter() - began, 1),
                    # sizes of the files, checked on load: a truncated copy is prepared again
                    sizes={name: (work / name).stat().st_size
                           for name in (onnx_file("fp32"), onnx_file("int8"), "tokenizer.json")})
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


class _SessionLoader:
    """Opens an ONNX Runtime session on a thread: reading and optimising the graph releases
    the GIL, so it overlaps the spaCy import and the reading of the first document."""

    def __init__(self, path: Path):
        self._result: dict[str, Any] = {}
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
    """torch_backend.Encoder's interface on ONNX Runtime (CPU), same tokenization and pooling.
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

    def token_ids(self, texts: Sequence[str], special_tokens: bool = False, limit: int = 0) -> list[list[int]]:
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

    def _mean_hidden(self, ids: list[list[int]], output: int) -> np.ndarray:
        session = self.session

        def pooled(batch: dict[str, np.ndarray]) -> np.ndarray:
            states = session.run(None, batch)[output]
            return masked_mean(states, batch["attention_mask"].astype(np.float32))

        return mean_pool(ids, self.pad_id, self.hidden_size, batches([len(i) for i in ids]), pooled)


# A `.prepare-*` folder older than this was left by a run that was killed: removed.
STALE_WORK_S = 3600.0
# After the export failed for lack of disk space (or permission), it is not retried for this
# long: every run would otherwise spend seconds exporting again.
RETRY_AFTER_S = 86400.0


def remove_stale_work(parent: Path) -> None:
    """Delete `.prepare-*` folders left by interrupted runs (SIGTERM/SIGKILL), ~90 MB each."""
    now = time.time()
    for leftover in parent.glob(".prepare-*"):
        try:
            if now - leftover.stat().st_mtime > STALE_WORK_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def damage(folder: Path) -> str | None:
    """What is wrong with a prepared folder, or None: unreadable metadata or tokenizer, or a
    file whose size is not the one recorded when it was written (truncated)."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        for key in ("max_tokens", "pad_token_id", "unk_token_id", "hidden_size"):
            int(meta[key])
        json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        for name, size in (meta.get("sizes") or {}).items():
            actual = (folder / name).stat().st_size
            if actual != size:
                return f"{name} is {actual:,} bytes, not {size:,}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return first_line(err)
    return None


def _failure_marker(model: ResolvedModel) -> Path:
    return cache_root() / "onnx-failed" / prepared_dir(model).name


def load_fast_encoder(model: ResolvedModel, precision: str,
                      notice: Callable[[str], None]) -> FastEncoder | None:
    """The ONNX encoder for `model`, preparing it on first use; None means: use torch.
    A damaged copy is prepared again, once, with a notice."""
    if os.environ.get("BERTCLI_NO_ONNX") or not runtime_available():
        return None
    marker = _failure_marker(model)
    try:
        if time.time() - marker.stat().st_mtime < RETRY_AFTER_S:
            return None  # the export failed for lack of space lately: torch, quietly
    except OSError:
        pass
    try:
        folder = prepared_dir(model)
        problem = damage(folder) if is_prepared(folder) else None
        if problem is not None:
            notice(f"the fast CPU copy of {model.name} in {folder} is damaged ({problem}); "
                   "preparing it again")
            aside = folder.with_name(f".prepare-damaged-{os.getpid()}-{folder.name}")
            try:
                os.rename(folder, aside)
            except OSError:
                pass
            shutil.rmtree(aside, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
        folder = prepare(model, notice)
        return FastEncoder(model, folder, precision)
    except Exception as err:  # any export failure: torch still works
        notice(f"no fast CPU copy of {model.name} ({first_line(err)}); using torch")
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                                                       errno.EACCES):
            try:  # do not export again on every run while the disk is full
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(f"{first_line(err)}\n", encoding="utf-8")
            except OSError:
                pass
        return None


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
