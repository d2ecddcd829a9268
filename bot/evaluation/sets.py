"""The evaluation sets, and the training data they must stay apart from.

Every set under tests/ was written without looking at data/nlu/ (other words, other
voices); `overlaps()` proves that no example of theirs is trained on. The everyday set is
the English part of the chatterbot-corpus package (BSD licence): conversations written by
other people about food, sport, money, films, science and more, which is the nearest thing
to "what strangers type" that a package ships.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from bot.nlu_data import intent_examples
from bot.paths import DATA, ROOT

NLU_DIR = DATA / "nlu"
TESTS = ROOT / "tests"
PARAPHRASES = TESTS / "nlu" / "paraphrases.yml"
HOLDOUT = TESTS / "nlu" / "holdout.yml"
OUT_OF_SCOPE = TESTS / "nlu" / "out_of_scope.yml"
FIGURATIVE = TESTS / "nlu" / "figurative.yml"
IMPLIED_CRISES = TESTS / "crisis" / "implied.yml"
# A second set, written blind by someone who saw neither the training data nor the sets
# above, and read by nobody before the final measurement: the figures on it are the ones
# no tuning has touched.
BLIND = TESTS / "nlu" / "blind"
# A third, written blind by yet another author once the blind set's figures had been read
# (numbers only) in two rounds of work: the honest measure of the round after them.
FRESH = TESTS / "nlu" / "fresh"
# a fourth author, 2026-11-23 (third session): measured once, after the work it judges
FOURTH = TESTS / "nlu" / "fourth"
# a fifth, 2026-11-23 (fourth session), written before the round of work that used the
# fresh and fourth sets' errors; it judges that round
FIFTH = TESTS / "nlu" / "fifth"
# a sixth, two writers, 2026-11-24: written before the sentence encoder and round-7 crisis
# rules were measured on it, and read (numbers only) once, after them
SIXTH = TESTS / "nlu" / "sixth"

Example = Tuple[str, str]  # (text, intent)


def training_files() -> List[Path]:
    return sorted(NLU_DIR.glob("*.yml"))


def training_examples() -> List[Example]:
    return [pair for path in training_files() for pair in intent_examples(path)]


def figurative(path: Path = FIGURATIVE) -> Dict[str, List[Example]]:
    """{"figurative": [...], "informational": [...]}: crisis words that are not a crisis."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        kind: [(item["text"], item["intent"]) for item in raw.get(kind) or []]
        for kind in ("figurative", "informational")
    }


def implied_crises(path: Path = IMPLIED_CRISES) -> Dict[str, List[Example]]:
    """Category -> crises described without the obvious trigger words."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(raw, dict) and isinstance(raw.get("categories"), dict):
        raw = raw["categories"]
    return {
        category: [(item["text"], item["intent"]) for item in items]
        for category, items in raw.items()
        if isinstance(items, list)
    }


def everyday() -> List[str]:
    """Every English utterance of chatterbot-corpus, de-duplicated."""
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("chatterbot-corpus is not installed (requirements-test.lock)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / "english"
    seen, texts = set(), []
    for path in sorted(folder.glob("*.yml")):
        for conversation in yaml.safe_load(path.read_text(encoding="utf-8")).get("conversations") or []:
            for turn in conversation:
                text = " ".join(str(turn).split())
                if text and key(text) not in seen:
                    seen.add(key(text))
                    texts.append(text)
    return texts


def key(text: str) -> str:
    """What makes two examples the same: letters and digits, case ignored."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@dataclass(frozen=True)
class Suite:
    """One author's evaluation sets: paraphrases, unrelated requests, crisis words that are
    not a crisis, implied crises."""

    name: str
    paraphrases: Path
    out_of_scope: Path
    figurative: Path
    implied: Path

    @classmethod
    def in_folder(cls, name: str, folder: Path) -> Suite:
        """A suite whose four files sit in one folder under their usual names."""
        return cls(
            name,
            folder / "paraphrases.yml",
            folder / "out_of_scope.yml",
            folder / "figurative.yml",
            folder / "implied.yml",
        )


MAIN = Suite("main", PARAPHRASES, OUT_OF_SCOPE, FIGURATIVE, IMPLIED_CRISES)
BLIND_SUITE = Suite.in_folder("blind", BLIND)
FRESH_SUITE = Suite.in_folder("fresh", FRESH)
FOURTH_SUITE = Suite.in_folder("fourth", FOURTH)
FIFTH_SUITE = Suite.in_folder("fifth", FIFTH)
SIXTH_SUITE = Suite.in_folder("sixth", SIXTH)
SUITES = (MAIN, BLIND_SUITE, FRESH_SUITE, FOURTH_SUITE, FIFTH_SUITE, SIXTH_SUITE)


def all_test_texts() -> List[str]:
    texts = [t for t, _ in intent_examples(HOLDOUT)]
    for suite in SUITES:
        texts += [t for path in (suite.paraphrases, suite.out_of_scope) for t, _ in intent_examples(path)]
        texts += [t for pairs in figurative(suite.figurative).values() for t, _ in pairs]
        texts += [t for pairs in implied_crises(suite.implied).values() for t, _ in pairs]
    return texts


def overlaps() -> List[str]:
    """Evaluation examples that also appear (ignoring case and punctuation) in training."""
    trained = {key(t) for t, _ in training_examples()}
    return [t for t in all_test_texts() if key(t) in trained]
