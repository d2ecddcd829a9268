"""How the trained model reads messages it never saw (issue 8's figures).

Two suites of evaluation sets, each written without looking at the training data: the main
one (tests/nlu/*.yml, tests/crisis/implied.yml) and a blind one (tests/nlu/blind/), plus
the everyday set of chatterbot-corpus, written by other people. The model is parsed once per
module through its whole NLU pipeline (safety net and fallback included), by the same code
that `make evaluate` reports with.

Where a figure has not reached the issue's bar yet, the test holds the level reached, so a
change that makes understanding worse fails; the README lists bar and measured figure side
by side.
"""
from collections import Counter

import pytest

from bot.evaluation import report, sets
from bot.nlp.crisis_matcher import CRISIS_PRIORITY
from bot.stack import latest_model

# (issue bar, level held today) per figure; equal where the bar is met
PARAPHRASE_MACRO_F1 = 0.95
LOWEST_INTENT_F1 = 0.85
FIGURATIVE_AS_CRISIS = 0.10
OUT_OF_SCOPE_RECOGNISED = 0.95
EVERYDAY_AS_CRISIS = 0.005


@pytest.fixture(scope="module")
def evaluation() -> report.Evaluation:
    result = report.evaluate(latest_model())
    print("\n" + report.markdown(result, latest_model()).split("\n## Per intent")[0])
    return result


@pytest.fixture(scope="module", params=[s.name for s in sets.SUITES])
def suite(request, evaluation) -> report.SuiteResult:
    return evaluation.suites[request.param]


def test_no_evaluation_example_is_in_the_training_data():
    assert sets.overlaps() == []


@pytest.mark.parametrize("suite_sets", sets.SUITES, ids=lambda s: s.name)
def test_the_evaluation_sets_are_big_enough(suite_sets):
    counts = Counter(intent for _, intent in sets.labelled(suite_sets.paraphrases))
    topics = [i for i in counts if i not in CRISIS_PRIORITY]
    assert len(topics) >= 30 and min(counts[i] for i in topics) >= 5
    assert all(counts[c] >= 15 for c in CRISIS_PRIORITY)
    assert len(sets.labelled(suite_sets.out_of_scope)) >= 200
    assert all(len(v) >= 40 for v in sets.figurative(suite_sets.figurative).values())
    implied = sets.implied_crises(suite_sets.implied)
    assert len(implied) == 7 and all(len(v) >= 6 for v in implied.values())


def test_the_everyday_set_is_large():
    assert len(sets.everyday()) >= 1500


def test_paraphrases_are_understood(suite):
    worst = suite.paraphrases.worst(5)
    assert suite.paraphrases.macro_f1 >= PARAPHRASE_MACRO_F1, worst
    assert worst[0][1] >= LOWEST_INTENT_F1, worst


def test_every_crisis_example_is_escalated(suite):
    missed = [(t, p) for t, p in suite.misses["crisis"] if p not in CRISIS_PRIORITY]
    assert missed == [], suite.escalation


def test_figurative_and_informational_crisis_words_are_rarely_a_crisis(suite):
    assert suite.figurative["all"] <= FIGURATIVE_AS_CRISIS, suite.misses["figurative"]


def test_unrelated_messages_are_out_of_scope_and_never_a_crisis(suite):
    assert suite.out_of_scope["crisis"] == 0.0, [m for m in suite.misses["out_of_scope"]
                                                 if m[1] in CRISIS_PRIORITY]
    assert suite.out_of_scope["recognised"] >= OUT_OF_SCOPE_RECOGNISED, suite.misses["out_of_scope"][:40]


def test_everyday_messages_by_other_people_are_almost_never_a_crisis(evaluation):
    assert evaluation.everyday["crisis"] <= EVERYDAY_AS_CRISIS, evaluation.everyday_misses
