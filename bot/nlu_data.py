"""Reading Rasa NLU YAML: example lines of a block, and example texts without annotations.

Shared by the entity vocabulary, the held-out evaluation and the training-data export,
so all three read a file the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

import yaml

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def block_examples(block: dict) -> List[str]:
    """The `- ` lines of a block's `examples`, as written (annotations kept)."""
    return [
        line.strip()[2:].strip()
        for line in str(block.get("examples", "")).splitlines()
        if line.strip().startswith("- ")
    ]


def plain(text: str) -> str:
    """An NLU example without its entity annotations."""
    return ANNOTATION.sub(r"\1", text).strip()


def intent_examples(path: Path) -> List[Tuple[str, str]]:
    """(example text without annotations, intent) for every intent block of an NLU file."""
    nlu = (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("nlu") or []
    return [
        (plain(line), block["intent"])
        for block in nlu
        if isinstance(block, dict) and "intent" in block
        for line in block_examples(block)
    ]
