"""Whole conversations through the real Rasa server and action server (REST channel).

The stack is started once per test session (tests/conftest.py). Expected texts come from
data/facts.yml, data/contacts.yml and domain.yml, never from copies in this file.
"""

import json
import urllib.request
import uuid

import pytest
import yaml

from bot import contacts, facts
from bot.paths import ROOT
from tests.conftest import first_paragraph

pytestmark = pytest.mark.stack
FACTS = facts.load()
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
CRISIS_MESSAGES = {
    "crisis_overdose": "my boyfriend took gear and now he wont wake up, his lips are going blue",
    "crisis_suicidal": "i cant do this anymore, i want to end my life tonight",
    "crisis_medical": "day 3 of withdrawal and i havent kept any water down since yesterday, im dizzy",
}


def texts(messages):
    return [m.get("text") or "" for m in messages]


def response_texts(name):
    return {v["text"].strip() for v in DOMAIN["responses"][name]}


def assert_has_contacts(text, region):
    c = contacts.for_region(region)
    for kind in ("emergency", "crisis_line", "helpline"):
        assert c[kind]["number"] in text, f"missing {kind} ({c[kind]['number']}) in: {text}"


@pytest.mark.parametrize("region", ["uk", "us"])
@pytest.mark.parametrize("intent", sorted(CRISIS_MESSAGES))
def test_crisis_gets_human_contacts_in_the_first_reply(chat, intent, region):
    replies = chat(CRISIS_MESSAGES[intent], region=region)
    assert replies, "the bot was silent on a crisis"
    assert_has_contacts(replies[0]["text"], region)


@pytest.mark.parametrize("region", ["uk", "us"])
def test_the_safety_check_is_asked_when_the_widget_sends_a_region(chat, region):
    # the parse the crisis safety net gives a weak but real crisis guess, sent as Rasa's
    # intent payload so the dialogue is tested whatever the classifier makes of a text
    payload = '/nlu_fallback{"safety_check": "true", "region": "%s"}' % region
    replies = chat(payload, region=region)
    assert replies and replies[0]["text"].strip() in response_texts("utter_safety_check")
    c = contacts.for_region(region)
    assert c["emergency"]["number"] in replies[0]["text"]


def test_crisis_wins_even_inside_a_topic_question(chat):
    replies = chat("what are the withdrawal symptoms? also my mate is not breathing after a hit")
    assert_has_contacts(replies[0]["text"], "uk")


@pytest.mark.parametrize(
    "topic,question",
    [
        ("withdrawal_timeline", "how long does heroin withdrawal last"),
        ("naloxone", "what is naloxone and where do i get it"),
        ("methadone_myths", "is it true methadone rots your teeth and bones"),
        ("finding_treatment", "how do i get help to come off heroin"),
    ],
)
def test_topic_question_gets_the_curated_answer(chat, topic, question):
    replies = chat(question)
    assert replies[0]["text"].startswith(first_paragraph(FACTS[topic].answer))
    payloads = [b["payload"] for b in replies[0].get("buttons", [])]
    assert [p for p in payloads if p != "/tell_me_more"] == [f"/{r}" for r in FACTS[topic].related]


def test_quick_reply_payload_answers_its_topic(chat):
    replies = chat("/overdose_signs")
    assert replies[0]["text"].startswith(first_paragraph(FACTS["overdose_signs"].answer))


def test_family_member_switches_the_conversation_to_family_framing(chat):
    sender = uuid.uuid4().hex
    first = chat("my son is using heroin, what are the withdrawal symptoms", sender=sender)
    assert first[0]["text"].startswith(first_paragraph(FACTS["withdrawal_symptoms"].family))
    later = chat("and how long does withdrawal last", sender=sender)
    assert later[0]["text"].startswith(first_paragraph(FACTS["withdrawal_timeline"].family))


def test_family_framing_after_a_mention_the_bot_did_not_answer_as_a_topic(chat):
    sender = uuid.uuid4().hex
    chat("hello, my daughter has been using gear", sender=sender)
    replies = chat("how long does withdrawal last", sender=sender)
    assert replies[0]["text"].startswith(first_paragraph(FACTS["withdrawal_timeline"].family))


def slots(stack, sender):
    url = f"{stack.settings.rasa_url}/conversations/{sender}/tracker?token={stack.settings.rasa_token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())["slots"]


def test_only_a_crisis_flags_the_conversation_for_staff(stack, chat):
    calm, crisis = uuid.uuid4().hex, uuid.uuid4().hex
    for text in ("hi", "what is methadone", "thanks"):
        chat(text, sender=calm)
    assert slots(stack, calm)["crisis_flagged"] is False
    chat(CRISIS_MESSAGES["crisis_overdose"], sender=crisis)
    flagged = slots(stack, crisis)
    assert flagged["crisis_flagged"] is True and flagged["crisis_kind"] == "crisis_overdose"


def test_after_a_crisis_answers_keep_the_contacts_line(chat):
    sender = uuid.uuid4().hex
    chat(CRISIS_MESSAGES["crisis_suicidal"], sender=sender, region="us")
    replies = chat("what helps with cravings", sender=sender, region="us")
    assert replies[0]["text"].endswith(contacts.reminder_line("us"))


def test_buprenorphine_timing_form_asks_then_explains_for_methadone(chat):
    sender = uuid.uuid4().hex
    ask_what = chat("when can i start subutex", sender=sender)
    assert ask_what[0]["text"] in response_texts("utter_ask_last_substance")
    ask_when = chat("methadone", sender=sender)
    assert ask_when[0]["text"] in response_texts("utter_ask_last_use")
    answer = chat("about 30 hours ago", sender=sender)
    full = "\n".join(texts(answer))
    assert FACTS["buprenorphine_timing"].extra["substance"]["methadone"].strip() in full
    assert full.rstrip().endswith(facts.PRESCRIBER_LINE)


def test_crisis_in_the_middle_of_the_form_interrupts_it(chat):
    sender = uuid.uuid4().hex
    chat("when is it safe to take my first suboxone", sender=sender)
    replies = chat("hang on my friend just collapsed and isnt breathing", sender=sender)
    assert_has_contacts(replies[0]["text"], "uk")
    after = chat("what are the signs of an overdose", sender=sender)
    assert after[0]["text"].startswith(first_paragraph(FACTS["overdose_signs"].answer))


def test_out_of_scope_gets_the_kind_menu(chat):
    replies = chat("what's the best pizza topping")
    allowed = response_texts("utter_out_of_scope") | response_texts("utter_fallback")
    assert replies[0]["text"] in allowed
    assert len(replies[0]["buttons"]) >= 4


def test_bot_challenge_says_it_is_automated(chat):
    replies = chat("am i talking to a real person or a bot?")
    assert replies[0]["text"] in response_texts("utter_iamabot")


def test_ask_human_gives_helpline(chat):
    replies = chat("can i speak to an actual human please", region="us")
    assert contacts.for_region("us")["helpline"]["number"] in replies[0]["text"]


def test_markup_and_sql_looking_text_is_just_text(chat):
    for text in ["<img src=x onerror=alert(1)> help", "'; DROP TABLE events; --", "\u0000\u202e?"]:
        assert isinstance(chat(text), list)
    assert chat("how long does withdrawal last")  # still working afterwards


def test_crisis_reply_survives_the_action_server_being_down(stack, chat):
    """Rule 1 of PRODUCT.md: crisis replies never depend on a custom action."""
    stack.stop("actions")
    try:
        for intent, message in CRISIS_MESSAGES.items():
            replies = chat(message, region="uk")
            assert replies, f"silent on {intent} with the action server down"
            assert_has_contacts(replies[0]["text"], "uk")
    finally:
        stack.start_actions()
    assert chat("how long does withdrawal last")[0]["text"]


def test_tell_me_more_sends_the_rest_of_the_last_answer(chat):
    sender = uuid.uuid4().hex
    first = chat("how long does heroin withdrawal last", sender=sender, region="us")
    assert {"title": facts.TELL_ME_MORE["title"], "payload": "/tell_me_more"} in first[0]["buttons"]
    more = chat("tell me more", sender=sender, region="us")
    detail = FACTS["withdrawal_timeline"].variant("us").more
    assert "\n".join(texts(more)).startswith(first_paragraph(detail))


@pytest.mark.parametrize("region,other", [("uk", "us"), ("us", "uk")])
def test_finding_treatment_names_only_the_visitors_services(chat, region, other):
    sender = uuid.uuid4().hex
    replies = chat("how do i find a detox service near me", sender=sender, region=region)
    assert replies[0]["text"].startswith(first_paragraph(FACTS["finding_treatment"].variant(region).answer))
    shown = "\n".join(texts(replies) + texts(chat("tell me more", sender=sender, region=region)))
    own = {c["number"] for c in contacts.for_region(region).values()}
    for kind, entry in contacts.for_region(other).items():
        if entry["number"] not in own:
            assert entry["number"] not in shown, f"{other} {kind} number shown to a {region} visitor"
