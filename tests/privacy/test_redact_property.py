"""Property-based tests of bot.redact: personal data generated in many formats, inside the
sentences people type, is removed; the public helpline numbers and the ordinary words of a
withdrawal conversation (day counts, doses, times, drug names) are kept.

Each generator builds the data the way it exists in the world (valid NHS checksums,
Luhn-valid card numbers, numbers that phonenumbers calls valid UK or US numbers, real
postcode shapes), never from the patterns bot/redact.py uses.
"""

from __future__ import annotations

import re
from typing import Callable, List, Tuple

import phonenumbers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot import contacts
from bot.redact import redact

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Given names from many backgrounds, none of them an ordinary English word, so a
# lower-case "hi im X" is unambiguous for a reader too.
GIVEN = (
    "priya aisha oluwaseun siobhan niamh aoife tomasz agnieszka mohammed fatima dwayne "
    "keisha darnell jamal lakshmi rajesh anjali chloe liam callum kieran zainab yusuf "
    "bartosz svetlana dmitri ngozi chidi kwame akua mei xiaoling hiroshi haruto leilani "
    "marisol guadalupe alejandro esperanza rosalind tamsin ffion rhys eilidh ciaran"
).split()
SURNAMES = "okafor featherstone nowak kowalski suri patel o'brien mcallister nguyen acheampong".split()
# Random, pronounceable name-like words: names nobody has listed anywhere.
INVENTED = st.from_regex(r"[bdfgklmnprstvz][aeiou][bdfgklmnprstvz][aeiou][lnrs]?", fullmatch=True)


def casing(text: str, how: str) -> str:
    return {"lower": text.lower(), "upper": text.upper(), "title": text.title(), "as typed": text}[how]


CASINGS = st.sampled_from(["lower", "upper", "title", "as typed"])
AROUND = st.tuples(
    st.sampled_from(["", "hi. ", "sorry to bother you. ", "ok so ", "Evening all. "]),
    st.sampled_from(["", ", 19", " and im on day 3", ", been using 6 years", " and my son uses heroin", "."]),
)


def digit_runs(text: str) -> List[str]:
    return re.findall(r"\d{3,}", re.sub(r"(?<=\d)[\s().-]+(?=\d)", "", text))


def assert_no_digits_of(secret: str, out: str) -> None:
    """No run of three or more digits of the output is a piece of the secret's digits."""
    digits = re.sub(r"\D", "", secret)
    for run in digit_runs(out):
        assert run not in digits, (secret, out)


# --------------------------------------------------------------------------- names

STRONG_INTROS = [
    "my name is {n}",
    "my name's {n}",
    "My name’s {n}",
    "im called {n}",
    "i'm called {n}",
    "I am called {n}",
    "call me {n}",
    "name: {n}",
    "my son's name is {n}",
    "my daughter is called {n}",
]
WEAK_INTROS = [
    "hi im {n}",
    "hey, i'm {n}",
    "hello this is {n}",
    "hi this is {n}",
    "im {n}",
    "Hi there, I’m {n}",
    "i am {n}",
    "hiya im {n}",
]


def assert_name_gone(name: str, out: str, text: str) -> None:
    for part in re.findall(r"[^\W\d_]+", name):
        if len(part) > 1:
            assert not re.search(rf"(?<!\w){re.escape(part)}(?!\w)", out, re.IGNORECASE), (text, out)
    assert "[NAME]" in out, (text, out)


@PROPERTY
@given(
    st.sampled_from(STRONG_INTROS),
    st.one_of(st.sampled_from(GIVEN), INVENTED),
    st.one_of(st.just(""), st.sampled_from(SURNAMES).map(lambda s: " " + s)),
    CASINGS,
    AROUND,
)
def test_a_name_after_a_clear_introduction_is_removed_in_any_case(intro, given_name, surname, how, around):
    text = casing(around[0] + intro.format(n=given_name + surname) + around[1], how)
    assert_name_gone(given_name + surname, redact(text), text)


@PROPERTY
@given(st.sampled_from(WEAK_INTROS), st.sampled_from(GIVEN), CASINGS, AROUND)
def test_a_name_after_an_informal_introduction_is_removed_in_any_case(intro, given_name, how, around):
    # "im X" / "this is X" introduce someone at the start of what they say or after a greeting
    prefix = around[0] if intro.lower().startswith(("hi", "hey", "hello")) else around[0].replace("ok so ", "")
    text = casing(prefix + intro.format(n=given_name) + around[1], how)
    assert_name_gone(given_name, redact(text), text)


# --------------------------------------------------------------------------- phones


@st.composite
def uk_numbers(draw) -> phonenumbers.PhoneNumber:
    kind = draw(st.sampled_from(["mobile", "london", "city", "area"]))
    digits = {
        "mobile": st.from_regex(r"7[1-9]\d{8}", fullmatch=True),
        "london": st.from_regex(r"20[378]\d{7}", fullmatch=True),
        "city": st.from_regex(r"1[1-9]1\d{7}", fullmatch=True),
        "area": st.from_regex(r"1[2-9][2-9]\d{7}", fullmatch=True),
    }[kind]
    number = phonenumbers.parse("+44" + draw(digits))
    assume(phonenumbers.is_valid_number(number))
    return number


@st.composite
def us_numbers(draw) -> phonenumbers.PhoneNumber:
    number = phonenumbers.parse("+1" + draw(st.from_regex(r"[2-9][0-8]\d[2-9]\d{6}", fullmatch=True)))
    assume(phonenumbers.is_valid_number(number))
    return number


def spellings(number: phonenumbers.PhoneNumber) -> List[str]:
    """How people write a number: national and international, spaced, run together, with
    hyphens or dots, "+44 (0)", "(415) ...", "1-415-...", and in odd groupings."""
    fmt = phonenumbers.PhoneNumberFormat
    national = phonenumbers.format_number(number, fmt.NATIONAL)
    international = phonenumbers.format_number(number, fmt.INTERNATIONAL)
    nsn = phonenumbers.national_significant_number(number)
    plain = re.sub(r"[()]", "", national)
    forms = [
        national,
        international,
        phonenumbers.format_number(number, fmt.E164),
        re.sub(r"\D", "", national),
        plain.replace(" ", "-"),
        plain.replace(" ", ".").replace("-", "."),
        international.replace(" ", ""),
    ]
    if number.country_code == 44:
        forms += [f"+44 (0){nsn}", f"+44 (0) {nsn[:4]} {nsn[4:]}", f"0{nsn[:3]} {nsn[3:6]} {nsn[6:]}"]
    else:
        forms += [f"1-{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}", f"+1 ({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}", f"1 {national}"]
    return forms


PHONE_SENTENCES = [
    "ring me on {x}",
    "my mobile is {x} if you need me",
    "{x} is my mums number",
    "text me at {x} pls",
    "call {x} after 6pm",
    "my cell: {x}.",
]


@PROPERTY
@given(st.one_of(uk_numbers(), us_numbers()), st.data(), st.sampled_from(PHONE_SENTENCES), CASINGS)
def test_uk_and_us_phone_numbers_are_removed_however_they_are_spaced(number, data, sentence, how):
    written = data.draw(st.sampled_from(spellings(number)))
    text = casing(sentence.format(x=written), how)
    out = redact(text)
    assert written not in out, (text, out)
    assert_no_digits_of(written, out)


# --------------------------------------------------------------------------- emails

LOCAL = st.from_regex(r"[a-z][a-z0-9]{1,10}(?:[._+-][a-z0-9]{1,8})?", fullmatch=True)
DOMAIN = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
TLD = st.sampled_from(["com", "co.uk", "org", "net", "ac.uk", "nhs.net", "io", "us", "org.uk"])


@PROPERTY
@given(
    st.one_of(st.tuples(LOCAL, DOMAIN, TLD).map(lambda p: f"{p[0]}@{p[1]}.{p[2]}"), st.emails()),
    st.sampled_from(["email me at {x}", "{x} is my email", "my email: {x}, thanks", "contact {x}."]),
    CASINGS,
)
def test_email_addresses_are_removed(email, sentence, how):
    text = casing(sentence.format(x=email), how)
    out = redact(text)
    written = casing(email, how)
    assert written not in out and written.split("@")[0] not in out.split(), (text, out)


# --------------------------------------------------------------------------- addresses

STREET_WORDS = st.sampled_from(
    "Oak Wetherby Harrowgate Kingsley Belmont Mill Church Station Victoria Meadow "
    "Sycamore Albion Ashgrove Brookfield Hawthorn Lindley Pennine".split()
)
SUFFIXES = st.sampled_from(
    [
        "Road",
        "Rd",
        "Street",
        "St",
        "Avenue",
        "Ave",
        "Lane",
        "Drive",
        "Close",
        "Crescent",
        "Way",
        "Court",
        "Grove",
        "Terrace",
        "Boulevard",
        "Place",
        "Gardens",
    ]
)

# Real UK postcode shapes (outward code A9, A99, A9A, AA9, AA99, AA9A; inward 9AA), with
# the letters the Royal Mail allows in each position.
FIRST, SECOND, THIRD, FOURTH = "ABCDEFGHIJKLMNOPRSTUWYZ", "ABCDEFGHKLMNOPQRSTUVWXY", "ABCDEFGHJKPSTUW", "ABEHMNPRVWXY"
INWARD = "ABDEFGHJLNPQRSTUWXYZ"


@st.composite
def postcodes(draw) -> str:
    a, b = draw(st.sampled_from(FIRST)), draw(st.sampled_from(SECOND))
    d = lambda: str(draw(st.integers(0, 9)))  # noqa: E731
    outward = draw(
        st.sampled_from(
            [
                a + d(),
                a + d() + d(),
                a + d() + draw(st.sampled_from(THIRD)),
                a + b + d(),
                a + b + d() + d(),
                a + b + d() + draw(st.sampled_from(FOURTH)),
            ]
        )
    )
    inward = d() + draw(st.sampled_from(INWARD)) + draw(st.sampled_from(INWARD))
    return draw(st.sampled_from([f"{outward} {inward}", f"{outward}{inward}", f"{outward} {inward}".lower()]))


STATES = st.sampled_from(["IL", "NY", "CA", "TX", "OH", "PA", "FL", "WA"])
ZIPS = st.from_regex(r"[0-9]{5}(?:-[0-9]{4})?", fullmatch=True)


@PROPERTY
@given(
    st.integers(1, 9999),
    STREET_WORDS,
    SUFFIXES,
    st.sampled_from(["", "Flat 3, ", "Apt 12, "]),
    st.sampled_from(["I live at {x}", "we're at {x} now", "send it to {x} please", "my address is {x}"]),
)
def test_street_addresses_are_removed(number, street, suffix, unit, sentence):
    address = f"{unit}{number} {street} {suffix}"
    out = redact(sentence.format(x=address))
    assert street not in out and f"{number} {street}" not in out, out


@PROPERTY
@given(postcodes(), st.sampled_from(["my postcode is {x}", "I'm in {x}", "near {x}", "Leeds {x}, is there a clinic"]))
def test_uk_postcodes_are_removed(postcode, sentence):
    out = redact(sentence.format(x=postcode))
    assert postcode.lower() not in out.lower() and postcode.replace(" ", "").lower() not in out.lower(), out


@PROPERTY
@given(ZIPS, STATES, st.sampled_from(["Springfield, {s} {z}", "I'm in {s} {z}", "my zip is {z}", "zip code {z}"]))
def test_us_zip_codes_are_removed(zip_code, state, sentence):
    out = redact(sentence.format(s=state, z=zip_code))
    assert zip_code[:5] not in out, out


# --------------------------------------------------------------------------- NHS, SSN, DOB, cards


@st.composite
def nhs_numbers(draw) -> str:
    first = draw(st.lists(st.integers(0, 9), min_size=9, max_size=9))
    check = 11 - sum(d * (10 - i) for i, d in enumerate(first)) % 11
    assume(check != 10)
    digits = "".join(map(str, first)) + str(0 if check == 11 else check)
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


@PROPERTY
@given(nhs_numbers(), st.sampled_from(["my NHS number is {x}", "nhs no {x}", "{x} is my nhs number", "it's {x}"]))
def test_nhs_numbers_with_a_valid_checksum_are_removed(nhs, sentence):
    out = redact(sentence.format(x=nhs))
    assert nhs not in out and nhs.replace(" ", "") not in out, out
    assert_no_digits_of(nhs, out)


@st.composite
def ssns(draw) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group, serial = draw(st.integers(1, 99)), draw(st.integers(1, 9999))
    sep = draw(st.sampled_from(["-", " "]))
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


@PROPERTY
@given(ssns(), st.sampled_from(["ssn {x}", "my social security number is {x}", "SSN: {x}", "social is {x}"]))
def test_us_social_security_numbers_are_removed(ssn, sentence):
    out = redact(sentence.format(x=ssn))
    assert ssn not in out, out
    assert_no_digits_of(ssn, out)


@PROPERTY
@given(ssns().map(lambda s: re.sub(r"\D", "", s)), st.sampled_from(["ssn {x}", "my social security number is {x}"]))
def test_social_security_numbers_run_together_are_removed_after_the_word(ssn, sentence):
    assert ssn not in redact(sentence.format(x=ssn))


MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
ORDINAL = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}
DATE_FORMATS: List[Callable[[int, int, int], str]] = [
    lambda d, m, y: f"{d:02d}/{m:02d}/{y}",
    lambda d, m, y: f"{m}/{d}/{y}",
    lambda d, m, y: f"{d:02d}-{m:02d}-{y}",
    lambda d, m, y: f"{d}.{m}.{y % 100:02d}",
    lambda d, m, y: f"{y}-{m:02d}-{d:02d}",
    lambda d, m, y: f"{d} {MONTHS[m - 1]} {y}",
    lambda d, m, y: f"{d}{ORDINAL.get(d, 'th')} of {MONTHS[m - 1]} {y}",
    lambda d, m, y: f"{MONTHS[m - 1]} {d}, {y}",
    lambda d, m, y: f"{MONTHS[m - 1][:3]} {d} {y}",
]


@PROPERTY
@given(
    st.dates(min_value=__import__("datetime").date(1940, 1, 1), max_value=__import__("datetime").date(2010, 12, 31)),
    st.sampled_from(DATE_FORMATS),
    st.sampled_from(
        [
            "I was born on {x}",
            "my dob is {x}",
            "date of birth: {x}",
            "DOB {x}",
            "born {x}",
            "my birthday is {x} so im old enough",
        ]
    ),
)
def test_dates_of_birth_are_removed_in_any_format(date, fmt, sentence):
    written = fmt(date.day, date.month, date.year)
    out = redact(sentence.format(x=written))
    assert written not in out and str(date.year) not in out, out
    assert "[DOB]" in out, out


@st.composite
def card_numbers(draw) -> Tuple[str, str]:
    """A Luhn-valid number of a real scheme, written grouped, run together or hyphenated."""
    prefix, length = draw(
        st.sampled_from(
            [
                ("4", 16),
                ("51", 16),
                ("55", 16),
                ("2221", 16),
                ("34", 15),
                ("37", 15),
                ("6011", 16),
                ("4", 13),
                ("35", 16),
            ]
        )
    )
    body = prefix + "".join(str(draw(st.integers(0, 9))) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, c in enumerate(reversed(body)):
        x = int(c) * (2 if i % 2 == 0 else 1)
        total += x - 9 if x > 9 else x
    digits = body + str((10 - total % 10) % 10)
    groups = [4, 6, 5] if length == 15 else [4] * (length // 4) + ([length % 4] if length % 4 else [])
    parts, pos = [], 0
    for g in groups:
        parts.append(digits[pos : pos + g])
        pos += g
    return digits, draw(st.sampled_from([" ".join(parts), digits, "-".join(parts)]))


@PROPERTY
@given(
    card_numbers(),
    st.sampled_from(["my card is {x}", "card number {x} exp 04/27", "{x} can you charge it", "pay with {x}"]),
)
def test_luhn_valid_card_numbers_are_removed_spaced_or_not(card, sentence):
    digits, written = card
    out = redact(sentence.format(x=written))
    assert written not in out, out
    assert_no_digits_of(digits, out)


# --------------------------------------------------------------------------- what must stay

HELPLINES = [
    (region, c["name"], c["number"]) for region in contacts.all_regions() for c in contacts.for_region(region).values()
]
HELPLINE_SENTENCES = [
    "call {n} on {x} now",
    "I rang {x} last night",
    "{n}: {x} (24/7, free)",
    "is {x} free to call?",
    "ring {x}, it's day 3 and im on 8mg",
    "{x} or 999?",
    "thanks, I'll try {x} at 10:30pm",
]


@PROPERTY
@given(st.sampled_from(HELPLINES), st.sampled_from(HELPLINE_SENTENCES), st.sampled_from(["lower", "as typed"]))
def test_every_public_helpline_number_survives_inside_a_sentence(helpline, sentence, how):
    _region, name, number = helpline
    text = casing(sentence.format(n=name, x=number), how)
    out = redact(text)
    assert number in out, (text, out)
    assert "[" not in out, (text, out)


DRUGS = st.sampled_from(
    [
        "heroin",
        "methadone",
        "buprenorphine",
        "subutex",
        "suboxone",
        "buvidal",
        "naloxone",
        "narcan",
        "fentanyl",
        "lofexidine",
        "clonidine",
        "diazepam",
        "gabapentin",
        "loperamide",
        "codeine",
        "tramadol",
        "crack",
        "spice",
        "xylazine",
    ]
)
ORDINARY = st.one_of(
    st.integers(1, 30).map(lambda n: f"day {n}"),
    st.integers(1, 30).map(lambda n: f"im on day {n}"),
    st.integers(1, 120).map(lambda n: f"{n}mg"),
    st.integers(1, 120).map(lambda n: f"{n} mg"),
    st.integers(1, 72).map(lambda n: f"{n} hours ago"),
    st.tuples(st.integers(1, 12), st.integers(0, 59)).map(lambda t: f"at {t[0]}:{t[1]:02d}"),
    st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]:02d}:{t[1]:02d}"),
    st.integers(1, 12).map(lambda n: f"{n}am"),
    st.integers(1, 12).map(lambda n: f"{n}pm"),
    st.integers(2, 20).map(lambda n: f"{n} weeks clean"),
    DRUGS,
    DRUGS.map(lambda d: f"im on {d}"),
    st.sampled_from(
        [
            "im rattling",
            "im clucking",
            "hi im scared",
            "this is hard",
            "im new here",
            "im sick",
            "hi im worried about my son",
            "im gutted",
            "im shaking",
            "im desperate",
            "im pregnant",
            "i am suicidal",
            "im so tired",
            "im done",
            "hi, im his mum",
        ]
    ),
)


@PROPERTY
@given(st.lists(ORDINARY, min_size=1, max_size=5), CASINGS)
def test_day_counts_doses_times_and_drug_names_are_kept(pieces, how):
    text = casing(", ".join(pieces), how)
    assert redact(text) == text
