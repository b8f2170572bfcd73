import json
import shutil

import pytest

from bertcli import models
from bertcli.errors import ModelError
from bertcli.models import DEFAULT_ENCODER, bundled_encoder, resolve


def no_network(*args, **kwargs):
    raise AssertionError("the network must not be used here")


def test_local_directory(tiny_encoder_dir, monkeypatch):
    monkeypatch.setattr(models, "hub_status", no_network)
    resolved = resolve(str(tiny_encoder_dir), DEFAULT_ENCODER)
    assert resolved.origin == "directory" and resolved.path == tiny_encoder_dir


@pytest.mark.parametrize("remove,message", [("config.json", "no config.json"),
                                            ("model.safetensors", "no model weights"),
                                            ("vocab.txt", "no tokenizer files")])
def test_broken_directory_names_what_is_missing(tiny_encoder_dir, tmp_path, remove, message):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_encoder_dir, broken)
    (broken / remove).unlink()
    if remove == "vocab.txt":
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (broken / name).unlink(missing_ok=True)
    with pytest.raises(ModelError) as info:
        resolve(str(broken), DEFAULT_ENCODER)
    assert message in info.value.message and str(broken) in info.value.message


def test_unknown_architecture(tiny_encoder_dir, tmp_path):
    broken = tmp_path / "odd"
    shutil.copytree(tiny_encoder_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["model_type"] = "no-such-architecture"
    (broken / "config.json").write_text(json.dumps(config))
    from bertcli.backends import torch_backend as hf

    with pytest.raises(ModelError, match="cannot load the model"):
        hf.Encoder(resolve(str(broken), DEFAULT_ENCODER), "cpu")


def test_reader_refuses_a_plain_encoder(tiny_encoder_dir):
    from bertcli.backends import torch_backend as hf

    with pytest.raises(ModelError, match="not an extractive question-answering model"):
        hf.Reader(resolve(str(tiny_encoder_dir), DEFAULT_ENCODER), "cpu")


def test_missing_directory_path():
    with pytest.raises(ModelError, match="no such model directory"):
        resolve("./no/such/dir", DEFAULT_ENCODER)


def use_cache(monkeypatch, path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(path))


def fake_cache(hf_home, repo_id, source_dir):
    """Lay out a model as huggingface_hub's cache does: models--org--name/snapshots/<rev>."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(source_dir, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    return snapshot


def test_cache_is_used_without_network(tiny_encoder_dir, tmp_path, monkeypatch):
    use_cache(monkeypatch, tmp_path / "hub")
    snapshot = fake_cache(tmp_path, "someone/tiny", tiny_encoder_dir)
    monkeypatch.setattr(models, "hub_status", no_network)
    resolved = resolve("someone/tiny", DEFAULT_ENCODER)
    assert resolved.origin == "cache" and resolved.path == snapshot


def test_offline_default_falls_back_without_touching_the_network(tmp_path, monkeypatch):
    use_cache(monkeypatch, tmp_path / "hub")
    monkeypatch.setattr(models, "hub_status", no_network)
    resolved = resolve(None, DEFAULT_ENCODER, offline=True, fallback=bundled_encoder)
    assert resolved.origin == "bundled" and (resolved.path / "config.json").is_file()


def test_unreachable_hub_falls_back_fast(tmp_path, monkeypatch):
    import requests

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise requests.ConnectionError("no network")

    use_cache(monkeypatch, tmp_path / "hub")
    monkeypatch.setattr(requests, "get", refuse)
    resolved = resolve(None, DEFAULT_ENCODER, fallback=bundled_encoder)
    assert resolved.origin == "bundled"
    assert len(calls) == 1  # one probe, no retries


def test_explicit_model_offline_is_an_error(tmp_path, monkeypatch):
    use_cache(monkeypatch, tmp_path / "hub")
    with pytest.raises(ModelError) as info:
        resolve("someone/not-cached", DEFAULT_ENCODER, offline=True, fallback=bundled_encoder)
    assert "someone/not-cached" in info.value.message
    assert "bertcli models pull someone/not-cached" in info.value.message


def test_unknown_model_on_reachable_hub(tmp_path, monkeypatch):
    use_cache(monkeypatch, tmp_path / "hub")
    monkeypatch.setattr(models, "hub_status", lambda repo_id: "missing")
    with pytest.raises(ModelError, match="no such model on the hub"):
        resolve("someone/typo", DEFAULT_ENCODER)


def test_the_bundled_encoder_is_usable_by_its_names(monkeypatch):
    """`-m all-MiniLM-L6-v2` works offline (models list calls it cached) and is the same model
    directory as the default fallback, so it shares one ONNX copy."""
    from bertcli.models import BUNDLED_ENCODER_NAMES, bundled_encoder, resolve

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in BUNDLED_ENCODER_NAMES:
        resolved = resolve(name, "distilbert-base-uncased", offline=True)
        assert resolved is not None and resolved.path == bundled_encoder().path
        assert resolved.origin == "bundled"
