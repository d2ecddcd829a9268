"""The curated facts (data/facts.yml) and how an answer is put together from them.

Answers are never generated: each topic's text is written and reviewed by people, with
its sources and review date. This module picks the variant for the audience, adds
entity-specific paragraphs, the prescriber line, and related topics as buttons.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional

import yaml

from bot.paths import FACTS_FILE

PRESCRIBER_LINE = "Please decide this with a prescriber."


@dataclass(frozen=True)
class Fact:
    topic: str
    title: str
    answer: str
    family: Optional[str]
    extra: Mapping[str, Mapping[str, str]]
    prescriber: bool
    sources: List[str]
    reviewed: str
    related: List[str]


@dataclass
class Answer:
    topic: str
    text: str
    buttons: List[Dict[str, str]] = field(default_factory=list)
    sources: List[str] = field(default_factory=list)


def _fact(topic: str, raw: dict) -> Fact:
    return Fact(
        topic=topic,
        title=raw["title"],
        answer=raw["answer"].strip(),
        family=(raw.get("family") or "").strip() or None,
        extra=raw.get("extra") or {},
        prescriber=bool(raw.get("prescriber", False)),
        sources=list(raw.get("sources") or []),
        reviewed=str(raw.get("reviewed", "")),
        related=list(raw.get("related") or []),
    )


def load(path: Path = FACTS_FILE) -> Dict[str, Fact]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["facts"]
    return {topic: _fact(topic, entry) for topic, entry in raw.items()}


@lru_cache(maxsize=1)
def facts() -> Dict[str, Fact]:
    return load()


def buttons_for(topics: Iterable[str], store: Optional[Dict[str, Fact]] = None) -> List[Dict[str, str]]:
    store = store or facts()
    return [{"title": store[t].title, "payload": f"/{t}"} for t in topics if t in store]


def compose(
    topic: str,
    audience: str = "self",
    entities: Optional[Mapping[str, Iterable[str]]] = None,
    store: Optional[Dict[str, Fact]] = None,
) -> Answer:
    """The answer to `topic`: family framing when asked for, entity extras, prescriber line."""
    store = store or facts()
    fact = store[topic]
    body = fact.family if audience == "family" and fact.family else fact.answer
    paragraphs = [body]
    for entity, values in (entities or {}).items():
        extras = fact.extra.get(entity) or {}
        for value in values:
            extra = extras.get(str(value).lower())
            if extra and extra.strip() not in paragraphs:
                paragraphs.append(extra.strip())
    if fact.prescriber:
        paragraphs.append(PRESCRIBER_LINE)
    return Answer(
        topic=topic,
        text="\n\n".join(paragraphs),
        buttons=buttons_for(fact.related, store),
        sources=fact.sources,
    )
