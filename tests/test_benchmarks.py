"""Benchmarks that print figures (compared with a baseline in the same run), not timed asserts.

A few seconds of `make bench`'s load drivers against the session's stack: they must work
(no errors, every message counted once); the figures are printed, never asserted, because
the same machine runs the rest of the suite. `make bench` runs the real comparison."""

import time

import pytest
import spacy

from bot import benchmark, soak
from bot.nlp.crisis_matcher import CrisisMatcher
from bot.paths import SPACY_MODEL_DIR

SECONDS = 3


def counts_add_up(result: soak.Result) -> None:
    assert result.sent > 0
    assert result.error_count == 0, f"errors by status: {result.errors}"
    assert sum(result.statuses.values()) == result.sent == len(result.latencies_ms) == len(result.finished_s)
    assert sum(result.kinds.values()) == result.sent


@pytest.mark.stack
def test_rest_round_trip_latency(stack):
    figures = benchmark.measure(stack.settings, rounds=2)
    print("\nREST round trip (ms), baseline = Rasa root endpoint:\n" + benchmark.format_figures(figures))
    assert figures["messages"] == 2 * len(benchmark.MESSAGES)
    assert figures["p95_ms"] >= figures["p50_ms"] > 0


@pytest.mark.stack
def test_closed_loop_driver_over_rest_and_web_with_crisis_probes(stack):
    settings = stack.settings
    pid = stack.procs["rasa"].pid
    rest = soak.Channel(settings.rasa_webhook_url, rest=True, empty_is_error=False)
    over_rest = soak.closed_loop(rest, {"rasa": pid}, 3, SECONDS, 0, progress=None, mix=benchmark.CycleMix())
    web = soak.web_channel(settings)
    crisis = soak.Result(users=0, seconds=SECONDS, warmup_seconds=0)
    over_web = soak.closed_loop(
        web,
        {"rasa": pid},
        3,
        SECONDS,
        0,
        progress=None,
        mix=benchmark.CycleMix(),
        extra=benchmark.crisis_prober(web, crisis, 0.5),
    )
    for name, result in (("REST", over_rest), ("/api/chat", over_web), ("crisis probes", crisis)):
        figures = benchmark.summary(result, SECONDS)
        print(f"\n{name}: {figures['sent']} sent, {figures['msg_per_s']:.1f} msg/s, p50 {figures['p50_ms']:.0f} ms")
        counts_add_up(result)
    assert over_rest.rss_end["rasa"] > 0
    assert crisis.kinds["crisis"] == crisis.sent


@pytest.mark.stack
def test_open_loop_driver_sends_at_the_offered_rate_whatever_the_answers(stack):
    rest = soak.Channel(stack.settings.rasa_webhook_url, rest=True, empty_is_error=False, timeout=30)
    result = benchmark.open_loop(rest, 5, SECONDS, conversations=20, progress=None)
    figures = benchmark.summary(result, SECONDS, open_loop=True)
    print(f"\nopen loop 5 msg/s offered: {figures['offered_per_s']:.1f} sent/s, p95 {figures['p95_ms']:.0f} ms")
    counts_add_up(result)
    assert len(set(result.conversations)) <= 20 + result.sent // benchmark.CONVERSATION_TURNS


def test_cycle_mix_has_one_crisis_message_in_20():
    mix = benchmark.CycleMix()
    turns = [turn for _ in range(40) for turn in mix(None)]  # 200 messages
    assert sum(kind == "crisis" for kind, _ in turns) == 10


def test_crisis_matcher_cost_against_tokenising_alone():
    nlp = spacy.load(SPACY_MODEL_DIR)
    matcher = CrisisMatcher(nlp)
    texts = benchmark.MESSAGES * 50
    started = time.perf_counter()
    for text in texts:
        nlp(text)
    baseline = (time.perf_counter() - started) / len(texts) * 1000
    started = time.perf_counter()
    hits = sum(matcher.match(text) is not None for text in texts)
    cost = (time.perf_counter() - started) / len(texts) * 1000
    print(f"\nspaCy pipeline alone: {baseline:.3f} ms/message; with crisis rules: {cost:.3f} ms/message")
    assert hits == 50  # exactly one crisis message in the benchmark set


def test_the_intent_classifier_reads_its_weights_in_place(tmp_path):
    """A loaded classifier keeps its weights column-major: the same probabilities as the
    row-major layout sklearn trains, without copying the weight matrix at every message."""
    import copy

    import numpy as np
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlp.intent_classifier import LinearIntentClassifier

    storage, resource = LocalModelStorage(tmp_path), Resource("classifier")
    context = ExecutionContext(GraphSchema({}), "test")
    from bot.evaluation.sets import training_examples

    # every fifth training example: the weight matrix keeps its real shape, training stays quick
    examples = [Message(data={"text": text, "intent": intent}) for text, intent in training_examples()[::5]]
    trained = LinearIntentClassifier.create({"use_dense_features": False}, storage, resource, context)
    trained.train(TrainingData(training_examples=examples))
    loaded = LinearIntentClassifier.load({"use_dense_features": False}, storage, resource, context)
    in_place = loaded._classifier
    row_major = copy.deepcopy(in_place)
    row_major.coef_ = np.ascontiguousarray(row_major.coef_)
    assert in_place.coef_.T.flags.c_contiguous and not row_major.coef_.T.flags.c_contiguous
    X = loaded._features([Message(data={"text": text}) for text in benchmark.MESSAGES])
    assert np.array_equal(in_place.predict_proba(X), row_major.predict_proba(X))
    for name, classifier in (("row-major (as trained)", row_major), ("column-major (as loaded)", in_place)):
        started = time.perf_counter()
        for _ in range(200):
            classifier.predict_proba(X[:1])
        print(f"\n{name}: {(time.perf_counter() - started) / 200 * 1000:.3f} ms a message")
