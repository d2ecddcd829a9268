"""Builds the project's own small spaCy pipeline into build/spacy_model.

spaCy's pretrained models cannot be downloaded on our machines, so Rasa's SpacyNLP
loads this pipeline by path instead: blank English, the lookup lemmatizer from
spacy-lookups-data (tables are copied into the saved pipeline, so run time does not
need the package), a sentencizer, and an entity ruler compiled from data/entities.yml
plus the duration patterns below.

Run with `python -m bot.nlp.build` (the Makefile does it when its inputs change).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, cast

import spacy
from spacy.pipeline import EntityRuler

from bot.nlp.vocabulary import lookups
from bot.paths import SPACY_MODEL_DIR

NUMBER_WORDS = [
    "a",
    "an",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "twenty",
    "thirty",
    "forty",
    "few",
    "couple",
    "several",
]
TIME_UNITS = [
    "min",
    "mins",
    "minute",
    "minutes",
    "h",
    "hr",
    "hrs",
    "hour",
    "hours",
    "day",
    "days",
    "week",
    "weeks",
    "wk",
    "wks",
    "month",
    "months",
    "night",
    "nights",
]
DAY_WORDS = ["yesterday", "today", "tonight", "tomorrow"]
DAY_PARTS = ["night", "morning", "afternoon", "evening", "week", "month"]


def duration_patterns() -> List[Dict]:
    """Token patterns for how long ago something was: '8 hours ago', 'two days', '36hrs'."""
    number = {"LOWER": {"IN": NUMBER_WORDS}}
    digits = {"LIKE_NUM": True}
    unit = {"LOWER": {"IN": TIME_UNITS}}
    glued = {"LOWER": {"REGEX": r"^\d+(\.\d+)?(h|hr|hrs|hours?|d|days?|mins?)$"}}
    ago = {"LOWER": {"IN": ["ago", "back"]}, "OP": "?"}
    about = {"LOWER": {"IN": ["about", "around", "like", "roughly", "over", "nearly"]}, "OP": "?"}
    pats: List[List[Dict[str, Any]]] = []
    for num in (number, digits):
        pats.append(
            [
                about,
                num,
                {"LOWER": {"IN": ["and", "&"]}, "OP": "?"},
                {"LOWER": {"IN": ["a", "half"]}, "OP": "*"},
                unit,
                ago,
            ]
        )
    pats.append([about, glued, ago])
    pats.append([{"LOWER": "since", "OP": "?"}, {"LOWER": {"IN": DAY_WORDS}}])
    pats.append([{"LOWER": {"IN": ["last", "this"]}}, {"LOWER": {"IN": DAY_PARTS}}])
    pats.append([{"LOWER": {"IN": ["a", "an"]}}, {"LOWER": "hour"}, {"LOWER": "ago"}])
    return [{"label": "duration", "pattern": p} for p in pats]


def vocabulary_patterns() -> List[Dict]:
    patterns = []
    for label, phrases in lookups().items():
        for phrase in phrases:
            tokens = [{"LOWER": t} for t in phrase.lower().split()]
            patterns.append({"label": label, "pattern": tokens})
    return patterns


def build(target: Path = SPACY_MODEL_DIR) -> spacy.language.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.add_pipe("sentencizer")
    ruler = cast(EntityRuler, nlp.add_pipe("entity_ruler", config={"overwrite_ents": True}))
    nlp.initialize()  # loads the lookup tables from spacy-lookups-data
    ruler.add_patterns(vocabulary_patterns() + duration_patterns())
    nlp.meta["name"] = "detox_support_pipeline"
    nlp.meta["description"] = "Blank English + lookup lemmatizer + entity ruler (see bot/nlp/build.py)"
    target.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(target)
    return nlp


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SPACY_MODEL_DIR)
    args = parser.parse_args(argv)
    build(args.out)
    print(f"spaCy pipeline written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
