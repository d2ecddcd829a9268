"""Reads the entity vocabulary (data/entities.yml): lookup tables and synonyms."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List

import yaml

from bot.nlu_data import block_examples
from bot.paths import ENTITIES_FILE


def lookups(path: Path = ENTITIES_FILE) -> Dict[str, List[str]]:
    """Entity label -> every spelling that should be recognised as that entity."""
    nlu = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]
    return {b["lookup"]: block_examples(b) for b in nlu if "lookup" in b}


@lru_cache(maxsize=4)
def synonyms(path: Path = ENTITIES_FILE) -> Dict[str, str]:
    """Spelling -> canonical value (canonical values map to themselves).

    Cached: the actions canonicalise every entity of every message with it."""
    nlu = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]
    mapping: Dict[str, str] = {}
    for block in nlu:
        if "synonym" in block:
            canonical = block["synonym"]
            mapping[canonical] = canonical
            for spelling in block_examples(block):
                mapping[spelling] = canonical
    return mapping


def canonical(value: str, path: Path = ENTITIES_FILE) -> str:
    value = value.strip().lower()
    return synonyms(path).get(value, value)
