"""Model files are verified before use: ONNX copies (SHA-256 in meta.json) are prepared again
with one notice when a byte changed; pulled models (a manifest beside the snapshot) fail with a
one-line error saying how to fix them, and `models pull` repairs them. No pickle loads in
bertcli/."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bertcli import checksums, models
from bertcli.backends import onnx_backend as fast
from bertcli.errors import ModelError
from bertcli.models import ResolvedModel

BERTCLI = Path(__file__).resolve().parents[2] / "bertcli"


@pytest.fixture()
def tiny(tmp_path, monkeypatch, tiny_encoder_dir):
    monkeypatch.setenv("BERTCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTCLI_NO_ONNX", raising=False)
    return ResolvedModel(str(tiny_encoder_dir), tiny_encoder_dir, "directory")


def flip_same_size(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 4):
        data[at] ^= 0x55
    path.write_bytes(bytes(data))


# --- ONNX copies ---------------------------------------------------------------------------


def test_onnx_copy_with_flipped_bytes_is_prepared_again_once(tiny):
    notices: list[str] = []
    assert fast.load_fast_encoder(tiny, "int8", notices.append) is not None
    path = fast.prepared_dir(tiny) / fast.onnx_file("int8")
    size = path.stat().st_size
    flip_same_size(path)
    assert path.stat().st_size == size
    notices.clear()
    encoder = fast.load_fast_encoder(tiny, "int8", notices.append)
    assert encoder is not None and encoder.session is not None
    assert len(notices) == 2, notices  # damaged ... preparing it again; preparing (the export)
    assert "encoder.int8.onnx does not match its SHA-256" in notices[0]
    assert "preparing it again" in notices[0]
    notices.clear()
    assert fast.load_fast_encoder(tiny, "int8", notices.append).session is not None
    assert notices == []


def test_onnx_check_hashes_only_when_the_time_moved(tiny, monkeypatch):
    assert fast.load_fast_encoder(tiny, "fp32", lambda m: None) is not None
    folder = fast.prepared_dir(tiny)
    hashed: list[str] = []
    real = checksums.sha256_file
    monkeypatch.setattr(checksums, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    assert fast.damage(folder) is None and hashed == []  # size and time match: a stat each
    later = (folder / "tokenizer.json").stat().st_mtime + 10
    os.utime(folder / "tokenizer.json", (later, later))  # touched, not changed
    assert fast.damage(folder) is None and hashed == ["tokenizer.json"]
    assert fast.damage(folder) is None and hashed == ["tokenizer.json"]  # the new time recorded


def test_kill_mid_export_leaves_nothing_read_as_a_copy(tiny, tmp_path):
    code = ("from bertcli.backends import onnx_backend as f; from bertcli.models import "
            f"ResolvedModel as R; from pathlib import Path; p = Path({str(tiny.path)!r}); "
            "f.load_fast_encoder(R(str(p), p, 'directory'), 'fp32', print)")
    env = dict(os.environ, BERTCLI_FAULT="onnx-export:1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    folder = fast.prepared_dir(tiny)
    assert not folder.exists() and list(folder.parent.glob(".prepare-*"))  # whole, unnamed
    notices: list[str] = []
    assert fast.load_fast_encoder(tiny, "fp32", notices.append) is not None
    assert len(notices) == 1 and "preparing a fast CPU copy" in notices[0]


def test_onnx_cache_under_a_regular_file_falls_back_to_torch(tiny, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("BERTCLI_CACHE", str(blocker / "cache"))
    notices: list[str] = []
    assert fast.load_fast_encoder(tiny, "fp32", notices.append) is None
    assert len(notices) == 1 and "using torch" in notices[0] and "Not a directory" in notices[0]


# --- pulled models -------------------------------------------------------------------------


@pytest.fixture()
def pulled(tmp_path, monkeypatch, tiny_encoder_dir):
    """A model "pulled" into a hub-like snapshot (huggingface_hub's download faked)."""
    import shutil

    import huggingface_hub

    snapshot = tmp_path / "hub" / "snapshot"
    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo: ["model.safetensors"])
    calls: list[bool] = []

    def snapshot_download(repo, allow_patterns=None, force_download=False):
        calls.append(force_download)
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(tiny_encoder_dir, snapshot)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(models, "cached_snapshot",
                        lambda repo: snapshot if snapshot.is_dir() else None)
    monkeypatch.setattr(models, "hub_status", lambda repo, timeout=2.0: "ok")
    assert models.download("org/tiny") == snapshot
    return snapshot, calls


def test_pulled_model_with_flipped_bytes_fails_with_how_to_fix(pulled, run_cli, tmp_path):
    snapshot, calls = pulled
    assert (snapshot / checksums.MANIFEST).is_file()
    assert models.resolve("org/tiny", "x", offline=True).path == snapshot  # unchanged: fine
    flip_same_size(snapshot / "model.safetensors")
    with pytest.raises(ModelError) as caught:
        models.resolve("org/tiny", "x", offline=True)
    message = caught.value.message
    assert "model.safetensors does not match its SHA-256" in message and "\n" not in message
    assert "run `bertcli models pull org/tiny` to download it again" in message
    doc = tmp_path / "doc.txt"
    doc.write_text("The river rose. The town slept. Boats waited.", encoding="utf-8")
    proc = run_cli("summarize", "-m", "org/tiny", doc, "--offline")
    assert proc.returncode != 0 and proc.err.count("\n") == 1 and "models pull" in proc.err

    repaired = run_cli("models", "pull", "org/tiny")
    assert repaired.returncode == 0, repaired.err
    assert "damaged" in repaired.err and "downloading it again" in repaired.err
    assert calls == [False, True]  # the repair fetched every file again
    assert checksums.verify_model(snapshot, full=True) is None


def test_pull_of_a_sound_cached_model_hashes_it_and_keeps_it(pulled, run_cli):
    snapshot, calls = pulled
    proc = run_cli("models", "pull", "org/tiny")
    assert proc.returncode == 0 and "already cached" in proc.err and calls == [False]


# --- no pickle from outside ----------------------------------------------------------------


def unsafe_loads(source: str) -> list[str]:
    """Calls that can run code from a file: pickle/dill/joblib loads, torch.load without
    weights_only=True, numpy.load with allow_pickle=True."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        keywords = {k.arg: k.value for k in node.keywords}
        safe = isinstance(keywords.get("weights_only"), ast.Constant) and \
            keywords["weights_only"].value is True
        if name in ("pickle", "cPickle", "dill", "joblib", "cloudpickle") and \
                node.func.attr in ("load", "loads", "Unpickler"):
            found.append(f"{name}.{node.func.attr}")
        elif name == "torch" and node.func.attr == "load" and not safe:
            found.append("torch.load without weights_only=True")
        elif name in ("np", "numpy") and node.func.attr == "load":
            allow = keywords.get("allow_pickle")
            if isinstance(allow, ast.Constant) and allow.value is True:
                found.append("numpy.load(allow_pickle=True)")
    return found


def test_the_scan_finds_unsafe_loads():
    assert unsafe_loads("import pickle\npickle.load(f)\ntorch.load(p)\n"
                        "torch.load(p, weights_only=False)\nnp.load(p, allow_pickle=True)") == [
        "pickle.load", "torch.load without weights_only=True",
        "torch.load without weights_only=True", "numpy.load(allow_pickle=True)"]
    assert unsafe_loads("torch.load(p, weights_only=True)\nnp.load(p)") == []


def test_no_unsafe_load_in_bertcli():
    found = {str(path.relative_to(BERTCLI)): hits for path in sorted(BERTCLI.rglob("*.py"))
             if (hits := unsafe_loads(path.read_text(encoding="utf-8")))}
    assert found == {}
