"""The web app's own crisis check, so the numbers never wait on Rasa.

Every chat message is scanned by the same rules the Rasa pipeline runs
(`bot.nlp.crisis_matcher` over data/crisis_patterns.yml). When they match, the web app
answers at once with the very crisis reply domain.yml gives for the visitor's region
(Rasa would send the same one), so the numbers never wait behind a busy evening's queue,
a stopped or killed Rasa, or a locked database. `crisis_wait_seconds` above 0 prefers
Rasa's own answer when it comes within that time. The message still goes on to Rasa, so the
transcript records it and the conversation carries on from there.

Only the matcher is loaded here: spaCy, not Rasa. thinc, spaCy's machine-learning
library, imports TensorFlow when it is installed merely to offer TensorFlow layers;
the matcher uses none, and that import would cost the web process about 360 MB and
3 s, so it is refused before spaCy is imported.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from bot.paths import ROOT, SPACY_MODEL_DIR
from bot.settings import REGIONS

log = logging.getLogger("bot.web.crisis_guard")

DOMAIN_FILE = ROOT / "domain.yml"
Message = Dict[str, Any]


def crisis_replies(domain_file: Path = DOMAIN_FILE) -> Dict[str, Dict[str, List[Message]]]:
    """{crisis intent: {region: messages}} from domain.yml's `utter_<intent>` responses.

    A variant conditioned on the `region` slot serves that region; the unconditioned
    variant serves every other region, as Rasa's response selection does."""
    from bot.nlp.crisis_matcher import CRISIS_PRIORITY

    responses = yaml.safe_load(domain_file.read_text(encoding="utf-8"))["responses"]
    replies: Dict[str, Dict[str, List[Message]]] = {}
    for intent in CRISIS_PRIORITY:
        variants = responses[f"utter_{intent}"]
        by_region: Dict[str, List[Message]] = {}
        for region in REGIONS:
            chosen = next((v for v in variants if _serves(v, region)), None)
            chosen = chosen or next(v for v in variants if not v.get("condition"))
            by_region[region] = [_as_message(chosen)]
        replies[intent] = by_region
    return replies


def _serves(variant: Dict[str, Any], region: str) -> bool:
    conditions = variant.get("condition") or []
    return bool(conditions) and all(
        c.get("type") == "slot" and c.get("name") == "region" and c.get("value") == region for c in conditions
    )


def _as_message(variant: Dict[str, Any]) -> Message:
    message: Message = {"text": variant["text"]}
    if variant.get("buttons"):
        message["buttons"] = [{"title": b["title"], "payload": b["payload"]} for b in variant["buttons"]]
    return message


@dataclass
class CrisisGuard:
    matcher: Any  # bot.nlp.crisis_matcher.CrisisMatcher, imported lazily (see module doc)
    replies: Dict[str, Dict[str, List[Message]]]

    @classmethod
    def load(cls, model_dir: Path = SPACY_MODEL_DIR) -> CrisisGuard:
        started = time.monotonic()
        sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
        import spacy

        from bot.nlp.crisis_matcher import CrisisMatcher

        guard = cls(CrisisMatcher(spacy.load(model_dir)), crisis_replies())
        log.info("crisis guard ready in %.1fs", time.monotonic() - started)
        return guard

    def check(self, text: str) -> Optional[str]:
        """The crisis intent the rules find in `text`, or None."""
        hit = self.matcher.match(text)
        return hit.intent if hit else None

    def reply(self, intent: str, region: str) -> List[Message]:
        return [dict(m) for m in self.replies[intent][region]]
