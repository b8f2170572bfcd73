"""`bertcli models default bundled|hub` and BERTCLI_MODELS: the bundled models as the chosen
default, after which no fallback notice is printed."""

from __future__ import annotations

import json

import pytest

ARTICLE = ("The Loire is the longest river in France. It flows for 1,006 kilometres from the "
           "Massif Central to the Atlantic Ocean at Saint-Nazaire. Its valley is known for its "
           "castles and its vineyards, and it was listed as a World Heritage Site in 2000.")


@pytest.fixture()
def user(tmp_path):
    """A new user's settings folder and a document."""
    doc = tmp_path / "loire.txt"
    doc.write_text(ARTICLE, encoding="utf-8")
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}, doc


def test_default_is_hub_with_a_notice(run_cli, user):
    env, doc = user
    assert run_cli("models", "default", env=env).out.startswith("hub\t")
    proc = run_cli("ask", "How long is the Loire?", doc, "--offline", "--always-answer", env=env)
    assert proc.returncode == 0 and "cannot be downloaded here" in proc.err


def test_models_default_bundled_silences_the_notice(run_cli, user, tmp_path):
    env, doc = user
    proc = run_cli("models", "default", "bundled", env=env)
    assert proc.returncode == 0
    assert json.loads((tmp_path / "config" / "bertcli" / "config.json").read_text())["models"] == "bundled"
    assert run_cli("models", "default", env=env).out.startswith("bundled\t")
    asked = run_cli("ask", "How long is the Loire?", doc, "--offline", "--always-answer", "--format", "json", env=env)
    assert asked.returncode == 0 and asked.err == ""
    assert json.loads(asked.out)["model"] == "bertcli-reader-minilm"
    summary = run_cli("summarize", doc, "-s", "central", "-n", "1", "--offline", env=env)
    assert summary.returncode == 0 and "cannot be downloaded here" not in summary.err
    # back to the hub's defaults: the notice returns
    run_cli("models", "default", "hub", env=env)
    again = run_cli("ask", "How long is the Loire?", doc, "--offline", "--always-answer", env=env)
    assert "cannot be downloaded here" in again.err


def test_environment_variable_wins(run_cli, user):
    env, doc = user
    run_cli("models", "default", "hub", env=env)
    proc = run_cli("ask", "How long is the Loire?", doc, "--offline", "--always-answer",
                   env=dict(env, BERTCLI_MODELS="bundled"))
    assert proc.returncode == 0 and proc.err == ""
    assert run_cli("models", "default", env=dict(env, BERTCLI_MODELS="bundled")).out == "bundled\t(BERTCLI_MODELS)\n"


def test_bad_choice_is_a_usage_error(run_cli, user):
    env, _ = user
    proc = run_cli("models", "default", "local", env=env)
    assert proc.returncode == 2
    assert proc.err == "bertcli: error: models default local: choose one of hub, bundled\n"
