"""Human contact details for each region preset, read from data/contacts.yml."""
from __future__ import annotations

from functools import lru_cache
from typing import Dict

import yaml

from bot.paths import DATA

CONTACTS_FILE = DATA / "contacts.yml"


@lru_cache(maxsize=1)
def all_regions() -> Dict[str, Dict[str, Dict[str, str]]]:
    return yaml.safe_load(CONTACTS_FILE.read_text(encoding="utf-8"))


def for_region(region: str) -> Dict[str, Dict[str, str]]:
    """Contacts of `region`, falling back to the UK preset for an unknown one."""
    regions = all_regions()
    return regions.get((region or "").lower(), regions["uk"])


def reminder_line(region: str) -> str:
    """The short line kept under every answer once a conversation has had a crisis."""
    c = for_region(region)
    return (f"If you need a person now: call {c['emergency']['number']} in an emergency, "
            f"or {c['crisis_line']['name']} on {c['crisis_line']['number']}.")
