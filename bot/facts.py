"""The curated facts (data/facts.yml) and how an answer is put together from them.

Answers are never generated: each topic's text is written and reviewed by people, with
its sources and review date. This module

- resolves each fact for every region preset: per-region overrides, `{placeholders}`
  filled from data/contacts.yml and the region's terms, and US spelling;
- picks the audience framing (self or family);
- builds the phone-short answer: bubble 1 (at most 80 words), then entity-specific
  paragraphs and the prescriber line, with the rest offered behind "Tell me more".

A "bubble" is a paragraph: the widget and Rasa's channels split text at blank lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

import yaml

from bot import contacts
from bot.paths import FACTS_FILE

PRESCRIBER_LINE = "Please decide this with a prescriber."
TELL_ME_MORE = {"title": "Tell me more", "payload": "/tell_me_more"}
DEFAULT_REGION = "uk"
FAMILY = "family"
MAX_FIRST_BUBBLE_WORDS = 80
TEXT_FIELDS = ("answer", "more", "family", "family_more")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
WORD = re.compile(r"[A-Za-z0-9]")


class FactsError(ValueError):
    """facts.yml cannot be resolved for a region (unknown placeholder, missing text)."""


@dataclass(frozen=True)
class Variant:
    """One fact as a visitor in one region sees it: placeholders filled, spelling local."""

    answer: str
    more: str
    family: Optional[str]
    family_more: Optional[str]
    extra: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Fact:
    topic: str
    title: str
    variants: Mapping[str, Variant]
    prescriber: bool
    sources: List[str]
    reviewed: str
    related: List[str]

    def variant(self, region: Optional[str] = None) -> Variant:
        return self.variants.get((region or "").lower()) or self.variants[DEFAULT_REGION]

    # The default region's texts, for callers that don't deal with regions.
    @property
    def answer(self) -> str:
        return self.variant().answer

    @property
    def family(self) -> Optional[str]:
        return self.variant().family

    @property
    def extra(self) -> Mapping[str, Mapping[str, str]]:
        return self.variant().extra


@dataclass
class Answer:
    topic: str
    text: str
    buttons: List[Dict[str, str]] = field(default_factory=list)
    sources: List[str] = field(default_factory=list)
    more: str = ""  # the detail behind "Tell me more"; empty when there is none

    @property
    def bubbles(self) -> List[str]:
        return paragraphs(self.text)


# ---- text helpers ------------------------------------------------------------------------


def paragraphs(text: str) -> List[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def word_count(text: str) -> int:
    """Words a reader sees: whitespace-separated tokens with a letter or digit in them
    (a bullet's "-" is not a word)."""
    return sum(1 for token in text.split() if WORD.search(token))


def _respell(text: str, spelling: Mapping[str, str]) -> str:
    if not spelling:
        return text
    pattern = re.compile(
        r"\b(" + "|".join(map(re.escape, sorted(spelling, key=len, reverse=True))) + r")\b", re.IGNORECASE
    )

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        new = spelling[word.lower()]
        return new[0].upper() + new[1:] if word[0].isupper() else new

    return pattern.sub(swap, text)


def _fill(text: str, values: Mapping[str, str], where: str) -> str:
    # two passes: a term may itself hold a contact placeholder ({same_day_help} -> {urgent})
    for _ in range(2):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise FactsError(f"{where}: no value for {{{name}}}")
            return values[name]

        text = PLACEHOLDER.sub(sub, text)
    if "{" in text or "}" in text:
        raise FactsError(f"{where}: unresolved braces in {text[:60]!r}")
    return text


def placeholder_values(
    region: str, regions_cfg: Mapping[str, Any], contact_data: Mapping[str, Mapping[str, Mapping[str, str]]]
) -> Dict[str, str]:
    """{emergency} -> the emergency number, {helpline_name} -> the helpline's name, plus the region's terms."""
    values: Dict[str, str] = {}
    for kind, entry in contact_data[region].items():
        values[kind] = str(entry["number"])
        values[f"{kind}_name"] = str(entry["name"])
    terms = (regions_cfg.get(region) or {}).get("terms") or {}
    clash = set(terms) & set(values)
    if clash:
        raise FactsError(f"terms of {region} shadow contact placeholders: {sorted(clash)}")
    values.update({k: str(v) for k, v in terms.items()})
    return values


# ---- loading -----------------------------------------------------------------------------


def _strip(text: Optional[str]) -> Optional[str]:
    text = (text or "").strip()
    return text or None


def _variant(
    topic: str, raw: dict, region: str, regions_cfg: Mapping[str, Any], contact_data: Mapping[str, Any]
) -> Variant:
    override = ((raw.get("regions") or {}).get(region)) or {}
    unknown = set(override) - set(TEXT_FIELDS) - {"extra"}
    if unknown:
        raise FactsError(f"{topic}: unknown fields in regions.{region}: {sorted(unknown)}")
    values = placeholder_values(region, regions_cfg, contact_data)
    spelling = {k.lower(): v for k, v in ((regions_cfg.get(region) or {}).get("spelling") or {}).items()}

    def render(text: Optional[str], where: str) -> Optional[str]:
        text = _strip(text)
        return _respell(_fill(text, values, f"{topic}/{region}/{where}"), spelling) if text else None

    texts = {name: render(override.get(name, raw.get(name)), name) for name in TEXT_FIELDS}
    answer = texts["answer"]
    if not answer:
        raise FactsError(f"{topic}: no answer for region {region}")
    extra: Dict[str, Dict[str, str]] = {}
    for source in (raw.get("extra") or {}, override.get("extra") or {}):
        for entity, by_value in source.items():
            for value, text in (by_value or {}).items():
                extra.setdefault(entity, {})[str(value).lower()] = render(text, f"extra.{entity}.{value}") or ""
    return Variant(
        answer=answer,
        more=texts["more"] or "",
        family=texts["family"],
        family_more=texts["family_more"],
        extra=extra,
    )


def _fact(topic: str, raw: dict, regions_cfg: Mapping[str, Any], contact_data: Mapping[str, Any]) -> Fact:
    return Fact(
        topic=topic,
        title=raw["title"],
        variants={region: _variant(topic, raw, region, regions_cfg, contact_data) for region in contact_data},
        prescriber=bool(raw.get("prescriber", False)),
        sources=list(raw.get("sources") or []),
        reviewed=str(raw.get("reviewed", "")),
        related=list(raw.get("related") or []),
    )


def load_raw(path: Path = FACTS_FILE) -> Dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load(path: Path = FACTS_FILE, contact_data: Optional[Mapping[str, Any]] = None) -> Dict[str, Fact]:
    raw = load_raw(path)
    contact_data = contact_data or contacts.all_regions()
    regions_cfg = raw.get("regions") or {}
    return {topic: _fact(topic, entry, regions_cfg, contact_data) for topic, entry in raw["facts"].items()}


@lru_cache(maxsize=1)
def facts() -> Dict[str, Fact]:
    return load()


# ---- answers -----------------------------------------------------------------------------


def buttons_for(topics: Iterable[str], store: Optional[Dict[str, Fact]] = None) -> List[Dict[str, str]]:
    store = store or facts()
    return [{"title": store[t].title, "payload": f"/{t}"} for t in topics if t in store]


def _framing(variant: Variant, audience: str):
    """(bubble 1, detail) for the audience; family framing where it is written."""
    if audience == FAMILY and variant.family:
        return variant.family, variant.family_more if variant.family_more is not None else variant.more
    return variant.answer, variant.more


def compose(
    topic: str,
    audience: str = "self",
    entities: Optional[Mapping[str, Iterable[str]]] = None,
    store: Optional[Dict[str, Fact]] = None,
    region: Optional[str] = None,
) -> Answer:
    """The answer sent now: bubble 1, entity extras, the prescriber line; "Tell me more"
    leads the buttons when there is detail behind it."""
    store = store or facts()
    fact = store[topic]
    variant = fact.variant(region)
    first, more = _framing(variant, audience)
    sent = [first]
    for entity, values in (entities or {}).items():
        extras = variant.extra.get(entity) or {}
        for value in values:
            extra = extras.get(str(value).lower())
            if extra and extra not in sent:
                sent.append(extra)
    if fact.prescriber:
        sent.append(PRESCRIBER_LINE)
    detail = paragraphs(more)
    if detail and fact.prescriber:
        detail.append(PRESCRIBER_LINE)
    buttons = ([dict(TELL_ME_MORE)] if detail else []) + buttons_for(fact.related, store)
    return Answer(topic=topic, text="\n\n".join(sent), buttons=buttons, sources=fact.sources, more="\n\n".join(detail))


def detail(
    topic: str, audience: str = "self", store: Optional[Dict[str, Fact]] = None, region: Optional[str] = None
) -> Optional[Answer]:
    """What "Tell me more" sends after `topic`: the detail, then related topics; None when
    bubble 1 said everything there is."""
    store = store or facts()
    answer = compose(topic, audience, store=store, region=region)
    if not answer.more:
        return None
    return Answer(
        topic=topic, text=answer.more, buttons=buttons_for(store[topic].related, store), sources=answer.sources
    )
