"""A number is one entry: data/contacts.yml is the only place a helpline number is written.

Two copies have to stay as text, and are checked against it here so that neither can drift:

- the crisis replies (and every other reply) in domain.yml, static so that they reach a
  person when the action server is down (PRODUCT.md, safety rule 1);
- widget.js's BUILTIN_CONTACTS, which the closed widget shows when the web app can't be
  reached. It stays a hand-written copy checked by a test, rather than being injected by
  the web app: widget.js is a static file that embedding pages may get from a cache or a
  CDN, and a copy made by the web app would be lost exactly when the web app is down. The
  browser tests in tests/web check the rendered copy too, but need Chromium; this needs
  nothing.

Nothing here writes a number: each one comes from data/contacts.yml through bot.contacts.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Dict, Iterator, List, Optional, Set, Tuple

import phonenumbers
import pytest
import yaml
from phonenumbers import Leniency, PhoneNumberMatcher

from bot import contacts, settings
from bot.paths import ROOT

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
WIDGET_JS = ROOT / "bot" / "web" / "static" / "widget" / "widget.js"
REGIONS = sorted(contacts.all_regions())
CRISIS_RESPONSES = sorted(f"utter_{i}" for i in DOMAIN["intents"] if isinstance(i, str) and i.startswith("crisis_"))

# Contacts a crisis reply may leave out, by kind, with the reason. Any other contact of
# the region must be in every crisis reply, so a contact added to contacts.yml fails here
# until each crisis reply carries it or it is listed below.
NOT_IN_CRISIS_REPLY: Dict[str, Dict[str, str]] = {
    "utter_crisis_suicidal": {
        "poison_control": "anyone who has taken something is sent to the emergency number",
    },
}

# phonenumbers finds full-length numbers only: its matcher skips short codes (three to six
# digits: emergency numbers, crisis lines, a number to text) at the VALID leniency, and at the
# looser POSSIBLE one finds some but not others and reads US toll-free numbers as British.
# So full numbers come from phonenumbers at VALID for every preset's country, and any
# other run of three or more digits (digits and single spaces, not part of a word, a
# "24/7" or a decimal) from this regex. It errs toward reporting: two numbers written
# with only a space between them read as one unknown number.
SHORT_RUN = re.compile(r"(?<![\w/+.])\d+(?: \d+)*(?![\w/])")
MIN_DIGITS = 3


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _full_key(number: str, region: str) -> Optional[Tuple[int, str]]:
    """(country code, national number) of a full-length number; None for a short code."""
    try:
        parsed = phonenumbers.parse(number, contacts.country(region))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return parsed.country_code, phonenumbers.national_significant_number(parsed)


def _same_number(found: str, found_key: Optional[Tuple[int, str]], region: str, written: str) -> bool:
    """True if `found` (with its key, None for a short code) is `region`'s number `written`."""
    key = _full_key(written, region)
    if key is not None and found_key is not None:
        return found_key == key
    return _digits(found) == _digits(written)


def numbers_in(text: str) -> List[Tuple[str, Optional[Tuple[int, str]]]]:
    """(as written, (country code, national number) or None for a short code) per number."""
    spans: List[Tuple[int, int, Optional[Tuple[int, str]]]] = []
    for country in sorted({contacts.country(r) for r in REGIONS}):
        for match in PhoneNumberMatcher(text, country, leniency=Leniency.VALID):
            key = (match.number.country_code, phonenumbers.national_significant_number(match.number))
            if not any(s < match.end and match.start < e for s, e, _ in spans):
                spans.append((match.start, match.end, key))
    for m in SHORT_RUN.finditer(text):
        if len(_digits(m.group(0))) < MIN_DIGITS:
            continue
        if not any(s < m.end() and m.start() < e for s, e, _ in spans):
            spans.append((m.start(), m.end(), None))
    return [(_trim(text[s:e]), key) for s, e, key in sorted(spans)]


def _trim(raw: str) -> str:
    """The matcher keeps a bracket that belongs to the sentence: "(NUMBER, free, 24/7)"."""
    raw = raw.strip()
    while raw.startswith("(") and raw.count("(") > raw.count(")"):
        raw = raw[1:].strip()
    while raw.endswith(")") and raw.count(")") > raw.count("("):
        raw = raw[:-1].strip()
    return raw


def identify(found: str, key: Optional[Tuple[int, str]]) -> List[Tuple[str, str, str]]:
    """Every (region, kind, number as written in contacts.yml) that `found` is."""
    return [(r, kind, written) for r, kind, written in contacts.numbers() if _same_number(found, key, r, written)]


def problems(text: str, region: str) -> List[str]:
    """Why `text`, shown to a visitor in `region`, disagrees with data/contacts.yml."""
    out = []
    for found, key in numbers_in(text):
        matches = identify(found, key)
        own = [m for m in matches if m[0] == region]
        if not own:
            where = ", ".join(f"{r} {kind}" for r, kind, _ in matches) or "no contact at all"
            out.append(f"{found!r} is not a {region} number in contacts.yml (it is {where})")
        elif not any(found == written for _, _, written in own):
            out.append(f"{found!r} is written differently in contacts.yml: {own[0][2]!r}")
    return out


def kinds_shown(text: str, region: str) -> Set[str]:
    return {kind for found, key in numbers_in(text) for r, kind, _ in identify(found, key) if r == region}


def served_variants(response: str) -> Iterator[Tuple[str, str]]:
    """(region, text) for each region and the variant Rasa sends it.

    Conditioned variants are tried first; a variant conditioned on the region alone takes
    that region away from the unconditioned one, as Rasa's response selector does."""
    variants = DOMAIN["responses"][response]
    claimed: Set[str] = set()
    for v in variants:
        conditions = v.get("condition") or []
        regions = {c["value"] for c in conditions if c.get("name") == "region"}
        if conditions and regions and len(regions) == len(conditions):
            claimed |= regions
    for v in variants:
        if "text" not in v:
            continue
        conditions = v.get("condition") or []
        regions = {c["value"] for c in conditions if c.get("name") == "region"}
        serves = regions if regions else (set(REGIONS) - claimed if not conditions else set(REGIONS))
        for region in sorted(serves):
            yield region, v["text"]


# --------------------------------------------------------------------------- domain.yml


@pytest.mark.parametrize("response", sorted(DOMAIN["responses"]))
def test_every_number_in_a_reply_is_a_contact_of_the_region_it_serves(response):
    found = [f"{response}/{region}: {p}" for region, text in served_variants(response) for p in problems(text, region)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("response", CRISIS_RESPONSES)
def test_every_crisis_reply_shows_every_contact_of_its_region(response):
    assert set(NOT_IN_CRISIS_REPLY) <= set(CRISIS_RESPONSES)
    served = dict(served_variants(response))
    assert set(served) == set(REGIONS), f"{response} has no variant for {set(REGIONS) - set(served)}"
    missing = []
    for region, text in sorted(served.items()):
        expected = set(contacts.for_region(region)) - set(NOT_IN_CRISIS_REPLY.get(response, {}))
        missing += [
            f"{region} {kind} {contacts.for_region(region)[kind]['number']}"
            for kind in sorted(expected - kinds_shown(text, region))
        ]
    assert not missing, f"{response} lacks: " + ", ".join(missing)


def test_the_crisis_replies_are_found():
    assert CRISIS_RESPONSES and set(CRISIS_RESPONSES) <= set(DOMAIN["responses"])


# --------------------------------------------------------------------------- the checker itself


def _drifted(number: str) -> str:
    """`number` with its last digit changed: a typo, or a number that has moved."""
    i = max(i for i, ch in enumerate(number) if ch.isdigit())
    return number[:i] + str((int(number[i]) + 1) % 10) + number[i + 1 :]


@pytest.mark.parametrize("region,kind,number", contacts.numbers())
def test_the_checker_finds_each_number_and_reports_any_drift(region, kind, number):
    assert kinds_shown(f"Call {number} now.", region) >= {kind}
    assert problems(f"Call {number} now (24/7), for 20 to 30 minutes.", region) == []
    assert problems(f"Call {_drifted(number)} now.", region), _drifted(number)
    for other in REGIONS:
        if number not in {c["number"] for c in contacts.for_region(other).values()}:
            assert problems(f"Call {number} now.", other), (number, other)


@pytest.mark.parametrize("region,kind,number", contacts.numbers())
def test_the_checker_reports_a_number_spelt_differently(region, kind, number):
    parsed = phonenumbers.parse(number, contacts.country(region))
    respelt = (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if phonenumbers.is_valid_number(parsed)
        else _digits(number)
    )
    if respelt != number:
        assert problems(f"Call {respelt} now.", region), respelt


# --------------------------------------------------------------------------- widget.js

_JS_TOKEN = re.compile(
    r"""(?P<space>\s+|//[^\n]*|/\*.*?\*/)"""
    r"""|(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<name>[A-Za-z_$][\w$]*)"""
    r"""|(?P<number>-?\d+(?:\.\d+)?)"""
    r"""|(?P<punct>[{}\[\]:,])""",
    re.DOTALL,
)


def js_object_literal(source: str, name: str):
    """The value of `var NAME = {...}` (or `[...]`) in `source`, for literals of strings, numbers,
    true/false/null, objects and arrays (quoted or bare keys, trailing commas, comments)."""
    start = re.search(r"\b%s\s*=\s*(?=[{\[])" % re.escape(name), source)
    assert start, f"{name} not found"
    pos, depth, out = start.end(), 0, []
    while True:
        m = _JS_TOKEN.match(source, pos)
        assert m, f"{name}: can't read {source[pos : pos + 30]!r}"
        pos, kind, tok = m.end(), m.lastgroup, m.group(0)
        if kind == "space":
            continue
        if kind == "string":
            out.append(json.dumps(ast.literal_eval(tok)))
        elif kind == "name":
            nxt = _JS_TOKEN.match(source, pos)
            while nxt and nxt.lastgroup == "space":
                nxt = _JS_TOKEN.match(source, nxt.end())
            if nxt and nxt.group(0) == ":":
                out.append(json.dumps(tok))
            elif tok in ("true", "false", "null"):
                out.append(tok)
            else:
                raise AssertionError(f"{name}: {tok!r} is not a literal")
        elif kind == "number" or tok in ":,":
            out.append(tok)
        elif tok in "{[":
            depth += 1
            out.append(tok)
        else:
            if out[-1] == ",":  # JSON has no trailing commas
                out.pop()
            depth -= 1
            out.append(tok)
            if depth == 0:
                return json.loads("".join(out))


def test_the_js_reader_reads_what_it_is_given():
    source = """var X = { a: "1, b: 2", 'c': [1, 'd\\'e', true,], // note
                 /* e: 9 */ f: { g: null }, };"""
    assert js_object_literal(source, "X") == {"a": "1, b: 2", "c": [1, "d'e", True], "f": {"g": None}}


def test_widget_builtin_contacts_equal_contacts_yml():
    builtin = js_object_literal(WIDGET_JS.read_text(encoding="utf-8"), "BUILTIN_CONTACTS")
    assert builtin == contacts.all_regions()
    # the widget lists them in this order, the emergency number first
    for region, own in contacts.all_regions().items():
        assert list(builtin[region]) == list(own), region


def test_every_list_of_regions_is_the_presets_of_contacts_yml():
    """A preset added to contacts.yml must reach the widget's switch, the slot and the API."""
    presets = sorted(contacts.all_regions())
    assert sorted(js_object_literal(WIDGET_JS.read_text(encoding="utf-8"), "REGIONS")) == presets
    assert sorted(DOMAIN["slots"]["region"]["values"]) == presets
    assert sorted(settings.REGIONS) == presets
    assert set(contacts.COUNTRY) == set(presets)
