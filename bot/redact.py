"""Personal-data redaction: the one place that decides what a visitor's personal data looks like.

Used by the tracker store (before anything is written), by the log filter and by every
export. `redact(text)` replaces what it finds with typed placeholders:

    [EMAIL] [PHONE] [NAME] [ADDRESS] [POSTCODE] [ZIP] [DOB] [DATE] [NHS_NUMBER] [SSN] [NUMBER]

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
        for _ in range(3):
            wm = re.compile(_NAME_WORD).match(text, pos)
            if not wm:
                break
            word = wm.group(0)
            low = word.lower().strip("'’-")
            if low in stop:
                break
            if weak and not word[0].isupper():
                break
            words.append((wm.start(), wm.end()))
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
_DETECTORS = (_emails, _ssns, _nhs, _dates, _addresses, _zips, _postcodes, _phones, _long_numbers, _names)


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


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's message (install on handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            redacted = redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        except Exception:
            pass
        return True


def install_log_redaction(logger: Optional[logging.Logger] = None) -> None:
    """Add a RedactingFilter to every handler of `logger` (root by default), once."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
