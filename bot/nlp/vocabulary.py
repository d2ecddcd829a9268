"""Reads the entity vocabulary (data/entities.yml): lookup tables and synonyms."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import yaml

from bot.paths import ENTITIES_FILE


def _examples(block: dict) -> List[str]:
    return [
        line.strip()[2:].strip()
        for line in block.get("examples", "").splitlines()
        if line.strip().startswith("- ")
    ]


def lookups(path: Path = ENTITIES_FILE) -> Dict[str, List[str]]:
    """Entity label -> every spelling that should be recognised as that entity."""
    nlu = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]
    return {b["lookup"]: _examples(b) for b in nlu if "lookup" in b}


def synonyms(path: Path = ENTITIES_FILE) -> Dict[str, str]:
    """Spelling -> canonical value (canonical values map to themselves)."""
    nlu = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]
    mapping: Dict[str, str] = {}
    for block in nlu:
        if "synonym" in block:
            canonical = block["synonym"]
            mapping[canonical] = canonical
            for spelling in _examples(block):
                mapping[spelling] = canonical
    return mapping


def canonical(value: str, path: Path = ENTITIES_FILE) -> str:
    value = value.strip().lower()
    return synonyms(path).get(value, value)
