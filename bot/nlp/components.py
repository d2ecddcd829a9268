"""Our Rasa NLU graph components (named in config.yml).

- RegionFromMetadata: turns the widget's `region` message metadata into a `region`
  entity, so the Rasa server fills the `region` slot itself (no action server needed,
  which matters because crisis replies must not depend on it).
- CrisisSafetyNet: runs bot.nlp.crisis_matcher on every message and forces the crisis
  intent on a match. Without a match, a crisis guess of the classifier stands (or is
  rescued from the fallback) only when the message has crisis language or the guess is
  confident: escalating wrongly costs one message, but a low-confidence guess on "is the
  earth flat" must not become a suicide-crisis reply. A crisis guess too weak for that,
  but real, gets a safety check instead: a reply that asks directly whether the visitor
  or someone with them is in danger, with the numbers (the `safety_check` entity).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.utils.spacy_utils import SpacyModel
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.crisis_matcher import CRISIS_PRIORITY, SAFETY_CHECK, CrisisMatcher
from bot.paths import FACTS_FILE, ROOT
from bot.settings import REGIONS

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
# the widget's metadata key and the entity RegionFromMetadata sets from it; a safety-check
# turn keeps this entity and no other
REGION = "region"


def facts_topics() -> List[str]:
    """The topic intents: one per entry of data/facts.yml (see bot/topic_importer.py)."""
    raw = yaml.safe_load(FACTS_FILE.read_text(encoding="utf-8")) or {}
    return list(raw.get("facts") or {})


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class RegionFromMetadata(GraphComponent):
    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RegionFromMetadata:
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            metadata = message.get("metadata") or {}
            region = str(metadata.get(REGION, "")).lower() if isinstance(metadata, dict) else ""
            if region in REGIONS:
                entities = list(message.get(ENTITIES, []))
                entities.append(
                    {"entity": REGION, "value": region, "start": 0, "end": 0, "extractor": self.__class__.__name__}
                )
                message.set(ENTITIES, entities, add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False, model_from="SpacyNLP")
class CrisisSafetyNet(GraphComponent):
    """Decides, for every message, whether it gets a crisis reply.

    1. A crisis rule matches: the rule's crisis intent is forced (confidence 1.0).
    2. The classifier's top intent is a crisis intent but no rule matched: it stands only if
       the message has crisis language (the `language` lexicon of the rules file) and the
       guess is not a bare whisper (>= `language_floor`), or the classifier is confident
       (>= `confident_crisis`) about a message of at least `confident_min_words` words
       (a single word without crisis language, "blue", gives it too little to go on).
       Otherwise it becomes `nlu_fallback`, whose reply carries the
       emergency number anyway. The language floor was cross-validated on the training
       data; `confident_crisis` was raised to 0.65 to keep everyday false alarms under
       0.5 % (README, "Understanding").
    3. The FallbackClassifier replaced a crisis guess: it is restored under the same
       condition, so a low-confidence guess alone never becomes a crisis reply.

    4. No crisis reply, but the classifier gives a crisis intent at least
       `safety_check_floor` and its top intent is that crisis guess or not a topic (out of
       scope, small talk, fallback): the message gets the `safety_check` entity, and its
       rule asks directly whether anyone is in danger, with the numbers. Someone who
       writes "rope bought" or "thanks for everything, this is it for me" is asked, not
       told "sorry, I didn't understand". A topic answer is never replaced: a question
       about naloxone that mentions breathing gets its answer.

    The path taken is written to the message's `crisis_safety_net` data for staff.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "patterns_file": "data/crisis_patterns.yml",
            "confident_crisis": 0.8,
            "confident_min_words": 2,
            "language_floor": 0.2,
            "safety_check_floor": 0.3,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        path = Path(config["patterns_file"])
        self._patterns_file = path if path.is_absolute() else ROOT / path
        defaults = self.get_default_config()
        self._confident = float(config.get("confident_crisis", defaults["confident_crisis"]))
        self._min_words = int(config.get("confident_min_words", defaults["confident_min_words"]))
        self._floor = float(config.get("language_floor", defaults["language_floor"]))
        self._check_floor = float(config.get("safety_check_floor", defaults["safety_check_floor"]))
        # intents whose answer a safety check must not replace
        self._topics = set(facts_topics())
        self._matcher: Optional[CrisisMatcher] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CrisisSafetyNet:
        # non-trainable components are built with `create` at inference too, so the rules
        # file is read when the server starts, not baked into the model
        return cls(config)

    def _matcher_for(self, model: SpacyModel) -> CrisisMatcher:
        if self._matcher is None:
            self._matcher = CrisisMatcher(model.model, self._patterns_file)
        return self._matcher

    def process(self, messages: List[Message], model: SpacyModel) -> List[Message]:
        matcher = self._matcher_for(model)
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # a button payload names its intent itself
            scan = matcher.scan(text)
            hit = scan.hit
            if hit is not None:
                self._force(message, hit.intent, {"path": "rule", "rule": hit.rule, "matched": hit.matched_text})
                continue
            if not self._check_classifier(message, scan.language):
                self._maybe_check_safety(message)
        return messages

    def _check_classifier(self, message: Message, language: List[str]) -> bool:
        """Paths 2 and 3: a crisis guess of the classifier without a rule behind it.

        True when the message ends with a crisis intent."""
        intent = message.get(INTENT) or {}
        name = intent.get("name")
        if name in CRISIS_PRIORITY:
            guess, under_fallback = intent, False
        elif name == FALLBACK_INTENT:
            guess, under_fallback = self._guess_under_fallback(message), True
            if guess is None:
                return False
        else:
            return False
        confidence = float(guess.get("confidence") or 0.0)
        why: Dict[str, Any] = {"classifier": guess["name"], "confidence": round(confidence, 4)}
        if language and confidence >= self._floor:
            why.update(path="crisis language", language=language[:5])
        elif confidence >= self._confident and len((message.get(TEXT) or "").split()) >= self._min_words:
            why.update(path="confident classifier", threshold=self._confident)
        else:
            why.update(
                threshold=self._confident,
                path="fallback kept: weak crisis guess" if under_fallback else "demoted to fallback: weak crisis guess",
            )
            if not under_fallback:
                self._demote(message, confidence)
            message.set("crisis_safety_net", why, add_to_output=True)
            logger.info("crisis safety net: %s (%s %.2f)", why["path"], guess["name"], confidence)
            return False
        if under_fallback:
            why["path"] = f"rescued from fallback: {why['path']}"
            self._force(message, guess["name"], why)
        else:
            message.set("crisis_safety_net", why, add_to_output=True)
        return True

    def _maybe_check_safety(self, message: Message) -> None:
        """Path 4: a real but weak crisis guess gets the safety check, not a topic or chat reply."""
        ranking = _classifier_ranking(message)
        crisis = [r for r in ranking if r.get("name") in CRISIS_PRIORITY]
        if not crisis:
            return
        guess, top = crisis[0], ranking[0]
        confidence = float(guess.get("confidence") or 0.0)
        if confidence < self._check_floor or top.get("name") in self._topics:
            return
        why = dict(message.get("crisis_safety_net") or {})
        why.setdefault("path", f"crisis guess under {top['name']}")
        why.update(
            safety_check=True,
            classifier=guess["name"],
            confidence=round(confidence, 4),
            safety_check_floor=self._check_floor,
        )
        if (message.get(INTENT) or {}).get("name") != FALLBACK_INTENT:
            self._demote(message, float((message.get(INTENT) or {}).get("confidence") or 0.0))
        # Rasa's rules match a turn's entities exactly: with "methadone" or "my son" beside it,
        # the safety-check rule did not fire and the visitor got "sorry, I didn't understand".
        # A safety check is about the person, not the topic, so only the region stays (it
        # does not influence the conversation, domain.yml).
        entities = [e for e in message.get(ENTITIES, []) if e.get("entity") == REGION]
        entities.append(
            {"entity": SAFETY_CHECK, "value": "true", "start": 0, "end": 0, "extractor": self.__class__.__name__}
        )
        message.set(ENTITIES, entities, add_to_output=True)
        message.set("crisis_safety_net", why, add_to_output=True)
        logger.info("crisis safety net: safety check (%s %.2f)", guess["name"], confidence)

    @staticmethod
    def _guess_under_fallback(message: Message) -> Optional[Dict[str, Any]]:
        """The classifier's crisis guess that the FallbackClassifier replaced, if any."""
        ranking = _classifier_ranking(message)
        if ranking and ranking[0].get("name") in CRISIS_PRIORITY:
            return ranking[0]
        return None

    @staticmethod
    def _demote(message: Message, confidence: float) -> None:
        """Replace a crisis guess by nlu_fallback, as the FallbackClassifier would."""
        fallback = {"name": FALLBACK_INTENT, "confidence": confidence}
        ranking = _classifier_ranking(message)
        message.set(INTENT, fallback, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [dict(fallback)] + ranking, add_to_output=True)

    @staticmethod
    def _force(message: Message, intent: str, why: Dict[str, Any]) -> None:
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != intent]
        message.set(INTENT, {"name": intent, "confidence": 1.0}, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 1.0}] + ranking, add_to_output=True)
        message.set("crisis_safety_net", why, add_to_output=True)
        logger.info("crisis safety net forced %s (%s)", intent, why.get("rule") or why.get("path"))


def _classifier_ranking(message: Message) -> List[Dict[str, Any]]:
    """The classifier's ranking, without the fallback entry the FallbackClassifier put first."""
    return [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != FALLBACK_INTENT]
