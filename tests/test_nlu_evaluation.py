"""How the trained model reads messages it never saw (issue 8's bars).

The sets under tests/nlu/ and tests/crisis/implied.yml were written without looking at the
training data; the everyday set is chatterbot-corpus, written by other people. The model
is parsed once per module through its whole NLU pipeline (safety net and fallback
included), the same code `make evaluate` reports with.
"""
from collections import Counter

import pytest

from bot.evaluation import report, sets
from bot.nlp.crisis_matcher import CRISIS_PRIORITY
from bot.stack import latest_model


@pytest.fixture(scope="module")
def evaluation() -> report.Evaluation:
    result = report.evaluate(latest_model())
    print("\n" + report.markdown(result, latest_model()))
    return result


def test_no_evaluation_example_is_in_the_training_data():
    assert sets.overlaps() == []


def test_the_evaluation_sets_are_big_enough():
    counts = Counter(intent for _, intent in sets.labelled(sets.PARAPHRASES))
    topics = [i for i in counts if i not in CRISIS_PRIORITY]
    assert min(counts[i] for i in topics) >= 6 and all(counts[c] >= 15 for c in CRISIS_PRIORITY)
    assert len(sets.labelled(sets.OUT_OF_SCOPE)) >= 300
    assert all(len(v) >= 50 for v in sets.figurative().values())
    assert len(sets.implied_crises()) >= 7 and all(len(v) >= 6 for v in sets.implied_crises().values())
    assert len(sets.everyday()) >= 1500


def test_paraphrases_are_understood(evaluation):
    worst = evaluation.paraphrases.worst(5)
    assert evaluation.paraphrases.macro_f1 >= 0.95, worst
    assert worst[0][1] >= 0.85, worst


def test_every_crisis_example_is_escalated(evaluation):
    missed = [(t, p) for t, p in evaluation.misses["crisis"] if p not in CRISIS_PRIORITY]
    assert missed == []
    assert all(share == 1.0 for share in evaluation.escalation.values()), evaluation.escalation


def test_figurative_and_informational_crisis_words_are_rarely_a_crisis(evaluation):
    assert evaluation.figurative["all"] <= 0.10, evaluation.misses["figurative"]


def test_unrelated_messages_are_out_of_scope_and_never_a_crisis(evaluation):
    assert evaluation.out_of_scope["crisis"] == 0.0, evaluation.misses["out_of_scope"]
    assert evaluation.out_of_scope["recognised"] >= 0.95, evaluation.misses["out_of_scope"][:40]


def test_everyday_messages_by_other_people_are_almost_never_a_crisis(evaluation):
    assert evaluation.everyday["crisis"] <= 0.005, evaluation.misses["everyday"]
