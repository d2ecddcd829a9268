"""Human contact details for each region preset, read from data/contacts.yml.

data/contacts.yml is the only place a helpline number is written. Everything else that
shows or recognises one either reads it from here (answers, the web app, the redaction
allow-list) or is checked against it by tests/test_contacts_single_source.py (the static
crisis replies in domain.yml, the widget's built-in copy).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Optional, Tuple

import yaml

from bot.paths import DATA

CONTACTS_FILE = DATA / "contacts.yml"

# The country each preset's numbers are dialled in, as phonenumbers names it. A preset
# key is our own word ("uk"), not an ISO code ("GB"), so it can't be used directly.
COUNTRY = {"uk": "GB", "us": "US"}


@lru_cache(maxsize=1)
def all_regions() -> Dict[str, Dict[str, Dict[str, str]]]:
    return yaml.safe_load(CONTACTS_FILE.read_text(encoding="utf-8"))


def for_region(region: str) -> Dict[str, Dict[str, str]]:
    """Contacts of `region`, falling back to the UK preset for an unknown one."""
    regions = all_regions()
    return regions.get((region or "").lower(), regions["uk"])


def country(region: str) -> str:
    """ISO 3166 code of `region`'s numbers, for phonenumbers (an unknown preset: its own name)."""
    return COUNTRY.get(region, region.upper())


def numbers(region: Optional[str] = None) -> List[Tuple[str, str, str]]:
    """(region, kind, number) for every contact, or for `region`'s only, as written in the file."""
    regions = all_regions()
    wanted = [region] if region is not None else list(regions)
    return [(r, kind, c["number"]) for r in wanted for kind, c in regions[r].items()]


def reminder_line(region: str) -> str:
    """The short line kept under every answer once a conversation has had a crisis."""
    c = for_region(region)
    return (
        f"If you need a person now: call {c['emergency']['number']} in an emergency, "
        f"or {c['crisis_line']['name']} on {c['crisis_line']['number']}."
    )
