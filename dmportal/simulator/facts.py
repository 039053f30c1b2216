"""Facts derived from the official spec by ``scripts/derive_api_facts.py`` (committed JSON)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

FACTS_PATH = Path(__file__).with_name("api_facts.json")


@cache
def operations() -> dict[str, dict]:
    return json.loads(FACTS_PATH.read_text(encoding="utf-8"))["operations"]


def operation(method: str, template: str) -> dict:
    return operations()[f"{method} {template}"]
