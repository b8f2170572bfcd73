"""JSON Schemas (draft 2020-12) of bertcli's JSON records, shipped as package data.

answer: `ask`, `chat`, `serve` POST /ask; summary: `summarize`, `serve` POST /summarize and
`batch summarize` rows; document: `text`. `bertcli schema NAME` prints one.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

NAMES = ("answer", "summary", "document")


def schema_text(name: str) -> str:
    """The schema file `NAME.schema.json` as shipped (its text, unchanged)."""
    if name not in NAMES:
        raise ValueError(f"no schema {name!r} (choose from {', '.join(NAMES)})")
    return resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """The schema `name` as a dict, for a validator."""
    return json.loads(schema_text(name))
