"""The intents the console offers for relabelling: the full names the NLU data trains on."""

from __future__ import annotations

import textwrap

from bot.nlu_data import intent_examples
from bot.paths import DATA
from bot.web.staff.intents import project_relabel_intents, relabel_intents


def write(path, text):
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_retrieval_intents_are_offered_by_their_full_names(tmp_path):
    domain = write(
        tmp_path / "domain.yml",
        """
        version: "3.1"
        intents:
          - greet
          - topic
          - nlu_fallback
          - ask_human:
              use_entities: []
    """,
    )
    nlu = write(
        tmp_path / "topics.yml",
        """
        version: "3.1"
        nlu:
          - intent: topic/withdrawal_symptoms
            examples: |
              - what are the symptoms of withdrawal
          - intent: topic/naloxone
            examples: |
              - what is naloxone
          - intent: greet
            examples: |
              - hello
          - synonym: methadone
            examples: |
              - meth
    """,
    )
    assert relabel_intents(domain, [nlu]) == ("ask_human", "greet", "topic/naloxone", "topic/withdrawal_symptoms")


def test_the_project_offers_every_intent_its_training_data_uses():
    trained = {intent for path in (DATA / "nlu").glob("*.yml") for _, intent in intent_examples(path)}
    offered = project_relabel_intents()
    assert trained - {"nlu_fallback"} <= set(offered)
    assert list(offered) == sorted(set(offered)) and "nlu_fallback" not in offered
