"""Benchmarks that print figures (compared with a baseline in the same run), not timed asserts."""

import time

import pytest
import spacy

from bot import benchmark
from bot.nlp.crisis_matcher import CrisisMatcher
from bot.paths import SPACY_MODEL_DIR


@pytest.mark.stack
def test_rest_round_trip_latency(stack):
    figures = benchmark.measure(stack.settings, rounds=2)
    print("\nREST round trip (ms), baseline = Rasa root endpoint:\n" + benchmark.format_figures(figures))
    assert figures["messages"] == 2 * len(benchmark.MESSAGES)
    assert figures["p95_ms"] >= figures["p50_ms"] > 0


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
