"""CrisisSafetyNet inside the NLU pipeline, driven with hand-made classifier output.

No trained Rasa model is needed: each test builds the Message that DIET/the classifier and
the FallbackClassifier would have left, runs the component's `process()` with our spaCy
pipeline, and checks which path decided. The rule the issue sets: a crisis reply needs
crisis language, or a confident crisis classification; a low-confidence guess alone never
becomes a crisis reply.
"""

from typing import Dict, List, Optional

import pytest
import spacy
from rasa.nlu.utils.spacy_utils import SpacyModel
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.components import FALLBACK_INTENT, CrisisSafetyNet
from bot.nlp.crisis_matcher import SAFETY_CHECK
from bot.paths import SPACY_MODEL_DIR

FALLBACK_THRESHOLD = 0.2  # what the FallbackClassifier in config.yml would use


@pytest.fixture(scope="module")
def model() -> SpacyModel:
    return SpacyModel(model=spacy.load(SPACY_MODEL_DIR), model_name=str(SPACY_MODEL_DIR))


@pytest.fixture(scope="module")
def net() -> CrisisSafetyNet:
    return CrisisSafetyNet(CrisisSafetyNet.get_default_config())


def classified(text: str, ranking: Dict[str, float], fallback: bool = False) -> Message:
    """A message as the classifier (and, with `fallback`, the FallbackClassifier) left it."""
    ordered: List[Dict] = [{"name": n, "confidence": c} for n, c in sorted(ranking.items(), key=lambda kv: -kv[1])]
    top = dict(ordered[0])
    if fallback:
        top = {"name": FALLBACK_INTENT, "confidence": FALLBACK_THRESHOLD}
        ordered.insert(0, dict(top))
    return Message(data={TEXT: text, INTENT: top, INTENT_RANKING_KEY: ordered})


def run(net: CrisisSafetyNet, model: SpacyModel, message: Message) -> Message:
    return net.process([message], model)[0]


def intent_of(message: Message) -> str:
    return message.get(INTENT)["name"]


def path_of(message: Message) -> Optional[str]:
    why = message.get("crisis_safety_net")
    return why["path"] if why else None


CONFIG = CrisisSafetyNet.get_default_config()
CONFIDENT, FLOOR = CONFIG["confident_crisis"], CONFIG["language_floor"]
WEAK = round((FLOOR + CONFIDENT) / 2, 2)  # above the language floor, below "confident"


def test_default_thresholds_are_ordered():
    assert 0 < FLOOR < CONFIDENT < 1


# --- path 1: a rule matches -------------------------------------------------------------


@pytest.mark.parametrize(
    "text,intent",
    [
        ("my toddler drank some of my methadone but seems fine", "crisis_medical"),
        ("i've been saving my tablets", "crisis_suicidal"),
        ("gave him narcan and now he's going back under", "crisis_overdose"),
    ],
)
def test_a_rule_forces_the_crisis_whatever_the_classifier_said(net, model, text, intent):
    message = run(net, model, classified(text, {"greet": 0.9, "methadone_info": 0.1}))
    assert intent_of(message) == intent
    assert message.get(INTENT)["confidence"] == 1.0
    assert message.get(INTENT_RANKING_KEY)[0] == {"name": intent, "confidence": 1.0}
    why = message.get("crisis_safety_net")
    assert why["path"] == "rule" and why["rule"] and why["matched"]


def test_a_rule_overrides_the_fallback(net, model):
    message = run(
        net, model, classified("she's pregnant and bleeding", {"pregnancy": 0.25, "out_of_scope": 0.2}, fallback=True)
    )
    assert intent_of(message) == "crisis_medical"
    assert path_of(message) == "rule"


# --- path 2: the classifier's top intent is a crisis, no rule --------------------------


@pytest.mark.parametrize(
    "text",
    [
        "is the earth flat",
        "who sings here comes the sun",
        "write me a cover letter for a barista job",
        "this queue is killing me",
        "my phone is dying",
    ],
)
def test_an_unconfident_crisis_guess_without_crisis_language_becomes_fallback(net, model, text):
    message = run(net, model, classified(text, {"crisis_overdose": WEAK, "out_of_scope": 0.1}))
    assert intent_of(message) == FALLBACK_INTENT
    ranking = message.get(INTENT_RANKING_KEY)
    assert ranking[0]["name"] == FALLBACK_INTENT
    assert [r["name"] for r in ranking[1:]] == ["crisis_overdose", "out_of_scope"]  # kept for staff
    why = message.get("crisis_safety_net")
    assert why["path"].startswith("demoted to fallback")
    assert why["classifier"] == "crisis_overdose" and why["confidence"] == WEAK


def test_a_confident_crisis_guess_stands_without_crisis_language(net, model):
    message = run(
        net, model, classified("everything feels pointless tonight mate", {"crisis_suicidal": 0.9, "relapse": 0.05})
    )
    assert intent_of(message) == "crisis_suicidal"
    assert message.get(INTENT)["confidence"] == 0.9  # not inflated: the classifier decided
    assert path_of(message) in ("confident classifier", "crisis language")


def test_a_single_word_needs_crisis_language_however_confident_the_classifier(net, model):
    # "blue" on its own was read as an overdose at 0.87: one word is too little to go on
    message = run(net, model, classified("blue", {"crisis_overdose": 0.9, "out_of_scope": 0.05}))
    assert intent_of(message) == FALLBACK_INTENT and checked(message)  # asked, with the numbers
    message = run(net, model, classified("rope bought", {"crisis_suicidal": 0.9, "out_of_scope": 0.05}))
    assert intent_of(message) == "crisis_suicidal"
    message = run(net, model, classified("overdosed", {"crisis_overdose": 0.9}))
    assert intent_of(message) == "crisis_overdose"


def test_the_confidence_threshold_is_configurable(model):
    strict = CrisisSafetyNet({**CrisisSafetyNet.get_default_config(), "confident_crisis": 0.95})
    message = run(strict, model, classified("is the earth flat", {"crisis_suicidal": 0.9}))
    assert intent_of(message) == FALLBACK_INTENT
    loose = CrisisSafetyNet({**CrisisSafetyNet.get_default_config(), "confident_crisis": 0.5})
    message = run(loose, model, classified("is the earth flat", {"crisis_suicidal": 0.6}))
    assert intent_of(message) == "crisis_suicidal"
    assert path_of(message) == "confident classifier"


@pytest.mark.parametrize(
    "text,intent",
    [
        ("my brother just keeps nodding off and i'm scared", "crisis_overdose"),
        ("i feel hopeless and cannot see a way forward", "crisis_suicidal"),
        ("he's been vomiting and now he's seeing spots", "crisis_medical"),
    ],
)
def test_an_unconfident_crisis_guess_with_crisis_language_stands(net, model, text, intent):
    message = run(net, model, classified(text, {intent: WEAK, "withdrawal_symptoms": 0.1}))
    assert intent_of(message) == intent
    why = message.get("crisis_safety_net")
    assert why["path"] == "crisis language" and why["language"]


def test_a_whisper_of_a_crisis_guess_is_not_enough_even_with_crisis_language(net, model):
    message = run(
        net,
        model,
        classified(
            "i feel hopeless and cannot see a way forward", {"crisis_suicidal": FLOOR / 2, "relapse": FLOOR / 3}
        ),
    )
    assert intent_of(message) == FALLBACK_INTENT


# --- path 3: the FallbackClassifier replaced a crisis guess ----------------------------


@pytest.mark.parametrize(
    "text",
    [
        "is the earth flat",
        "convert 50 euros to pounds",
        "dead tired after my shift",
        "i'd kill for a coffee",
    ],
)
def test_a_crisis_guess_under_fallback_without_crisis_language_stays_fallback(net, model, text):
    message = run(net, model, classified(text, {"crisis_suicidal": 0.28, "out_of_scope": 0.25}, fallback=True))
    assert intent_of(message) == FALLBACK_INTENT
    assert path_of(message).startswith("fallback kept")


def test_a_crisis_guess_under_fallback_with_crisis_language_is_rescued(net, model):
    message = run(
        net,
        model,
        classified(
            "i honestly think i might die tonight", {"crisis_medical": 0.28, "withdrawal_symptoms": 0.25}, fallback=True
        ),
    )
    assert intent_of(message) == "crisis_medical"
    assert message.get(INTENT_RANKING_KEY)[0]["name"] == "crisis_medical"
    assert FALLBACK_INTENT in [r["name"] for r in message.get(INTENT_RANKING_KEY)]
    why = message.get("crisis_safety_net")
    assert why["path"] == "rescued from fallback: crisis language"
    assert why["classifier"] == "crisis_medical"


def test_fallback_whose_guess_is_a_topic_is_left_alone(net, model):
    message = run(net, model, classified("i might die of boredom", {"cravings": 0.25, "relapse": 0.2}, fallback=True))
    assert intent_of(message) == FALLBACK_INTENT
    assert message.get("crisis_safety_net") is None


# --- anything else is untouched -------------------------------------------------------


def test_topic_intents_are_untouched(net, model):
    message = run(net, model, classified("how long does naloxone last", {"naloxone": 0.8}))
    assert intent_of(message) == "naloxone"
    assert message.get(INTENT)["confidence"] == 0.8
    assert message.get("crisis_safety_net") is None


def test_button_payloads_are_untouched(net, model):
    message = run(net, model, classified("/crisis_suicidal", {"crisis_suicidal": 1.0}))
    assert intent_of(message) == "crisis_suicidal"
    assert message.get("crisis_safety_net") is None


def test_several_messages_are_decided_independently(net, model):
    messages = [
        classified("is the earth flat", {"crisis_overdose": WEAK}),
        classified("he won't wake up", {"greet": 0.6}),
        classified("what is naloxone", {"naloxone": 0.95}),
    ]
    out = net.process(messages, model)
    assert [intent_of(m) for m in out] == [FALLBACK_INTENT, "crisis_overdose", "naloxone"]


# --- the crisis-language lexicon itself -------------------------------------------------


@pytest.fixture(scope="module")
def matcher(net, model):
    return net._matcher_for(model)


@pytest.mark.parametrize(
    "text",
    [
        "i want to die",
        "he's not breathing right",
        "she took too many pills",
        "his lips look blue",
        "i think he's having a seizure",
        "there's blood everywhere",
        "my son swallowed something",
        "goodbye everyone",
        "he's unconscious",
        "can withdrawal cause a seizure?",  # a guarded rule match still counts as crisis language
    ],
)
def test_crisis_language_is_found(matcher, text):
    assert matcher.crisis_language(text), text


@pytest.mark.parametrize(
    "text",
    [
        "this queue is killing me",
        "my phone is dying",
        "dying of boredom",
        "i'd kill for a coffee",
        "that test killed me",
        "dead tired",
        "my plant is dying",
        "battery is dead",
        "traffic was murder",
        "bleeding money",
        "drowning in work",
        "there was a pregnant pause",
        "is the earth flat",
        "who sings here comes the sun",
        "write me a cover letter",
        "convert 50 euros to pounds",
        "what's the weather like tomorrow",
        "when do arsenal play next",
        "my feet are killing me",
        "take a deep breath",
        "i'm dying to know",
        "dying for a brew",
        "i nearly died laughing",
        "the party was dead",
        "i really shot myself in the foot",
    ],
)
def test_figurative_and_everyday_messages_have_no_crisis_language(matcher, text):
    assert matcher.crisis_language(text) == [], text


# --- path 4: a weak but real crisis guess gets the safety check -------------------------

CHECK_FLOOR = CONFIG["safety_check_floor"]


def checked(message: Message) -> bool:
    return any(e["entity"] == SAFETY_CHECK for e in message.get(ENTITIES) or [])


def test_the_safety_check_floor_sits_between_a_whisper_and_a_crisis_reply():
    assert FLOOR <= CHECK_FLOOR < CONFIDENT


@pytest.mark.parametrize("text", ["rope bought", "sorted the cat out with my ex, its for the best"])
def test_a_weak_crisis_guess_without_crisis_language_asks_the_safety_check(net, model, text):
    message = run(net, model, classified(text, {"crisis_suicidal": WEAK, "out_of_scope": 0.1}))
    assert intent_of(message) == FALLBACK_INTENT and checked(message)
    why = message.get("crisis_safety_net")
    assert why["safety_check"] and why["classifier"] == "crisis_suicidal"


def test_the_safety_check_keeps_only_the_region_so_its_rule_matches(net, model):
    message = classified("my lad has the done bottle, wont talk", {"crisis_medical": WEAK, "out_of_scope": 0.1})
    message.set(
        ENTITIES,
        [
            {"entity": "medication", "value": "methadone", "start": 12, "end": 16},
            {"entity": "family_member", "value": "child", "start": 3, "end": 6},
            {"entity": "region", "value": "us", "start": 0, "end": 0},
        ],
    )
    message = run(net, model, message)
    assert sorted(e["entity"] for e in message.get(ENTITIES)) == ["region", SAFETY_CHECK]


def test_a_crisis_guess_second_to_small_talk_asks_the_safety_check(net, model):
    message = run(
        net,
        model,
        classified("last night on earth, cheers for the chats", {"thank": 0.45, "crisis_suicidal": CHECK_FLOOR + 0.05}),
    )
    assert intent_of(message) == FALLBACK_INTENT and checked(message)
    assert message.get("crisis_safety_net")["path"] == "crisis guess under thank"


def test_a_topic_answer_is_never_replaced_by_the_safety_check(net, model):
    message = run(
        net, model, classified("how long does naloxone last", {"naloxone": 0.5, "crisis_overdose": CHECK_FLOOR + 0.1})
    )
    assert intent_of(message) == "naloxone" and not checked(message)


def test_a_crisis_guess_under_the_floor_asks_nothing(net, model):
    message = run(
        net, model, classified("is the earth flat", {"out_of_scope": 0.5, "crisis_overdose": CHECK_FLOOR - 0.05})
    )
    assert intent_of(message) == "out_of_scope" and not checked(message)


def test_a_crisis_reply_needs_no_safety_check(net, model):
    message = run(net, model, classified("i want to kill myself", {"crisis_suicidal": 0.9}))
    assert intent_of(message) == "crisis_suicidal" and not checked(message)
