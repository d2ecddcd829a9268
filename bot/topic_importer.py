"""A topic is one entry in data/facts.yml: this importer gives Rasa its intent and rule.

Rasa reads the project through this importer (config.yml, `importers`). On top of
domain.yml and data/, it adds for every fact in data/facts.yml

- the topic intent to the domain, and
- the rule "on that intent, run action_answer_topic",

so adding a topic means a facts entry plus its NLU examples, and nothing else.

A topic whose intent already starts a rule written in data/rules/ keeps that rule instead:
buprenorphine_timing asks what was last used and when before it answers (forms.yml).

Why not a retrieval intent (`topic/withdrawal_symptoms`)? Rasa would then want one
domain response per sub-intent and a ResponseSelector, the topic answers would live in
two places, and every topic would share one intent confidence, which changes when the
fallback asks to rephrase. Fine-grained intents keep the classifier, the crisis safety
net and the buprenorphine form exactly as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Set, Union

import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.core.training_data.structures import RuleStep, StoryGraph
from rasa.shared.importers.rasa import RasaFileImporter
from rasa.shared.utils.common import cached_method

from bot import facts
from bot.paths import FACTS_FILE, ROOT

ANSWER_ACTION = "action_answer_topic"


def topics(facts_file: Path = FACTS_FILE) -> List[str]:
    """Every topic intent, in the order of data/facts.yml."""
    return list(facts.load_raw(facts_file)["facts"])


def intents_with_written_rules(stories: StoryGraph) -> Set[str]:
    """Intents that start a rule written by hand in data/rules/."""
    started = set()
    for step in stories.story_steps:
        if not isinstance(step, RuleStep):
            continue
        first = next((e for e in step.events if isinstance(e, UserUttered)), None)
        if first is not None and first.intent_name:
            started.add(first.intent_name)
    return started


def topic_rules(names: List[str]) -> str:
    """The generated rules as Rasa rule YAML, so Rasa's own reader builds them."""
    rules = [{"rule": f"answer {name}", "steps": [{"intent": name}, {"action": ANSWER_ACTION}]} for name in names]
    return yaml.safe_dump({"version": "3.1", "rules": rules}, sort_keys=False)


class TopicImporter(RasaFileImporter):
    """Rasa's file importer plus one intent and one rule per fact."""

    def __init__(
        self,
        config_file: Optional[str] = None,
        domain_path: Optional[str] = None,
        training_data_paths: Optional[Union[List[str], str]] = None,
        facts_file: Optional[str] = None,
    ) -> None:
        super().__init__(config_file, domain_path, training_data_paths)
        self._facts_file = Path(facts_file) if facts_file else FACTS_FILE

    @cached_method
    def get_domain(self) -> Domain:
        return super().get_domain().merge(Domain.from_dict({"intents": topics(self._facts_file)}))

    @cached_method
    def get_stories(self, exclusion_percentage: Optional[int] = None) -> StoryGraph:
        written = super().get_stories(exclusion_percentage)
        have_rules = intents_with_written_rules(written)
        generated = [t for t in topics(self._facts_file) if t not in have_rules]
        reader = YAMLStoryReader(self.get_domain(), source_name="data/facts.yml")
        steps = reader.read_from_string(topic_rules(generated))
        return written.merge(StoryGraph(steps))


def project_importer() -> TopicImporter:
    """The project as Rasa reads it, for tests and tools that need the full domain."""
    return TopicImporter(str(ROOT / "config.yml"), str(ROOT / "domain.yml"), [str(ROOT / "data")])
