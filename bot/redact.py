"""Personal-data redaction: the one place that decides what a visitor's personal data looks like.

Used by the tracker store (before anything is written), by the log filter and by every
export. `redact(text)` replaces what it finds with typed placeholders:

    [EMAIL] [PHONE] [NAME] [ADDRESS] [POSTCODE] [ZIP] [DOB] [DATE] [NHS_NUMBER] [SSN] [CARD] [NUMBER]

Guarantees: it never raises (on an internal error it falls back to a coarse digit/email
scrub), and it is idempotent (`redact(redact(x)) == redact(x)`): placeholders are never
matched by any detector and the result is iterated to a fixed point.

It errs toward redaction, but keeps what staff need to read a withdrawal conversation:
durations ("8 hours ago", "36 hours", "two days"), doses are not personal data, medication
and substance words, and the public helpline numbers the bot itself gives out (those of
data/contacts.yml, however a visitor or a reply writes them).
"""

from __future__ import annotations

import datetime as _dt
import functools
import gzip
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple

try:  # phonenumbers is a hard requirement, but redaction must never fail to import
    import phonenumbers
    from phonenumbers import Leniency, PhoneNumberMatcher
except Exception:  # pragma: no cover
    phonenumbers = None  # type: ignore[assignment]

LABELS = (
    "EMAIL",
    "PHONE",
    "NAME",
    "ADDRESS",
    "POSTCODE",
    "ZIP",
    "DOB",
    "DATE",
    "NHS_NUMBER",
    "SSN",
    "CARD",
    "NUMBER",
)
PLACEHOLDER_RE = re.compile(r"\[(?:%s)\]" % "|".join(LABELS))


# Internal errors are counted (and logged once each) so tests can assert there are none.
errors: Dict[str, int] = {}


def _note_error(where: str) -> None:
    errors[where] = errors.get(where, 0) + 1
    if errors[where] == 1:
        logging.getLogger(__name__).exception("redaction detector %s failed", where)


def _public_numbers() -> FrozenSet[str]:
    """Digit strings of every number in data/contacts.yml, in each way it can be written.

    Detectors compare digits only, so each full-length number is listed as written, as its
    national significant number, in its national form (with the trunk prefix where the
    country dials one), and after its country code both with and without that trunk prefix
    (people write "+44 (0)..."). A UK 0300 number thus appears four ways, a US 1-800 number
    two (with and without the leading 1). Short codes (three to six digits) are kept as
    written; they are below every detector's length anyway.
    If the file can't be read the set is empty: redaction then errs toward removing the
    helpline numbers too, never toward keeping a private one.
    """
    found = set()
    try:
        from bot import contacts

        entries = contacts.numbers()
    except Exception:
        _note_error("public_numbers")
        return frozenset()
    for region, _kind, written in entries:
        found.add(_digits(written))
        if phonenumbers is None:
            continue
        try:
            parsed = phonenumbers.parse(written, contacts.country(region))
        except Exception:
            continue
        # A short code has no other written form, and a country code in front of a
        # three-digit one makes four digits that could be a year.
        if not phonenumbers.is_valid_number(parsed):
            continue
        national = _digits(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))
        code = str(parsed.country_code)
        nsn = phonenumbers.national_significant_number(parsed)
        found.update({nsn, national, code + nsn, code + national})
    found.discard("")
    return frozenset(found)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str

    @property
    def placeholder(self) -> str:
        return f"[{self.label}]"


# --------------------------------------------------------------------------- detectors

_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
# "john dot smith at gmail dot com"
_EMAIL_SPOKEN_RE = re.compile(
    r"\b[\w.+-]+\s*(?:\(at\)|\[at\]|\sat\s)\s*[\w-]+\s*(?:\.|\sdot\s)\s*(?:com|net|org|co\.uk|co\s+dot\s+uk|"
    r"uk|us|io|edu|gov)\b",
    re.IGNORECASE,
)

_SSN_RE = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_SSN_CONTEXT_RE = re.compile(
    r"\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\b[^\d\n]{0,20}(\d{9})(?!\d)",
    re.IGNORECASE,
)

_NHS_RE = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{3})\2(\d{4})(?![\w-])")
_NHS_CONTEXT_RE = re.compile(r"\bnhs\b", re.IGNORECASE)

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_DATE_RES = [
    re.compile(r"(?<![\d/.-])(?:[12]\d|3[01]|0?[1-9])([/.-])(?:1[0-2]|0?[1-9])\1(?:\d{4}|\d{2})(?![\d/.-])"),
    re.compile(r"(?<![\d/.-])(?:1[0-2]|0?[1-9])([/.-])(?:[12]\d|3[01]|0?[1-9])\1(?:\d{4}|\d{2})(?![\d/.-])"),
    re.compile(r"(?<![\d/.-])(?:19|20)\d{2}-(?:1[0-2]|0[1-9])-(?:[12]\d|3[01]|0[1-9])(?![\d/.-])"),
    re.compile(rf"\b{_DAY}(?:\s+of)?\s+{_MONTHS}\.?,?\s+(?:19|20)\d{{2}}\b", re.IGNORECASE),
    re.compile(rf"\b{_MONTHS}\.?\s+{_DAY},?\s+(?:19|20)\d{{2}}\b", re.IGNORECASE),
]
_BIRTH_CONTEXT_RE = re.compile(r"\b(?:born|birth|birthday|dob|d\.o\.b\.?|b\.?day)\b", re.IGNORECASE)
# "born in 1985", "born on 12 March", "DOB: 12 March" (no year)
_BORN_RE = re.compile(
    rf"\b(?:born(?:\s+(?:in|on))?|dob|d\.o\.b\.?|date\s+of\s+birth(?:\s+is)?|birthday(?:\s+is)?)\s*[:\-]?\s*"
    rf"((?:{_DAY}(?:\s+of)?\s+{_MONTHS}|{_MONTHS}\s+{_DAY})(?:,?\s+(?:19|20)\d{{2}})?|(?:19|20)\d{{2}})\b",
    re.IGNORECASE,
)

_STREET_SUFFIX = (
    r"(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|cl|way|court|ct|place|pl|crescent|cres|"
    r"terrace|terr|boulevard|blvd|gardens|gdns|grove|gr|hill|park|row|square|sq|mews|walk|parade|"
    r"highway|hwy|circle|cir|parkway|pkwy|trail|trl|view|rise|green)"
)
_UNIT = r"(?:(?:flat|apt\.?|apartment|unit|suite|ste\.?|#)\s*\w{1,5},?\s+)?"
_ADDRESS_RE = re.compile(
    rf"\b{_UNIT}\d{{1,5}}[a-z]?,?\s+(?:[a-z][a-z'’.-]*\s+){{1,3}}{_STREET_SUFFIX}\b\.?",
    re.IGNORECASE,
)
# "I live at ..." up to the end of the clause, when it was not already a street address.
_LIVE_AT_RE = re.compile(r"\b(?:i\s+live\s+at|my\s+address\s+is|address\s*:)\s*([^.!?\n]{3,80})", re.IGNORECASE)
_PO_BOX_RE = re.compile(r"\bp\.?\s*o\.?\s*box\s+\d+\b", re.IGNORECASE)

_POSTCODE_RE = re.compile(
    r"\b(?:GIR\s?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?)\s?\d[ABD-HJLNP-UW-Z]{2})\b",
    re.IGNORECASE,
)
_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR"
).split()
_ZIP_STATE_RE = re.compile(r"\b(?:%s)\.?,?\s+(\d{5}(?:-\d{4})?)(?!\d)" % "|".join(_US_STATES))
_ZIP_CONTEXT_RE = re.compile(
    r"\b(?:zip|zip\s*code|zipcode|postal\s+code)\s*(?:is\s*)?[:#]?\s*(\d{5}(?:-\d{4})?)(?!\d)", re.IGNORECASE
)

_NAME_WORD = r"[^\W\d_][\w'’-]*"
_NAME_TRIGGER_RE = re.compile(
    r"\b(?:(?:my|his|her|their|our|son['’]?s|daughter['’]?s|partner['’]?s|the)\s+(?:full\s+|first\s+|real\s+)?name(?:\s+is|['’]s|\s+was|\s*:)"
    r"|name\s*:"
    r"|i\s*['’]?\s*m\s+called|i\s+am\s+called|(?:he|she|they)\s*(?:['’]s|\s+is|\s+are)\s+called"
    r"|(?:is|was)\s+called|(?:is|was)\s+named|named"
    r"|call\s+me|this\s+is|i\s+am|i'?m|i’m|signed|regards|cheers|thanks)"
    r"\s*[,:\-]?\s*",
    re.IGNORECASE,
)
# Triggers that only count when followed by a capitalised word (too common otherwise).
_WEAK_TRIGGERS = re.compile(r"^(?:this\s+is|i\s+am|i'?m|i’m|signed|regards|cheers|thanks)\b", re.IGNORECASE)
_NAME_STOP = set(
    """
a an the and or but so because if when while then than that this these those it its i im i'm me my mine
you your he him his she her they them their we us our not no yes very really just only also too
here there now later soon today tonight tomorrow yesterday back again please on at in to for of with by
about from as is are was were be been being am do does did have has had having will would can could
should may might must shall up down out off over under into onto after before since until till
sick ill scared afraid worried anxious tired clean sober using addicted withdrawing hurting dying
in withdrawal detox detoxing rattling clucking going trying feeling struggling ok okay fine good bad
worse better sorry sure ready done here new old young
son daughter mum mom dad father mother partner wife husband brother sister friend boyfriend girlfriend
someone something anyone anything nobody nothing everyone everything
what who why how where which whom whose
heroin methadone buprenorphine subutex suboxone naloxone narcan fentanyl opiate opiates opioid opioids
""".split()
)


def _vocabulary() -> set:
    """Entity words (medications, substances, family members) from data/entities.yml."""
    words: set = set()
    try:
        import yaml

        from bot.paths import ENTITIES_FILE

        doc = yaml.safe_load(ENTITIES_FILE.read_text(encoding="utf-8")) or {}
        for block in doc.get("nlu", []) or []:
            for line in str(block.get("examples", "")).splitlines():
                word = line.strip().lstrip("-").strip().lower()
                if word:
                    words.update(word.split())
            if block.get("synonym"):
                words.update(str(block["synonym"]).lower().split())
    except Exception:
        pass
    return words


_VOCAB_STOP = (
    _NAME_STOP
    | _vocabulary()
    | {
        "diazepam",
        "valium",
        "xanax",
        "alprazolam",
        "codeine",
        "tramadol",
        "morphine",
        "oxycodone",
        "oxycontin",
        "pregabalin",
        "gabapentin",
        "loperamide",
        "imodium",
        "paracetamol",
        "ibuprofen",
        "crack",
        "cocaine",
        "alcohol",
        "spice",
        "ketamine",
        "benzos",
        "benzodiazepines",
        "xylazine",
    }
)
_VOCAB_STOP.discard("h")  # slang "h" is also an initial
_WEAK_NAME_STOP = _VOCAB_STOP | {"a", "an", "the", "not", "going", "so", "just", "still"}
# Triggers that introduce a person's name for sure ("my name is", "call me"): only grammar
# words stop them, so "my name is Charlie" is redacted even though charlie is slang.
_STRONG_TRIGGERS = re.compile(
    r"^(?:\w+['’]?s\s+(?:full\s+|first\s+|real\s+)?name|(?:my|his|her|their|our|the)\s+(?:full\s+|first\s+|real\s+)?name"
    r"|name|i\s*['’]?\s*m\s+called|i\s+am\s+called|call\s+me|(?:he|she|they)\s*(?:['’]s|\s+is|\s+are)\s+called)\b",
    re.IGNORECASE,
)

# A lower-case word after "im" / "this is" is a name only where people introduce
# themselves ("hi im priya", "im priya, 19"), and only when it is no word that follows
# "I'm" in ordinary talk: not an adjective, adverb or verb form ("im rattling",
# "hi im new", "im gutted"). Those come from WordNet's lemma index shipped in
# spacy-lookups-data (read directly, so no spaCy is loaded); nouns stay candidates,
# because WordNet lists many given names as nouns (sam, sarah, john).
_GREETING_BEFORE_RE = re.compile(
    r"(?:^|[\s,.!?;:(\"'“‘])(?:hi+|hey+|hello+|hiya|heya|hullo|yo|howdy|greetings|morning|evening|afternoon|"
    r"good\s+(?:morning|evening|afternoon)|ok|okay|um+|erm+|well|so)"
    r"(?:\s+(?:there|all|everyone|everybody|guys|folks|bot))?[\s,.!?:;-]*$",
    re.IGNORECASE,
)
_SELF_INTRO_RE = re.compile(r"^(?:this\s+is|i\s+am|i\s*['’]?\s*m)\b", re.IGNORECASE)
# a quoted utterance starts a sentence too (Rasa logs messages as "...")
_SENTENCE_START_RE = re.compile(r"(?:^|[.!?\n]|[\s:=,(\[{][\"'“‘])[\s\"'(]*$")
_NOT_NAMES = {
    # txt-speak and time words that follow "im" without being adjectives in WordNet
    "gonna", "gunna", "wanna", "tryna", "gotta", "kinda", "sorta", "proper", "bare", "well",
    "day", "days", "week", "weeks", "month", "months", "year", "years", "hour", "hours",
    "night", "nights", "tonight", "weekend", "lol", "tbh", "idk", "pls", "plz", "rn", "atm",
    "od", "ing", "u", "ur", "ya", "yeah", "yes", "nah", "yep", "hi", "hey", "hello", "literally", "actually",
    # withdrawal slang that WordNet does not know
    "dopesick", "strung", "junkie", "addict", "mashed", "monged", "buzzing", "skaged",
}  # fmt: skip


@functools.lru_cache(maxsize=1)
def _english_non_nouns() -> Tuple[FrozenSet[str], Dict[str, str], FrozenSet[str]]:
    """(adjectives, adverbs and verbs of WordNet, inflected form -> lemma, every WordNet
    lemma); empty if unreadable."""
    try:
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("spacy_lookups_data")
        if spec is None or not spec.submodule_search_locations:
            return frozenset(), {}, frozenset()
        data = Path(list(spec.submodule_search_locations)[0]) / "data"
        with gzip.open(data / "en_lemma_index.json.gz", "rt", encoding="utf-8") as f:
            index = json.load(f)
        with gzip.open(data / "en_lemma_lookup.json.gz", "rt", encoding="utf-8") as f:
            lookup = json.load(f)
        words = frozenset(w for pos in ("adj", "adv", "verb") for w in index.get(pos, ()))
        return words, lookup, frozenset(w for lemmas in index.values() for w in lemmas)
    except Exception:
        _note_error("lexicon")
        return frozenset(), {}, frozenset()


def _could_be_name(low: str) -> bool:
    """False for words that ordinarily follow "I'm": adjectives, adverbs, verb forms, txt-speak."""
    if low in _WEAK_NAME_STOP or low in _NOT_NAMES or len(low) < 2:
        return False
    words, lemmas, known = _english_non_nouns()
    if low in words or lemmas.get(low, low) in words:
        return False
    # Verb forms WordNet does not list: "rattlin", "gutted" (a verb's stem), "bricking" (any
    # word's stem); but not "mohammed", "tamsin" or "xiaoling".
    m = re.fullmatch(r"(\w+?)(\w?)(ing|in['’]?|ed)", low)
    if m:
        stems = {m.group(1) + m.group(2), m.group(1), m.group(1) + m.group(2) + "e"}
        return not (stems & (known if m.group(3) == "ing" else words))
    return True


def _titled(trigger: str) -> bool:
    """True for "This Is", "I Am", "IM": every word of the trigger capitalised, beyond a lone "I"."""
    words = [w for w in re.findall(r"[^\W\d_]+", trigger) if w not in ("I", "m")]
    return bool(words) and all(w[0].isupper() for w in words)


def _introduction(text: str, trigger_start: int, trigger: str) -> bool:
    """The trigger stands where people say who they are: after a greeting, or (for "im" and
    "i am", not "this is") at the start of a sentence."""
    before = text[max(0, trigger_start - 60) : trigger_start]
    if _GREETING_BEFORE_RE.search(before):
        return True
    return not trigger.lower().startswith("this") and bool(_SENTENCE_START_RE.search(before))


# Payment cards: 13 to 19 digits, in groups or not, that pass the Luhn check.
_CARD_RE = re.compile(r"(?<![\w+-])\d(?:[ -]?\d){12,18}(?![\w-])")

_PHONE_FALLBACK_RE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{7,}\d(?![\w])")
_LONG_NUMBER_RE = re.compile(r"(?<![\w])\d(?:[\s-]?\d){7,}(?![\w])")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


# Public helpline numbers: never personal data (see _public_numbers).
PUBLIC_NUMBERS = _public_numbers()


def nhs_checksum_ok(number: str) -> bool:
    """True if `number` (10 digits, separators ignored) passes the NHS modulus-11 check."""
    d = _digits(number)
    if len(d) != 10:
        return False
    total = sum(int(d[i]) * (10 - i) for i in range(9))
    check = 11 - (total % 11)
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(d[9])


def luhn_ok(number: str) -> bool:
    """True if the digits of `number` pass the Luhn check that every payment card number passes."""
    d = [int(c) for c in _digits(number)]
    if not d:
        return False
    total = sum(d[-1::-2]) + sum(sum(divmod(2 * x, 10)) for x in d[-2::-2])
    return total % 10 == 0


def _cards(text: str) -> Iterable[Span]:
    for m in _CARD_RE.finditer(text):
        if luhn_ok(m.group(0)) and _digits(m.group(0)) not in PUBLIC_NUMBERS:
            yield Span(m.start(), m.end(), "CARD")


def _emails(text: str) -> Iterable[Span]:
    for m in _EMAIL_RE.finditer(text):
        yield Span(m.start(), m.end(), "EMAIL")
    for m in _EMAIL_SPOKEN_RE.finditer(text):
        yield Span(m.start(), m.end(), "EMAIL")


def _ssns(text: str) -> Iterable[Span]:
    for m in _SSN_RE.finditer(text):
        yield Span(m.start(), m.end(), "SSN")
    for m in _SSN_CONTEXT_RE.finditer(text):
        yield Span(m.start(1), m.end(1), "SSN")


def _nhs(text: str) -> Iterable[Span]:
    for m in _NHS_RE.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()]
        if _NHS_CONTEXT_RE.search(before):
            yield Span(m.start(), m.end(), "NHS_NUMBER")
            continue
        # Without the word "NHS" nearby, a checksum-valid number counts as an NHS number only
        # when it is written the NHS way (3-3-4 with spaces, or plain) and is not a real US/UK
        # phone number (415-555-2671 and +1 415 555 2671 are phones).
        if m.group(2) == "-" or re.search(r"(?:\+\d{1,3}|\(|\b1)[\s.-]*$", text[max(0, m.start() - 5) : m.start()]):
            continue
        if nhs_checksum_ok(m.group(0)) and not _is_valid_phone(m.group(0)):
            yield Span(m.start(), m.end(), "NHS_NUMBER")


def _is_valid_phone(raw: str) -> bool:
    if phonenumbers is None:
        return False
    for region in ("US", "GB"):
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(raw, region)):
                return True
        except Exception:
            pass
    return False


def _dates(text: str) -> Iterable[Span]:
    this_year = _dt.date.today().year
    for rx in _DATE_RES:
        for m in rx.finditer(text):
            before = text[max(0, m.start() - 40) : m.start()]
            years = re.findall(r"(?:19|20)\d{2}", m.group(0))
            old = bool(years) and int(years[-1]) <= this_year - 12
            label = "DOB" if (_BIRTH_CONTEXT_RE.search(before) or old) else "DATE"
            yield Span(m.start(), m.end(), label)
    for m in _BORN_RE.finditer(text):
        yield Span(m.start(1), m.end(1), "DOB")


def _embedded(text: str, start: int, end: int, digits: str) -> bool:
    """Digits glued to letters are no phone number when the run is short, or when the whole
    token is a long mixed identifier (hex ids such as Rasa's model_id 'b044f1778d5840978e...')."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if not (before.isalnum() or after.isalnum()):
        return False
    if len(digits) < 10:
        return True
    left, right = start, end
    while left > 0 and text[left - 1].isalnum():
        left -= 1
    while right < len(text) and text[right].isalnum():
        right += 1
    token = text[left:right]
    return len(token) >= 16 and any(c.isalpha() for c in token) and any(c.isdigit() for c in token)


def _phones(text: str) -> Iterable[Span]:
    public: List[Tuple[int, int]] = []
    if phonenumbers is not None:
        for region in ("GB", "US"):
            try:
                for match in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
                    digits = _digits(match.raw_string)
                    if digits in PUBLIC_NUMBERS:
                        public.append((match.start, match.end))
                        continue
                    if len(digits) < 7:
                        continue
                    if _embedded(text, match.start, match.end, digits):
                        continue
                    yield Span(match.start, match.end, "PHONE")
            except Exception:
                _note_error("phonenumbers")
    # The fallback reads across brackets, so a US helpline followed by "(24/7)" would be one
    # unknown 13-digit number: it only looks between the helpline numbers the matcher found.
    for start, end in _between(public, len(text)):
        for m in _PHONE_FALLBACK_RE.finditer(text, start, end):
            digits = _digits(m.group(0))
            if 10 <= len(digits) <= 15 and digits not in PUBLIC_NUMBERS:
                yield Span(m.start(), m.end(), "PHONE")


def _between(holes: List[Tuple[int, int]], length: int) -> List[Tuple[int, int]]:
    """The stretches of [0, length) that no (start, end) in `holes` covers."""
    out, pos = [], 0
    for start, end in sorted(holes):
        if start > pos:
            out.append((pos, start))
        pos = max(pos, end)
    if pos < length:
        out.append((pos, length))
    return out


def _addresses(text: str) -> Iterable[Span]:
    for m in _ADDRESS_RE.finditer(text):
        yield Span(m.start(), m.end(), "ADDRESS")
    for m in _PO_BOX_RE.finditer(text):
        yield Span(m.start(), m.end(), "ADDRESS")
    for m in _LIVE_AT_RE.finditer(text):
        value = m.group(1).strip()
        if value and not PLACEHOLDER_RE.fullmatch(value):
            start = m.start(1) + (len(m.group(1)) - len(m.group(1).lstrip()))
            yield Span(start, start + len(value), "ADDRESS")


def _postcodes(text: str) -> Iterable[Span]:
    for m in _POSTCODE_RE.finditer(text):
        yield Span(m.start(), m.end(), "POSTCODE")


def _zips(text: str) -> Iterable[Span]:
    for m in _ZIP_STATE_RE.finditer(text):
        yield Span(m.start(1), m.end(1), "ZIP")
    for m in _ZIP_CONTEXT_RE.finditer(text):
        yield Span(m.start(1), m.end(1), "ZIP")


def _names(text: str) -> Iterable[Span]:
    for m in _NAME_TRIGGER_RE.finditer(text):
        trigger = m.group(0)
        strong = bool(_STRONG_TRIGGERS.match(trigger.strip()))
        # "im called priya" / "i am called sam" start like the weak "im" / "i am", but the
        # strong reading wins: no capital letter is needed after "called".
        weak = not strong and bool(_WEAK_TRIGGERS.match(trigger.strip()))
        stop = _NAME_STOP if strong else (_WEAK_NAME_STOP if weak else _VOCAB_STOP)
        pos = m.end()
        words: List[Tuple[int, int]] = []
        intro: Optional[bool] = None
        for _ in range(3):
            wm = re.compile(_NAME_WORD).match(text, pos)
            if not wm:
                break
            word = wm.group(0)
            low = word.lower().strip("'’-")
            # "I'll", "it's": a contraction of a stop word is no name either
            if low in stop or re.split(r"['’]", low)[0] in stop:
                break
            if weak:
                # In "HI IM SHAKING" or "This Is Hard" a capital says nothing: the word
                # must then look like a name, as after a lower-case "hi im priya".
                shouted = (word.isupper() and len(word) > 1) or _titled(trigger)
                if shouted or not word[0].isupper():
                    if intro is None:
                        intro = shouted or (
                            bool(_SELF_INTRO_RE.match(trigger.strip()))
                            and _introduction(text, m.start(), trigger.strip())
                        )
                    if not (intro and _could_be_name(low)):
                        break
            words.append((wm.start(), wm.start() + len(word.rstrip("'’-"))))
            nxt = re.compile(r"[ \t]+").match(text, wm.end())
            if not nxt:
                break
            pos = nxt.end()
        if weak and len(words) == 0:
            continue
        if words:
            # weak triggers ("I'm", "this is") need a capitalised word that is not sentence start noise
            yield Span(words[0][0], words[-1][1], "NAME")


def _long_numbers(text: str) -> Iterable[Span]:
    for m in _LONG_NUMBER_RE.finditer(text):
        if _digits(m.group(0)) not in PUBLIC_NUMBERS:
            yield Span(m.start(), m.end(), "NUMBER")


# Earlier detectors win when spans overlap.
_DETECTORS = (_emails, _cards, _ssns, _nhs, _dates, _addresses, _zips, _postcodes, _phones, _long_numbers, _names)


def find_spans(text: str) -> List[Span]:
    """Non-overlapping personal-data spans of `text`, in text order."""
    chosen: List[Span] = []
    existing = [(m.start(), m.end()) for m in PLACEHOLDER_RE.finditer(text)]
    for detector in _DETECTORS:
        try:
            found = list(detector(text))
        except Exception:  # a broken detector must not break redaction
            _note_error(detector.__name__)
            continue
        for span in sorted(found, key=lambda s: (s.start, -(s.end - s.start))):
            if span.end <= span.start:
                continue
            if PLACEHOLDER_RE.fullmatch(text[span.start : span.end]):
                continue
            # never cut a placeholder in half
            if any(start < span.end and span.start < end for start, end in existing):
                continue
            if any(c.start < span.end and span.start < c.end for c in chosen):
                continue
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def _apply(text: str, spans: List[Span]) -> str:
    out, pos = [], 0
    for s in spans:
        out.append(text[pos : s.start])
        out.append(s.placeholder)
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


def _coarse(text: str) -> str:
    """Last-resort scrub used if the real detectors ever fail: emails and digit runs."""
    try:
        text = _EMAIL_RE.sub("[EMAIL]", text)
        return re.sub(r"\d(?:[\s().-]?\d){5,}", "[NUMBER]", text)
    except Exception:
        return "[REDACTED]"


def redact_with_spans(text: str) -> Tuple[str, List[Span]]:
    """`(redacted_text, spans_in_original_text)`; spans are those of the first pass."""
    if not isinstance(text, str):
        return text, []
    try:
        spans = find_spans(text)
        result = _apply(text, spans)
        for _ in range(5):  # iterate to a fixed point, so redact() is idempotent
            more = find_spans(result)
            if not more:
                break
            result = _apply(result, more)
        return result, spans
    except Exception:
        _note_error("redact")
        return _coarse(text), []


def redact(text: Any) -> Any:
    """Text with personal data replaced by typed placeholders. Non-strings are returned as-is."""
    return redact_with_spans(text)[0]


def map_offset(pos: int, spans: List[Span], end: bool = False) -> int:
    """Where original offset `pos` lands in the text produced by `_apply(text, spans)`."""
    shift = 0
    for s in spans:
        if s.end <= pos:
            shift += len(s.placeholder) - (s.end - s.start)
        elif s.start < pos or (s.start == pos and end):
            # inside a redacted span: snap to the placeholder
            return (s.start + shift + len(s.placeholder)) if end else (s.start + shift)
    return pos + shift


def overlapping(start: int, end: int, spans: List[Span]) -> Optional[Span]:
    for s in spans:
        if s.start < end and start < s.end:
            return s
    return None


# --------------------------------------------------------------------------- logging

# Addresses of clients: a log line never says who sent a request (loopback and the
# unspecified address name no one and stay readable).
_IPV4_RE = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w.])")
# Full IPv6 addresses, or compressed ones with "::" (never a clock time such as 10:30:00).
_IPV6_RE = re.compile(
    r"(?<![\w:])(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"
    r"|(?:[0-9a-fA-F]{1,4}:){0,6}(?:[0-9a-fA-F]{1,4})?::(?:[0-9a-fA-F]{1,4}:){0,6}[0-9a-fA-F]{1,4})(?![\w:])"
)
_NOT_CLIENTS = ("0.0.0.0", "::1", "::")
# Loggers that write one line per request with the client's address and user agent.
ACCESS_LOGGERS = ("sanic.access", "uvicorn.access", "gunicorn.access", "aiohttp.access")


def _not_a_client(address: str) -> bool:
    return address.startswith("127.") or address in _NOT_CLIENTS


def redact_log_text(text: str) -> str:
    """`redact(text)`, and client IP addresses replaced by [IP]."""
    if not isinstance(text, str):
        return text
    for rx in (_IPV4_RE, _IPV6_RE):
        text = rx.sub(lambda m: m.group(0) if _not_a_client(m.group(0)) else "[IP]", text)
    return redact(text)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redacts a record in place: its message and arguments, the text of its exception
    (traceback and exception message) and its stack. Never raises: on a failure the
    message is replaced, not kept."""
    try:
        message = record.getMessage()
        redacted = redact_log_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set, so the traceback is formatted here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_log_text(record.stack_info)
    except Exception:
        record.msg, record.args, record.exc_info, record.exc_text = (
            "[log record withheld: redaction failed]",
            None,
            None,
            None,
        )
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record it sees (see `redact_record`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed_factory: List[Any] = []


def _install_record_factory() -> None:
    """Every record of this process is redacted when it is made, whichever logger, handler
    or formatter later writes it, and however logging is reconfigured afterwards."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    factory._redacts = True  # type: ignore[attr-defined]
    _installed_factory.append(factory)
    logging.setLogRecordFactory(factory)


def _install_excepthooks() -> None:
    """Uncaught exceptions print their traceback without logging: redact those too."""
    import sys
    import threading
    import traceback

    if getattr(sys.excepthook, "_redacts", False):
        return

    def excepthook(kind: Any, value: Any, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(redact_log_text(text))

    def thread_excepthook(args: Any) -> None:
        if args.exc_type is SystemExit:
            return
        excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    excepthook._redacts = True  # type: ignore[attr-defined]
    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def silence_access_logs() -> None:
    """Per-request access lines carry the client's address and user agent: never write them."""
    for name in ACCESS_LOGGERS:
        access = logging.getLogger(name)
        access.disabled = True
        access.propagate = False


def install_log_redaction(logger: Optional[logging.Logger] = None) -> None:
    """Redact every log record of this process, turn access logs off, and redact uncaught
    tracebacks; also adds a RedactingFilter to every handler of `logger` (root by default).
    Safe to call more than once."""
    _install_record_factory()
    _install_excepthooks()
    silence_access_logs()
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
