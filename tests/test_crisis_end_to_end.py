"""Crisis recall end to end: every crisis example of the evaluation sets, sent over REST with
the action server stopped, gets the region's emergency number and a crisis or poison line
in the bot's first message (PRODUCT.md, rule 1).

The examples come from tests/nlu/paraphrases.yml and tests/crisis/implied.yml, written
without looking at the training data or the crisis rules; the numbers from data/contacts.yml.
"""
import uuid

import pytest
import yaml

from bot import contacts
from bot.evaluation import sets
from bot.nlp.crisis_matcher import CRISIS_PRIORITY
from bot.paths import ROOT

pytestmark = pytest.mark.stack

CRISIS_EXAMPLES = sorted({t for t, i in sets.labelled(sets.PARAPHRASES) if i in CRISIS_PRIORITY}
                         | {t for pairs in sets.implied_crises().values() for t, _ in pairs})
RESPONSES = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
# the fallback and out-of-scope replies carry numbers too, so a crisis must get a crisis reply
CRISIS_REPLIES = {v["text"].strip() for name in CRISIS_PRIORITY for v in RESPONSES[f"utter_{name}"]}


def first_reply_misses_contacts(text: str, region: str) -> bool:
    if text.strip() not in CRISIS_REPLIES:
        return True
    c = contacts.for_region(region)
    lines = [c[k]["number"] for k in ("crisis_line", "poison_control", "text_line") if k in c]
    return not (c["emergency"]["number"] in text and any(n in text for n in lines))


@pytest.fixture(scope="module")
def actions_down(stack):
    stack.stop("actions")
    try:
        yield
    finally:
        stack.start_actions()


@pytest.mark.parametrize("region", ["uk", "us"])
def test_every_crisis_example_gets_contacts_first_with_the_action_server_down(chat, actions_down, region):
    assert len(CRISIS_EXAMPLES) >= 100
    missed = []
    for text in CRISIS_EXAMPLES:
        replies = chat(text, sender=uuid.uuid4().hex, region=region)
        if not replies or first_reply_misses_contacts(replies[0].get("text") or "", region):
            missed.append((text, replies[0].get("text", "")[:80] if replies else "(silent)"))
    assert missed == [], f"{len(missed)} of {len(CRISIS_EXAMPLES)} crisis messages missed: {missed[:20]}"
