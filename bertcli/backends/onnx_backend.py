"""The fast CPU path for sentence encoders: ONNX Runtime + the Rust tokenizers, no torch.

A cold `bertcli summarize` spends most of its time importing torch and transformers. So the
first time a model is used on CPU, bertcli exports it to ONNX (with torch, in torch_backend) and
caches it, in float32 and in int8; later runs load only numpy, onnxruntime and tokenizers.
torch stays the fallback: when onnxruntime is missing, the export fails, a GPU is wanted, or
BERTCLI_NO_ONNX=1.

int8 is per token (backends/int8.py): weights in int8 with one scale per output column, each
token's activations quantized on the fly with a scale of its own, products in ONNX Runtime's
MatMulInteger (VNNI/AMX where the CPU has them): 1.6x float32 for the bundled encoder and
reader on this project's CPUs, and the first fast int8 that keeps the summary's picks
(benchmarks/README.md, "int8 per token"). ONNX Runtime's block-wise MatMulNBits (the int8
before) was as exact but no faster than float32 here, and its dynamic per-tensor or
per-channel quantization changed more picks. The reader keeps its answer head (a few thousand
weights that decide the span) in float32; its int8 is opt-in (F1, see bertcli/qa.py).

Cache: $BERTCLI_CACHE, else $XDG_CACHE_HOME/bertcli, else ~/.cache/bertcli; one folder per model
and version of its files, so an updated model is prepared again.
"""

from __future__ import annotations

import errno
import functools
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
from .pooling import MAX_BATCH, Window, batches, masked_mean, mean_pool, run_batches

STORED = ("fp32", "int8")  # the copies prepare() writes; the precisions a FastEncoder runs in
# How the int8 copies are made (in the cache key: a change prepares the models again).
INT8_SCHEME = "per-token-1"


# Bump when the exported graph or the folder layout changes: old copies are then ignored.
FORMAT_VERSION = 4  # 4: meta.json records file sizes (a truncated copy is prepared again)
META = "meta.json"


def cache_root() -> Path:
    if os.environ.get("BERTCLI_CACHE"):
        return Path(os.environ["BERTCLI_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bertcli"


ENCODER, READER = "encoder", "reader"
# What meta.json must hold for each kind of model (checked by `damage`).
META_KEYS = {
    ENCODER: ("max_tokens", "pad_token_id", "unk_token_id", "hidden_size"),
    READER: ("max_tokens", "pad_token_id", "question_first", "input_names", "window_names"),
}


def onnx_file(precision: str, kind: str = ENCODER) -> str:
    return f"{kind}.{precision}.onnx"


def model_key(model: ResolvedModel, kind: str = ENCODER) -> str:
    """Changes whenever the model's config or weights change (size and mtime), or the way
    its int8 copy is made."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION}-{kind}-int8{INT8_SCHEME}\0{model.path}".encode())
    config = model.path / "config.json"
    digest.update(config.read_bytes() if config.is_file() else b"")
    for name in sorted(WEIGHT_FILES):
        path = model.path / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def prepared_dir(model: ResolvedModel, kind: str = ENCODER) -> Path:
    # A directory's own name (however the user spelt its path); a hub id as it is.
    label = model.path.name if model.origin == "directory" else model.name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", label.strip("/"))[-60:] or "model"
    tag = "" if kind == ENCODER else f"-{kind}"
    return cache_root() / "onnx" / f"{slug}{tag}-{model_key(model, kind)}"


def is_prepared(folder: Path, kind: str = ENCODER) -> bool:
    return (folder / META).is_file() and all((folder / onnx_file(p, kind)).is_file() for p in STORED)


def runtime_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers"))


@functools.cache
def int8_dot_products() -> bool:
    """The CPU multiplies int8 without 16-bit saturation: x86 with VNNI or AMX, or 64-bit ARM.
    Elsewhere (x86 with only AVX2/AVX-512) ONNX Runtime's u8s8 products can saturate, so
    `auto` stays float32 there (int8 would be slower and less exact)."""
    import platform

    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    except OSError:
        pass
    return False


def auto_int8() -> str:
    """What a model whose int8 passed its quality bar runs in under `auto` on this CPU."""
    return "int8" if int8_dot_products() else "fp32"


def prepare(model: ResolvedModel, notice: Callable[[str], None], kind: str = ENCODER) -> Path:
    """Export `model` to ONNX (float32 and int8) into the cache, once. Needs torch."""
    folder = prepared_dir(model, kind)
    if is_prepared(folder, kind):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    notice(f"preparing a fast CPU copy of {model.name} (once; cached in {folder.parent})")
    began = time.perf_counter()
    from . import torch_backend

    export = torch_backend.export_encoder_onnx if kind == ENCODER else torch_backend.export_reader_onnx
    remove_stale_work(folder.parent)
    work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=folder.parent))
    fp32, int8 = onnx_file("fp32", kind), onnx_file("int8", kind)
    try:
        meta = export(model, work / fp32, work / "tokenizer.json")
        quantize_int8(work / fp32, work / int8, kind)
        meta.update(format=FORMAT_VERSION, kind=kind, model=model.name, source=str(model.path),
                    seconds=round(time.perf_counter() - began, 1),
                    # sizes of the files, checked on load: a truncated copy is prepared again
                    sizes={name: (work / name).stat().st_size
                           for name in (fp32, int8, "tokenizer.json")})
        (work / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            os.rename(work, folder)  # atomic: readers never see half a folder
        except OSError:
            if not is_prepared(folder, kind):  # not a lost race with another process: a real error
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return folder


def quantize_int8(source: Path, target: Path, kind: str = ENCODER) -> None:
    """The int8 copy of a float32 graph (backends/int8.py); a reader's answer head, its last
    weighted MatMul, stays float32."""
    from .int8 import quantize_per_token

    quantize_per_token(source, target, keep_last=kind == READER)


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
            # One tiny run: a build may load the int8 graph's Microsoft ops but not run them.
            ids = np.ones((1, 4), dtype=np.int64)
            session.run(None, {i.name: ids if i.name != "token_type_ids" else 0 * ids
                               for i in session.get_inputs()})
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

    def embed_normalized(self, texts: Sequence[str], max_tokens: int = 256,
                         batch_size: int = MAX_BATCH) -> np.ndarray:
        ids = self.token_ids(texts, special_tokens=True, limit=max_tokens)
        vectors = self._mean_hidden(ids, 0, batch_size)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: Sequence[str], layer: int = -2) -> np.ndarray:
        if layer not in (-1, -2):
            raise ValueError("the ONNX encoder exports the last two hidden layers only")
        return self._mean_hidden(self.token_ids(texts), 0 if layer == -1 else 1)

    def _mean_hidden(self, ids: list[list[int]], output: int, batch_size: int = MAX_BATCH) -> np.ndarray:
        session = self.session

        def pooled(batch: dict[str, np.ndarray]) -> np.ndarray:
            states = session.run(None, batch)[output]
            return masked_mean(states, batch["attention_mask"].astype(np.float32))

        groups = batches([len(i) for i in ids], max_rows=batch_size)
        return mean_pool(ids, self.pad_id, self.hidden_size, groups, pooled)


class FastReader:
    """torch_backend.Reader's interface on ONNX Runtime (CPU): the same windows (the Rust
    tokenizer with the truncation and stride transformers asks of it) and the same logits."""

    def __init__(self, model: ResolvedModel, folder: Path, precision: str):
        import tokenizers

        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        self.name = model.name
        self.precision = precision
        self.model_max_length = int(meta["max_tokens"])
        self.pad_id = int(meta["pad_token_id"])
        self.cls_id = meta.get("cls_token_id")
        self.question_first = bool(meta["question_first"])
        self.truncation_side = meta.get("truncation_side") or "right"
        self.window_names = list(meta["window_names"])
        self.input_names = list(meta["input_names"])
        self.tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self._loader = _SessionLoader(folder / onnx_file(precision, READER))

    @property
    def session(self):
        return self._loader.get()

    def encode(self, question: str, context: str, max_seq_len: int, doc_stride: int) -> list[Window]:
        """The windows torch_backend.Reader.encode makes (transformers' fast tokenizer calls
        the same Rust tokenizer with these settings)."""
        first, second = (question, context) if self.question_first else (context, question)
        self.tokenizer.enable_truncation(
            max_seq_len, stride=doc_stride,
            strategy="only_second" if self.question_first else "only_first",
            direction=self.truncation_side)
        try:
            encoding = self.tokenizer.encode(first, second)
        finally:
            self.tokenizer.no_truncation()
        windows = []
        for enc in [encoding, *encoding.overflowing]:
            columns = {"input_ids": enc.ids, "attention_mask": enc.attention_mask,
                       "token_type_ids": enc.type_ids}
            windows.append(Window({k: columns[k] for k in self.window_names if k in columns},
                                  enc.sequence_ids, enc))
        return windows

    def question_tokens(self, question: str) -> int:
        return len(self.tokenizer.encode(question, add_special_tokens=False).ids)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def logits(self, windows: list[dict[str, list[int]]], batch_size: int = 1):
        """Start and end logits (float32 numpy) for each window, one window a run (no padding)."""
        session = self.session
        fills = {key: self.pad_id if key == "input_ids" else 0 for key in self.input_names}

        def forward(batch: dict[str, np.ndarray]):
            start, end = session.run(None, batch)
            return list(zip(start, end))

        lengths = [len(w["input_ids"]) for w in windows]
        padded = run_batches(windows, batches(lengths, max_tokens=None, max_rows=batch_size),
                             fills, forward)
        return [(start[:n], end[:n]) for (start, end), n in zip(padded, lengths)]


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


def damage(folder: Path, kind: str = ENCODER) -> str | None:
    """What is wrong with a prepared folder, or None: unreadable metadata or tokenizer, or a
    file whose size is not the one recorded when it was written (truncated)."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        for key in META_KEYS[kind]:
            value = meta[key]
            if key.endswith("_names"):
                if not isinstance(value, list) or not value:
                    raise ValueError(f"{META}: bad {key}")
            elif key != "question_first":
                int(value)
        json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        for name, size in (meta.get("sizes") or {}).items():
            actual = (folder / name).stat().st_size
            if actual != size:
                return f"{name} is {actual:,} bytes, not {size:,}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return first_line(err)
    return None


def _failure_marker(model: ResolvedModel, kind: str = ENCODER) -> Path:
    return cache_root() / "onnx-failed" / prepared_dir(model, kind).name


def prepared_copy(model: ResolvedModel, notice: Callable[[str], None],
                  kind: str = ENCODER) -> Path | None:
    """The folder of `model`'s ONNX copies, preparing them on first use; None means: use
    torch. A damaged copy is prepared again, once, with a notice."""
    if os.environ.get("BERTCLI_NO_ONNX") or not runtime_available():
        return None
    marker = _failure_marker(model, kind)
    try:
        if time.time() - marker.stat().st_mtime < RETRY_AFTER_S:
            return None  # the export failed for lack of space lately: torch, quietly
    except OSError:
        pass
    try:
        folder = prepared_dir(model, kind)
        problem = damage(folder, kind) if is_prepared(folder, kind) else None
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
        return prepare(model, notice, kind)
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


def load_fast_encoder(model: ResolvedModel, precision: str,
                      notice: Callable[[str], None]) -> FastEncoder | None:
    """The ONNX encoder for `model` (None: use torch)."""
    folder = prepared_copy(model, notice, ENCODER)
    try:
        return FastEncoder(model, folder, precision) if folder is not None else None
    except Exception as err:
        notice(f"no fast CPU copy of {model.name} ({first_line(err)}); using torch")
        return None


def load_fast_reader(model: ResolvedModel, precision: str,
                     notice: Callable[[str], None]) -> FastReader | None:
    """The ONNX question-answering reader for `model` (None: use torch). Its session opens
    on a thread: `FastReader.session` waits for it and raises if it cannot run here."""
    folder = prepared_copy(model, notice, READER)
    if folder is None:
        return None
    try:
        return FastReader(model, folder, precision)
    except Exception as err:
        notice(f"cannot load the {precision} fast CPU copy of {model.name} "
               f"({first_line(err)}); using torch")
        return None


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
