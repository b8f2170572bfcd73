"""Where the ONNX copies of models live: one folder per model, kind and version of its files.

$BERTCLI_CACHE, else $XDG_CACHE_HOME/bertcli, else ~/.cache/bertcli.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .. import settings
from ..models import WEIGHT_FILES, ResolvedModel

STORED = ("fp32", "int8")  # the copies prepare() writes; the precisions a FastEncoder runs in
# How the int8 copies are made (in the cache key: a change prepares the models again).
INT8_SCHEME = "per-token-1"


# Bump when the exported graph or the folder layout changes: old copies are then ignored.
FORMAT_VERSION = 5  # 5: meta.json records each file's size, time and SHA-256 (checked on load)
META = "meta.json"


def cache_root() -> Path:
    return settings.cache_dir()


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
