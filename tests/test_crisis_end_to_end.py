"""Crisis recall end to end: crisis examples of the evaluation sets, sent over REST with the
action server stopped. The first message the bot sends must carry the region's emergency
number and a crisis or poison line (PRODUCT.md, rule 1).

The main suite (tests/nlu/paraphrases.yml, tests/crisis/implied.yml) must get the crisis
reply itself. The blind suite (tests/nlu/blind/) was written by someone who saw neither
the training data nor the rules: there every message must still get the numbers first
(the fallback and out-of-scope replies carry them too), and the share that got the crisis
reply itself is printed. Numbers come from data/contacts.yml, replies from domain.yml.
"""
import uuid
from typing import List, Tuple

import pytest
import yaml

from bot import contacts
from bot.evaluation import sets
from bot.nlp.crisis_matcher import CRISIS_PRIORITY
from bot.nlu_data import intent_examples
from bot.paths import ROOT

pytestmark = pytest.mark.stack

RESPONSES = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
CRISIS_REPLIES = {v["text"].strip() for name in CRISIS_PRIORITY for v in RESPONSES[f"utter_{name}"]}


def crisis_examples(suite: sets.Suite) -> List[str]:
    return sorted({t for t, i in intent_examples(suite.paraphrases) if i in CRISIS_PRIORITY}
                  | {t for pairs in sets.implied_crises(suite.implied).values() for t, _ in pairs})


def carries_numbers(text: str, region: str) -> bool:
    c = contacts.for_region(region)
    lines = [c[k]["number"] for k in ("crisis_line", "poison_control", "text_line") if k in c]
    return c["emergency"]["number"] in text and any(n in text for n in lines)


def first_replies(chat, texts: List[str], region: str) -> List[Tuple[str, str]]:
    out = []
    for text in texts:
        replies = chat(text, sender=uuid.uuid4().hex, region=region)
        out.append((text, (replies[0].get("text") or "") if replies else ""))
    return out


@pytest.fixture(scope="module")
def actions_down(stack):
    stack.stop("actions")
    try:
        yield
    finally:
        stack.start_actions()


@pytest.mark.parametrize("region", ["uk", "us"])
def test_every_main_crisis_example_gets_the_crisis_reply_first(chat, actions_down, region):
    examples = crisis_examples(sets.MAIN)
    assert len(examples) >= 100
    missed = [(t, r[:60]) for t, r in first_replies(chat, examples, region)
              if r.strip() not in CRISIS_REPLIES or not carries_numbers(r, region)]
    assert missed == [], f"{len(missed)} of {len(examples)} missed: {missed[:20]}"


@pytest.mark.parametrize("region", ["uk", "us"])
def test_every_blind_crisis_example_gets_the_numbers_first(chat, actions_down, region):
    examples = crisis_examples(sets.BLIND_SUITE)
    assert len(examples) >= 60
    replies = first_replies(chat, examples, region)
    without_numbers = [t for t, r in replies if not carries_numbers(r, region)]
    crisis_reply = sum(r.strip() in CRISIS_REPLIES for _, r in replies) / len(replies)
    print(f"\nblind crisis examples ({region}): crisis reply first {crisis_reply:.2f}, "
          f"numbers first {1 - len(without_numbers) / len(replies):.2f}")
    assert without_numbers == [], f"{len(without_numbers)} of {len(examples)} got no numbers first"
