"""Small pieces of dialogue logic the custom actions share, kept out of actions/ so they
can be tested without the Rasa SDK's machinery."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional

from bot import contacts
from bot.nlp.vocabulary import canonical

FAMILY = "family"
SELF = "self"
DEFAULT_REGION = "uk"
IGNORED_FOR_LAST_USED = ("buprenorphine",)  # the medicine being asked about, not what was used


def entity_values(message: Mapping[str, Any]) -> Dict[str, List[str]]:
    """Entity name -> canonical values in the order they appear, without duplicates."""
    values: Dict[str, List[str]] = {}
    for entity in message.get("entities") or []:
        name, value = entity.get("entity"), entity.get("value")
        if not name or value is None:
            continue
        value = canonical(str(value))
        if value not in values.setdefault(name, []):
            values[name].append(value)
    return values


def audience(current: Optional[str], values: Mapping[str, Iterable[str]], family_member: Optional[str] = None) -> str:
    """A family member mentioned once switches the conversation to family framing for good,
    even when that message itself was answered by something else (a greeting, the fallback):
    the Rasa server keeps the mention in the `family_member` slot."""
    if values.get("family_member") or family_member:
        return FAMILY
    return current if current in (FAMILY, SELF) else SELF


def last_used(values: Mapping[str, Iterable[str]]) -> Optional[str]:
    """What the person last used, from entities: heroin, methadone, fentanyl or another substance."""
    for entity in ("substance", "medication"):
        for value in values.get(entity, []):
            if value not in IGNORED_FOR_LAST_USED:
                return value
    return None


def region(value: Optional[str]) -> str:
    """The region preset for a `region` slot value: a known preset, else the default."""
    value = (value or "").strip().lower()
    return value if value in contacts.all_regions() else DEFAULT_REGION
