"""The deterministic crisis safety net: spaCy Matcher rules over normalised text.

Recall on a crisis must not rest on the statistical classifier alone, so every message
also runs through hand-written rules from data/crisis_patterns.yml (that file explains
its own syntax). This module is plain Python over a spaCy `Language` so it can be tested
and benchmarked without Rasa; `bot.nlp.components.CrisisSafetyNet` plugs it into Rasa.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import yaml
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc

from bot.paths import CRISIS_PATTERNS_FILE

# When one message matches several crisis kinds the first wins: a suicidal message that
# mentions pills is answered as suicidal (that reply also says to call if something was taken).
CRISIS_PRIORITY = ("crisis_suicidal", "crisis_overdose", "crisis_medical")
# The entity that routes a weak but real crisis guess to the reply asking whether anyone is
# in danger (bot/nlp/components.py, data/rules/crisis.yml).
SAFETY_CHECK = "safety_check"
MAX_GAP = 4  # how many arbitrary tokens "..." may stand for
LANGUAGE_KEY = "language"
TOGETHER_WITHIN = 20  # default span, in tokens, inside which all groups of a `together` rule must occur


@dataclass(frozen=True)
class CrisisHit:
    intent: str
    rule: str  # the rule's note, for staff and logs
    matched_text: str


@dataclass(frozen=True)
class _Rule:
    key: str
    intent: str
    note: str
    guards: Tuple[str, ...]
    negatable: bool
    idioms_allowed: bool = False  # exclusions do not apply ("my chest is killing me")
    groups: int = 0  # > 0 for a `together` rule: how many term groups must co-occur
    within: int = TOGETHER_WITHIN


@dataclass(frozen=True)
class Scan:
    """Everything the rules found in one message."""

    hits: List[CrisisHit]
    # crisis-language terms: the looser `language` lexicon, every rule hit, and rule matches
    # that a guard dropped ("can withdrawal cause a seizure" is not a crisis, but it is
    # crisis language)
    language: List[str]

    @property
    def hit(self) -> Optional[CrisisHit]:
        if not self.hits:
            return None
        return min(self.hits, key=lambda h: CRISIS_PRIORITY.index(h.intent))


def _token_spec(word: str) -> Dict:
    if word.startswith("~"):
        return {"LEMMA": word[1:]}
    return {"LOWER": word}


def compile_pattern(text: str) -> List[List[Dict]]:
    """Turn one rule line into spaCy token patterns.

    `word` matches the lower-cased token, `~word` its lemma, `a|b` either, a trailing
    `?` makes a token optional and `...` stands for up to four other tokens.
    Alternatives that mix lemmas and words expand into several patterns, because one
    spaCy token dict cannot say "lemma a OR word b".
    """
    slots: List[List[Dict]] = []  # each slot: alternative token dicts
    for raw in text.split():
        if raw == "...":
            slots.append([{"__gap__": True}])
            continue
        optional = raw.endswith("?") and len(raw) > 1
        word = raw[:-1] if optional else raw
        alts = [w for w in word.split("|") if w]
        lemmas = [a[1:] for a in alts if a.startswith("~")]
        lowers = [a for a in alts if not a.startswith("~")]
        choices: List[Dict[str, Any]] = []
        if lemmas:
            choices.append({"LEMMA": {"IN": lemmas}})
        if lowers:
            choices.append({"LOWER": {"IN": lowers}})
        if optional:
            choices = [dict(c, OP="?") for c in choices]
        slots.append(choices)
    patterns = []
    for combo in itertools.product(*slots):
        pattern: List[Dict] = []
        for token in combo:
            if token.get("__gap__"):
                pattern.extend({"OP": "?"} for _ in range(MAX_GAP))
            else:
                pattern.append(token)
        patterns.append(pattern)
    return patterns


def _plain(token: Dict) -> List[Dict]:
    """`{"LOWER": {"IN": [a, b]}}` as `[{"LOWER": a}, {"LOWER": b}]` (optional flag kept)."""
    attrs = [k for k in token if k != "OP"]
    if len(attrs) != 1 or not isinstance(token[attrs[0]], dict) or set(token[attrs[0]]) != {"IN"}:
        return [token]
    extra = {"OP": token["OP"]} if "OP" in token else {}
    return [dict({attrs[0]: value}, **extra) for value in token[attrs[0]]["IN"]]


def _plain_first(pattern: List[Dict]) -> List[List[Dict]]:
    """Split a pattern on the alternatives of its first token, so that token is a plain
    equality test. spaCy's Matcher checks the first token of every pattern at every token
    of the message, and an `IN` set there is a Python call each time; plain equality is
    checked in C. Later `IN` tokens are only tested once a pattern is under way."""
    if not pattern or pattern[0].get("OP"):
        return [pattern]
    return [[first] + pattern[1:] for first in _plain(pattern[0])]


class CrisisMatcher:
    """Finds crisis rules in a message; `match(text)` returns the winning hit or None."""

    def __init__(self, nlp: Language, patterns_file: Path = CRISIS_PATTERNS_FILE) -> None:
        spec = yaml.safe_load(Path(patterns_file).read_text(encoding="utf-8"))
        self._nlp = nlp
        self._spellings: Dict[str, str] = {
            str(k).lower(): str(v).lower() for k, v in (spec.get("spellings") or {}).items()
        }
        # words the lookup lemmatizer gets wrong for our purpose ("dying" -> "dye")
        self._lemmas: Dict[str, str] = {str(k).lower(): str(v).lower() for k, v in (spec.get("lemmas") or {}).items()}
        self._matcher = Matcher(nlp.vocab)
        self._rules: Dict[str, _Rule] = {}
        self._guard_keys: Dict[str, str] = {}  # matcher key -> guard set name
        for index, exclusion in enumerate(spec.get("exclusions") or []):
            self._add(f"exclusion:{index}", exclusion["patterns"])
        for name, lines in (spec.get("guards") or {}).items():
            key = f"guard:{name}"
            self._add(key, lines)
            self._guard_keys[key] = name
        for intent, rules in (spec.get("intents") or {}).items():
            if intent not in CRISIS_PRIORITY:
                raise ValueError(f"{patterns_file}: unknown crisis intent {intent!r}")
            for index, rule in enumerate(rules):
                key = f"{intent}:{index}"
                groups = rule.get("together") or []
                if bool(groups) == bool(rule.get("patterns")):
                    raise ValueError(
                        f"{patterns_file}: rule {rule.get('note')!r} needs either `patterns` or `together`"
                    )
                if len(groups) == 1:
                    raise ValueError(
                        f"{patterns_file}: rule {rule.get('note')!r}: `together` needs at least two groups"
                    )
                self._rules[key] = _Rule(
                    key=key,
                    intent=intent,
                    note=rule["note"],
                    guards=tuple(rule.get("unless") or ()),
                    negatable=bool(rule.get("negatable", False)),
                    idioms_allowed=bool(rule.get("idioms_allowed", False)),
                    groups=len(groups),
                    within=int(rule.get("within", TOGETHER_WITHIN)),
                )
                if groups:
                    for number, lines in enumerate(groups):
                        self._add(f"{key}#{number}", lines)
                else:
                    self._add(key, rule["patterns"])
        if spec.get("language"):
            self._add(LANGUAGE_KEY, spec["language"])
        unknown = {g for r in self._rules.values() for g in r.guards} - set(self._guard_keys.values())
        if unknown:
            raise ValueError(f"{patterns_file}: rules name undefined guards {sorted(unknown)}")

    def _add(self, key: str, lines: Iterable[str]) -> None:
        compiled = [fast for line in lines for p in compile_pattern(line) for fast in _plain_first(p)]
        self._matcher.add(key, compiled)

    def normalise(self, text: str) -> str:
        """Lower-case, straighten apostrophes, split hyphens, expand text-speak and typos."""
        text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
        text = re.sub(r"\bo\.d\.?", "od", text)
        text = re.sub(r"\ba\s*&\s*e\b", "casualty", text)
        text = re.sub(r"(?<=\w)-(?=\w)", " ", text)

        def replace(match: re.Match) -> str:
            word = match.group(0).strip("'")
            return self._spellings.get(word, word)

        return re.sub(r"[a-z0-9']+", replace, text)

    def doc(self, text: str) -> Doc:
        doc = self._nlp(self.normalise(text))
        if self._lemmas:
            for token in doc:
                lemma = self._lemmas.get(token.lower_)
                if lemma is not None:
                    token.lemma_ = lemma
        return doc

    def scan(self, text: str) -> Scan:
        """Rule hits (surviving exclusions, guards and negation) and crisis-language terms."""
        doc = self.doc(text)
        strings = self._nlp.vocab.strings
        matches = sorted(((strings[m], s, e) for m, s, e in self._matcher(doc)), key=lambda m: m[1])
        excluded = [(s, e) for key, s, e in matches if key.startswith("exclusion:")]

        def is_excluded(start: int, end: int) -> bool:
            return any(s < end and start < e for s, e in excluded)

        sentence_guards: Dict[int, set] = {}  # sentence start -> guard names found in it
        for key, start, _end in matches:
            if key in self._guard_keys:
                sentence_guards.setdefault(doc[start].sent.start, set()).add(self._guard_keys[key])

        def guarded(rule: _Rule, start: int, end: int) -> bool:
            if not rule.guards:
                return False
            wanted = set(rule.guards)
            sent = doc[start].sent
            while True:  # every sentence the span touches
                if wanted & sentence_guards.get(sent.start, set()):
                    return True
                if sent.end >= end:
                    return False
                sent = doc[sent.end].sent

        hits: List[CrisisHit] = []
        language: List[str] = []
        parts: Dict[str, Dict[int, List[Tuple[int, int]]]] = {}  # together rule -> group -> spans
        for key, start, end in matches:
            if key.startswith(("exclusion:", "guard:")):
                continue
            if key == LANGUAGE_KEY:
                if is_excluded(start, end):
                    continue
                _add_once(language, doc[start:end].text)
                continue
            base, _, group = key.partition("#")
            rule = self._rules[base]
            if not rule.idioms_allowed and is_excluded(start, end):
                continue
            if rule.negatable and _negated(doc, start):
                continue
            if group:
                parts.setdefault(base, {}).setdefault(int(group), []).append((start, end))
                continue
            if guarded(rule, start, end):
                # framed as a question or as the past: not a rule hit, but crisis language
                _add_once(language, doc[start:end].text)
                continue
            hits.append(CrisisHit(rule.intent, rule.note, doc[start:end].text))
        for base, found in parts.items():
            rule = self._rules[base]
            if len(found) < rule.groups:
                continue
            span = _closest(list(found.values()), rule.within)
            if span is None:
                continue
            if guarded(rule, *span):
                _add_once(language, doc[span[0] : span[1]].text)
                continue
            hits.append(CrisisHit(rule.intent, rule.note, doc[span[0] : span[1]].text))
        for hit in hits:  # whatever a rule matched is crisis language too
            _add_once(language, hit.matched_text)
        return Scan(hits=hits, language=language)

    def match(self, text: str) -> Optional[CrisisHit]:
        return self.scan(text).hit

    def crisis_language(self, text: str) -> List[str]:
        """Crisis words and phrases in the message (looser than the rules), idioms excluded."""
        return self.scan(text).language


NEGATIONS = {"not", "never", "no", "nothing"}


def _add_once(items: List[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _closest(groups: List[List[Tuple[int, int]]], within: int) -> Optional[Tuple[int, int]]:
    """The shortest span holding one match of every group, if it is at most `within` tokens.

    Every span has a leftmost match; for each candidate leftmost start, the best span takes
    from each group the match starting there or later that ends first."""
    best: Optional[Tuple[int, int]] = None
    for anchor in sorted({s for spans in groups for s, _ in spans}):
        ends = []
        for spans in groups:
            later = [e for s, e in spans if s >= anchor]
            if not later:
                return best  # a later anchor cannot do better for this group
            ends.append(min(later))
        end = max(ends)
        if end - anchor <= within and (best is None or end - anchor < best[1] - best[0]):
            best = (anchor, end)
    return best


def _negated(doc: Doc, start: int) -> bool:
    """A negation word in the three tokens before the match, within its sentence."""
    sent_start = doc[start].sent.start
    window = doc[max(sent_start, start - 3) : start]
    return any(t.lower_ in NEGATIONS or t.lemma_ in NEGATIONS for t in window)
