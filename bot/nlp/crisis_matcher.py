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
from typing import Dict, Iterable, List, Optional, Tuple

import yaml
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc

from bot.paths import CRISIS_PATTERNS_FILE

# When one message matches several crisis kinds the first wins: a suicidal message that
# mentions pills is answered as suicidal (that reply also says to call if something was taken).
CRISIS_PRIORITY = ("crisis_suicidal", "crisis_overdose", "crisis_medical")
MAX_GAP = 4  # how many arbitrary tokens "..." may stand for


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
        choices = []
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


class CrisisMatcher:
    """Finds crisis rules in a message; `match(text)` returns the winning hit or None."""

    def __init__(self, nlp: Language, patterns_file: Path = CRISIS_PATTERNS_FILE) -> None:
        spec = yaml.safe_load(Path(patterns_file).read_text(encoding="utf-8"))
        self._nlp = nlp
        self._spellings: Dict[str, str] = {
            str(k).lower(): str(v).lower() for k, v in (spec.get("spellings") or {}).items()
        }
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
                self._rules[key] = _Rule(
                    key=key,
                    intent=intent,
                    note=rule["note"],
                    guards=tuple(rule.get("unless") or ()),
                    negatable=bool(rule.get("negatable", False)),
                )
                self._add(key, rule["patterns"])
        unknown = {g for r in self._rules.values() for g in r.guards} - set(self._guard_keys.values())
        if unknown:
            raise ValueError(f"{patterns_file}: rules name undefined guards {sorted(unknown)}")

    def _add(self, key: str, lines: Iterable[str]) -> None:
        compiled = [p for line in lines for p in compile_pattern(line)]
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
        return self._nlp(self.normalise(text))

    def find(self, text: str) -> List[CrisisHit]:
        """Every rule hit that survives exclusions, guards and negation, in text order."""
        doc = self.doc(text)
        matches = [(self._nlp.vocab.strings[m], s, e) for m, s, e in self._matcher(doc)]
        excluded = [(s, e) for key, s, e in matches if key.startswith("exclusion:")]
        guards: Dict[Tuple[int, int], set] = {}
        for key, start, end in matches:
            if key in self._guard_keys:
                sent = doc[start].sent
                guards.setdefault((sent.start, sent.end), set()).add(self._guard_keys[key])
        hits: List[CrisisHit] = []
        for key, start, end in sorted(matches, key=lambda m: m[1]):
            rule = self._rules.get(key)
            if rule is None:
                continue
            if any(s < end and start < e for s, e in excluded):
                continue
            sent = doc[start].sent
            if set(rule.guards) & guards.get((sent.start, sent.end), set()):
                continue
            if rule.negatable and _negated(doc, start):
                continue
            hits.append(CrisisHit(rule.intent, rule.note, doc[start:end].text))
        return hits

    def match(self, text: str) -> Optional[CrisisHit]:
        hits = self.find(text)
        if not hits:
            return None
        return min(hits, key=lambda h: CRISIS_PRIORITY.index(h.intent))


NEGATIONS = {"not", "never", "no", "nothing"}


def _negated(doc: Doc, start: int) -> bool:
    """A negation word in the three tokens before the match, within its sentence."""
    sent_start = doc[start].sent.start
    window = doc[max(sent_start, start - 3):start]
    return any(t.lower_ in NEGATIONS or t.lemma_ in NEGATIONS for t in window)
