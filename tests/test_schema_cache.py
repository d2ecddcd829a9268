"""bot.schema_cache: Rasa's validation of action server answers, minus the per-call check
of the schema itself; what it accepts and refuses must not change."""

from __future__ import annotations

import time

import jsonschema
import pytest

from bot import schema_cache

ANSWERS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "region", "value": "uk"}], "responses": [{"text": "hello"}]},
    {"responses": [{"text": "hi", "buttons": [{"title": "More", "payload": "/tell_me_more"}]}]},
    {"events": [{"event": "slot", "name": 1}], "responses": "not a list"},
    {"events": "nope"},
    {"events": [{"no_event_key": True}]},
]


@pytest.fixture(scope="module")
def spec():
    from rasa.core.actions.action import RemoteAction

    return RemoteAction.action_response_format_spec


def outcome(validate, answer, schema):
    try:
        validate(answer, schema)
        return "valid"
    except jsonschema.ValidationError as error:
        return f"invalid: {error.message}"


@pytest.mark.parametrize("answer", ANSWERS)
def test_same_verdict_and_message_as_jsonschema(spec, answer):
    assert outcome(schema_cache.validate, answer, spec()) == outcome(schema_cache._original_validate, answer, spec())


def test_a_broken_schema_is_still_refused():
    with pytest.raises(jsonschema.SchemaError):
        schema_cache.validate({}, {"type": "no-such-type"})


def test_installed_it_is_what_rasa_imports_and_it_is_faster(spec, monkeypatch):
    monkeypatch.setattr(jsonschema, "validate", jsonschema.validate)
    monkeypatch.setattr(jsonschema.validators, "validate", jsonschema.validators.validate)
    schema_cache.install()
    from jsonschema import validate  # as rasa.core.actions.action does, inside its method

    assert validate is schema_cache.validate
    timings = {}
    for name, fn in (("jsonschema", schema_cache._original_validate), ("cached", validate)):
        started = time.perf_counter()
        for _ in range(20):
            fn(ANSWERS[1], spec())
        timings[name] = (time.perf_counter() - started) / 20 * 1000
    print(f"\naction answer validation: jsonschema {timings['jsonschema']:.1f} ms, cached {timings['cached']:.2f} ms")
