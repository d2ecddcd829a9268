"""Phone-short answers (PRODUCT.md rule 5): the first bubble of every topic answer
answers the question in at most 80 words, in both regions and in the family framing;
detail follows as its own bubble or is offered behind "Tell me more".

A bubble is a paragraph: the widget and Rasa's channels split text at blank lines.
"""

import pytest

from bot import contacts, facts

FACTS = facts.load()
REGIONS = sorted(contacts.all_regions())
LIMIT = facts.MAX_FIRST_BUBBLE_WORDS


def test_the_limit_is_eighty_words():
    assert LIMIT == 80
    assert facts.word_count("- one two\n- three") == 3  # bullets are not words


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("audience", ["self", "family"])
@pytest.mark.parametrize("topic", sorted(FACTS))
def test_first_bubble_is_at_most_80_words(topic, audience, region):
    answer = facts.compose(topic, audience, region=region)
    first = answer.bubbles[0]
    assert facts.word_count(first) <= LIMIT, f"{topic}/{audience}/{region}: {facts.word_count(first)} words"
    assert first != facts.PRESCRIBER_LINE


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("topic", sorted(FACTS))
def test_bubble_one_is_one_paragraph_and_extras_follow_it(topic, region):
    """The written answer is exactly bubble 1; an entity extra never pushes it down."""
    variant = FACTS[topic].variant(region)
    for audience in ("self", "family"):
        first = facts.compose(topic, audience, region=region).bubbles[0]
        assert len(facts.paragraphs(first)) == 1
        for entity, by_value in variant.extra.items():
            for value, extra in by_value.items():
                answer = facts.compose(topic, audience, {entity: [value]}, region=region)
                assert answer.bubbles[0] == first
                assert extra in answer.bubbles[1:]
                assert facts.word_count(extra) <= LIMIT, f"{topic}: extra {entity}={value}"


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("topic", sorted(FACTS))
def test_detail_is_offered_behind_tell_me_more(topic, region):
    for audience in ("self", "family"):
        answer = facts.compose(topic, audience, region=region)
        payloads = [b["payload"] for b in answer.buttons]
        more = facts.detail(topic, audience, region=region)
        if answer.more:
            assert payloads[0] == facts.TELL_ME_MORE["payload"]
            assert more is not None and more.text == answer.more
            assert facts.TELL_ME_MORE["payload"] not in [b["payload"] for b in more.buttons]
            # the detail doesn't repeat bubble 1
            assert answer.bubbles[0] not in more.text
        else:
            assert facts.TELL_ME_MORE["payload"] not in payloads
            assert more is None
        assert payloads[-len(FACTS[topic].related) :] == [f"/{r}" for r in FACTS[topic].related]


def test_most_topics_have_detail_to_offer():
    with_more = [t for t in FACTS if facts.compose(t).more]
    assert len(with_more) >= len(FACTS) - 2
