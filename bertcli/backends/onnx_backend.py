"""The fast CPU path for sentence encoders: ONNX Runtime + the Rust tokenizers, no torch.

A cold `bertcli summarize` spends most of its time importing torch and transformers. So the
first time a model is used on CPU, bertcli exports it to ONNX (with torch, in torch_export) and
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
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .. import checksums, faults, settings
from ..errors import InputError, first_line  # noqa: F401  (re-exported)
from ..files import write_atomically
from ..models import ResolvedModel
from .onnx_cache import (  # noqa: F401  (re-exported)
    ENCODER,
    FORMAT_VERSION,
    INT8_SCHEME,
    META,
    META_KEYS,
    READER,
    STORED,
    cache_root,
    is_prepared,
    model_key,
    onnx_file,
    prepared_dir,
)
from .onnx_models import FastEncoder, FastReader, _SessionLoader  # noqa: F401  (re-exported)
from .pooling import batches  # noqa: F401  (re-exported)


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
    from . import torch_export

    export = torch_export.export_encoder_onnx if kind == ENCODER else torch_export.export_reader_onnx
    remove_stale_work(folder.parent)
    work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=folder.parent))
    fp32, int8 = onnx_file("fp32", kind), onnx_file("int8", kind)
    try:
        meta = export(model, work / fp32, work / "tokenizer.json")
        quantize_int8(work / fp32, work / int8, kind)
        meta.update(format=FORMAT_VERSION, kind=kind, model=model.name, source=str(model.path),
                    seconds=round(time.perf_counter() - began, 1),
                    # size, time and SHA-256 of each file, checked on load (bertcli.checksums):
                    # a truncated or changed copy is prepared again
                    files=checksums.record(work, (fp32, int8, "tokenizer.json")))
        (work / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        checksums.fsync_tree(work)
        faults.point("onnx-export")  # crash tests: whole, but not yet renamed into place
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
    file whose size or SHA-256 is not the one recorded when it was exported (the hash is
    read only when the file's time moved: bertcli.checksums)."""
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
        problem, refreshed = checksums.check(folder, meta["files"])
        if refreshed:  # same bytes, newer time: recorded, so the next load is a stat again
            write_atomically(str(folder / META), json.dumps(meta, indent=2))
        return problem
    except (OSError, ValueError, KeyError, TypeError, AttributeError, InputError) as err:
        return first_line(err)
    return None


def _failure_marker(model: ResolvedModel, kind: str = ENCODER) -> Path:
    return cache_root() / "onnx-failed" / prepared_dir(model, kind).name


def prepared_copy(model: ResolvedModel, notice: Callable[[str], None],
                  kind: str = ENCODER) -> Path | None:
    """The folder of `model`'s ONNX copies, preparing them on first use; None means: use
    torch. A damaged copy is prepared again, once, with a notice."""
    if settings.onnx_disabled() or not runtime_available():
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
