"""Our Rasa NLU graph components (named in config.yml).

- RegionFromMetadata: turns the widget's `region` message metadata into a `region`
  entity, so the Rasa server fills the `region` slot itself (no action server needed,
  which matters because crisis replies must not depend on it).
- CrisisSafetyNet: runs bot.nlp.crisis_matcher on every message and forces the crisis
  intent on a match. It also refuses to let the fallback swallow a message the
  classifier thought was a crisis: escalating wrongly costs one message, missing costs more.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.utils.spacy_utils import SpacyModel
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.crisis_matcher import CRISIS_PRIORITY, CrisisMatcher
from bot.paths import ROOT
from bot.settings import REGIONS

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class RegionFromMetadata(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext) -> "RegionFromMetadata":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            metadata = message.get("metadata") or {}
            region = str(metadata.get("region", "")).lower() if isinstance(metadata, dict) else ""
            if region in REGIONS:
                entities = list(message.get(ENTITIES, []))
                entities.append({"entity": "region", "value": region, "start": 0, "end": 0,
                                 "extractor": self.__class__.__name__})
                message.set(ENTITIES, entities, add_to_output=True)
        return messages


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False, model_from="SpacyNLP"
)
class CrisisSafetyNet(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"patterns_file": "data/crisis_patterns.yml"}

    def __init__(self, config: Dict[Text, Any]) -> None:
        path = Path(config["patterns_file"])
        self._patterns_file = path if path.is_absolute() else ROOT / path
        self._matcher: Optional[CrisisMatcher] = None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext) -> "CrisisSafetyNet":
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
            hit = matcher.match(text)
            if hit is not None:
                self._force(message, hit.intent, {"rule": hit.rule, "matched": hit.matched_text})
                continue
            rescued = self._crisis_under_fallback(message)
            if rescued is not None:
                self._force(message, rescued, {"rule": "classifier crisis below fallback threshold"})
        return messages

    @staticmethod
    def _crisis_under_fallback(message: Message) -> Optional[str]:
        """The classifier's crisis guess that the FallbackClassifier replaced, if any."""
        intent = message.get(INTENT) or {}
        if intent.get("name") != FALLBACK_INTENT:
            return None
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != FALLBACK_INTENT]
        if ranking and ranking[0].get("name") in CRISIS_PRIORITY:
            return ranking[0]["name"]
        return None

    @staticmethod
    def _force(message: Message, intent: str, why: Dict[str, str]) -> None:
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != intent]
        message.set(INTENT, {"name": intent, "confidence": 1.0}, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 1.0}] + ranking,
                    add_to_output=True)
        message.set("crisis_safety_net", why, add_to_output=True)
        logger.info("crisis safety net forced %s (%s)", intent, why.get("rule"))
